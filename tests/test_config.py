"""Bad configs fail before anything compiles, naming the field and the valid choices."""

import subprocess
import sys

import ml_collections
import pytest

import dcgan_cifar
import jointgan
from conftest import REPO, apply_overrides, tiny_config
from pegasus_jax.config_validation import validate_config


@pytest.mark.parametrize("config", [jointgan.get_config(), jointgan.get_config("cpu"),
                                    dcgan_cifar.get_config(), dcgan_cifar.get_config("cpu")])
def test_shipped_configs_are_valid(config):
  validate_config(config)


@pytest.mark.parametrize("field,value,message", [
    ("loss", "wgan", r"config.loss='wgan' must be one of \['nonsaturating', 'minimax', 'hinge'\]"),
    ("batch_size", 0, r"config.batch_size=0 must be a positive integer"),
    ("total_steps", 2.5, r"config.total_steps=2.5 must be a positive integer"),
    ("model__d_norm", "layer", r"config.model.d_norm='layer' must be one of \['spectral'"),
    ("model__image_size", 48, r"config.model.image_size=48 must be a power of two"),
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
  from pegasus_jax import families
  config = tiny_config(family="stylegan")
  with pytest.raises(ValueError, match=r"config.family='stylegan' is unknown; valid: \('jointgan'"):
    families.create(config, ("horse",))


def test_cli_rejects_an_unknown_override_before_training(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.main", "--config=configs/jointgan.py:cpu",
       f"--workdir={tmp_path}", "--config.model.wings=2"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert out.returncode != 0
  assert "wings" in out.stderr
  assert not (tmp_path / "checkpoints").exists()
