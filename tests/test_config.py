"""Bad configs fail before anything compiles, naming the field and the valid choices."""

import subprocess
import sys

import ml_collections
import pytest

import dcgan_cifar
import jointgan
from conftest import REPO, apply_overrides, tiny_config
from pegasus_jax.config.validation import validate_config
from pegasus_jax.errors import ConfigError


@pytest.mark.parametrize("config", [jointgan.get_config(), jointgan.get_config("cpu"),
                                    jointgan.get_config("resnet"),
                                    dcgan_cifar.get_config(), dcgan_cifar.get_config("cpu")])
def test_shipped_configs_are_valid(config):
  validate_config(config)


@pytest.mark.parametrize("field,value,message", [
    ("loss", "wgan", r"config.loss='wgan' must be one of \['nonsaturating', 'minimax', 'hinge', "
     r"'wasserstein'\]"),
    ("batch_size", 0, r"config.batch_size=0 must be a positive integer"),
    ("total_steps", 2.5, r"config.total_steps=2.5 must be a positive integer"),
    ("model__d_norm", "layer", r"config.model.d_norm='layer' must be one of \['spectral'"),
    ("data__image_size", 48, r"config.data.image_size=48 must be a power of two"),
    ("data__sampler", "zipped", r"config.data.sampler='zipped' must be one of"),
    ("data__channels", 2, r"config.data.channels=2 must be one of \[1, 3\]"),
    ("optimizer__g_lr", float("nan"), r"config.optimizer.g_lr=nan must be a finite number > 0"),
    ("optimizer__b1", 1.0, r"config.optimizer.b1=1.0 must be a number in \[0, 1\)"),
    ("data__classes", (), r"config.data.classes=\(\) must be a non-empty tuple"),
    ("data__classes", "horse", r"not a string"),
])
def test_bad_values_name_the_field(field, value, message):
  # Not type-safe, like a config built from a dict or JSON: the validator must catch types too.
  config = apply_overrides(ml_collections.ConfigDict(tiny_config().to_dict(), type_safe=False),
                           **{field: value})
  with pytest.raises(ValueError, match=message):
    validate_config(config)


def test_config_dict_itself_refuses_a_type_change_naming_the_field():
  config = tiny_config()
  with pytest.raises(TypeError, match="classes"):
    config.data.classes = "horse"


def test_unknown_field_lists_the_valid_ones():
  config = tiny_config()
  config.unlock()
  config.model.depth = 3
  with pytest.raises(ValueError, match=r"unknown config field\(s\) \['config.model.depth'\]"):
    validate_config(config)


def test_batch_must_split_over_the_devices():
  with pytest.raises(ValueError, match=r"config.batch_size=4 must be divisible by the 8 devices"):
    validate_config(tiny_config(), num_devices=8)


def test_unknown_family_lists_the_valid_ones():
  config = tiny_config(family="stylegan")
  with pytest.raises(ConfigError, match=r"config.family='stylegan' is unknown; valid: \[.*'jointgan'"):
    validate_config(config)


def test_family_checks_its_own_fields_and_sampler():
  with pytest.raises(ConfigError, match=r"config.data.sampler='labelled': family 'jointgan'"):
    validate_config(tiny_config(data__sampler="labelled"))


def test_evaluation_entries_are_checked_by_their_evaluator():
  config = tiny_config(eval_every=2)
  with pytest.raises(ConfigError, match=r"no evaluation is on.*classifier_metrics.classifier"):
    validate_config(config)
  config = tiny_config()
  config.evals.classifier_metrics.num_samples = 0
  with pytest.raises(ConfigError, match=r"config.evals.classifier_metrics.num_samples=0 must be"):
    validate_config(config)
  config = tiny_config()
  config.unlock()
  config.evals.fid = ml_collections.ConfigDict({"type": "fid_v9"})
  with pytest.raises(ConfigError, match=r"config.evals.fid.type='fid_v9' is unknown"):
    validate_config(config)
  config = tiny_config()
  config.unlock()
  config.evals.classifier_metrics.temperature = 2.0
  with pytest.raises(ConfigError, match=r"unknown option\(s\) \['temperature'\]"):
    validate_config(config)


def test_cli_rejects_an_unknown_override_before_training(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.main", "--config=configs/jointgan.py:cpu",
       f"--workdir={tmp_path}", "--config.model.wings=2"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2
  assert "wings" in out.stderr and "Traceback" not in out.stderr
  assert not (tmp_path / "checkpoints").exists()


def test_cli_reports_a_bad_field_value_in_one_line_with_status_2(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.main", "--config=configs/jointgan.py:cpu",
       f"--workdir={tmp_path}", "--config.model.d_norm=layer"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2
  errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
  assert errors == ["error: ConfigError: config.model.d_norm='layer' must be one of "
                    "['spectral', 'batch', 'none']"]
  assert "Traceback" not in out.stderr


@pytest.mark.parametrize("name", ["sngan_cifar", "wgan_gp_cifar", "cgan_cifar", "classifier",
                                  "dcgan_celeba", "dcgan_pokemon"])
@pytest.mark.parametrize("variant", [None, "cpu"])
def test_every_shipped_config_and_variant_is_valid(name, variant):
  import importlib
  config = importlib.import_module(name).get_config(variant)
  if config.data.name == "image_folder":
    config.data.path = str(REPO)  # any existing folder: validation checks the path exists
  validate_config(config)
