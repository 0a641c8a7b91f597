"""python -m pegasus_jax.pegasus: the family's method, files like `sample`, seeded, exit 2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, save_initial_checkpoint, tiny_config
from pegasus_jax.generation import guided_latent, hybrids
from pegasus_jax.run import paths
from pegasus_jax.errors import ConfigError, UserError

FAST = guided_latent.LangevinOptions(steps=2, step_size=0.05, n_aug=1, augment="translation")


def test_the_default_method_table():
  # measured: on the CPU JointGAN, selection doubled the judge's score in 41 s (EVALUATION.md)
  assert hybrids.default_method("jointgan") == "select"
  assert hybrids.default_method("dcgan") == "select"
  assert hybrids.default_method("cgan") == "blend"
  assert hybrids.default_method("bigan") == "select"


@pytest.fixture(scope="module")
def gan_workdir(tmp_path_factory):
  return save_initial_checkpoint(tiny_config(), ("horse", "bird"),
                                 str(tmp_path_factory.mktemp("pegasus_gan")))


def _draw(gan_workdir, guide, out, **kwargs):
  kwargs = dict(dict(num=3, candidates=6, langevin=FAST, batch_size=8), **kwargs)
  return hybrids.draw_to_file(gan_workdir, guide, str(out), **kwargs)


def test_guided_latent_draws_and_writes_the_images_and_json(
    gan_workdir, tiny_classifier_workdir, tmp_path):
  drawn = _draw(gan_workdir, tiny_classifier_workdir, tmp_path / "p.npz", method="guided_latent")
  assert drawn.method == "guided_latent"
  images = paths.load_npz(str(tmp_path / "p.npz"))["images"]
  assert images.shape == (3, 8, 8, 3) and images.dtype == np.uint8
  report = json.loads((tmp_path / "p.json").read_text())
  assert report["method"] == "guided_latent" and report["parameters"]["steps"] == 2
  assert [row["rank"] for row in report["images"]] == [0, 1, 2]
  for row in report["images"]:
    assert 0 <= row["p/horse"] <= 1 and 0 <= row["p/bird"] <= 1
    assert row["guide_score"] == pytest.approx(2 * min(row["p/horse"], row["p/bird"]), rel=1e-5)
  # same seed, same images; another seed, others
  again = _draw(gan_workdir, tiny_classifier_workdir, tmp_path / "q.png", method="guided_latent")
  np.testing.assert_array_equal(again.images, images)
  assert Image.open(tmp_path / "q.png").size[0] >= 8
  other = _draw(gan_workdir, tiny_classifier_workdir, tmp_path / "r.npz", seed=1,
                method="guided_latent")
  assert not np.array_equal(other.images, images)


def test_select_keeps_the_guides_best(gan_workdir, tiny_classifier_workdir, tmp_path):
  drawn = _draw(gan_workdir, tiny_classifier_workdir, tmp_path / "s.npz", method="select")
  assert drawn.method == "select"
  assert np.all(np.diff(drawn.scores) <= 0)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(out_name="p.jpg"), ConfigError, ".png"),
    (dict(num=7), ConfigError, "candidates=6"),
    (dict(method="blend"), UserError, "class blending"),
    (dict(classes=("horse", "dog")), ConfigError, "'dog'"),
    (dict(langevin=guided_latent.LangevinOptions(n_aug=0)), ConfigError, "n_aug")])
def test_bad_inputs_are_user_errors(gan_workdir, tiny_classifier_workdir, tmp_path, kwargs,
                                    error, words):
  out = tmp_path / kwargs.pop("out_name", "p.png")
  with pytest.raises(error, match=words):
    _draw(gan_workdir, tiny_classifier_workdir, out, **kwargs)


def test_the_command_exits_2_with_one_line_on_bad_input(gan_workdir, tiny_classifier_workdir,
                                                        tmp_path, subprocess_jax_cache):
  command = [sys.executable, "-m", "pegasus_jax.pegasus", f"--workdir={gan_workdir}",
             f"--guide={tiny_classifier_workdir}", f"--out={tmp_path / 'p.gif'}"]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **subprocess_jax_cache))
  assert result.returncode == 2, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert "p.gif" in result.stderr.strip().splitlines()[-1]
