"""Sampling from a checkpoint: PNG grid or uint8 .npz, reproducible by seed."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, tiny_config
from pegasus_jax import restore, sampling, train
from pegasus_jax.errors import RunNotFoundError


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
  import conftest
  from pegasus_jax import data

  mp = pytest.MonkeyPatch()
  mp.setattr(data, "load_dataset", lambda config, *_: conftest.fake_image_dataset(config))
  workdir = tmp_path_factory.mktemp("run")
  train.train_and_evaluate(tiny_config(total_steps=2), str(workdir))
  mp.undo()
  return str(workdir)


def test_same_seed_same_images_other_seed_other_images(trained_workdir):
  run = restore.load_run(trained_workdir)
  a = sampling.generate_images(run, 5, seed=3, batch_size=2)
  b = sampling.generate_images(run, 5, seed=3)
  c = sampling.generate_images(run, 5, seed=4)
  assert a.shape == (5, 8, 8, 3) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_write_png_grid_and_npz(trained_workdir, tmp_path):
  images = sampling.generate_images(restore.load_run(trained_workdir), 6, seed=0)
  sampling.write_images(str(tmp_path / "grid.png"), images)
  grid = np.asarray(Image.open(tmp_path / "grid.png"))
  assert grid.shape == (2 + 2 * 10, 2 + 3 * 10, 3)  # 3 columns x 2 rows of 8px + 2px padding
  np.testing.assert_array_equal(grid[2:10, 2:10], images[0])
  sampling.write_images(str(tmp_path / "images.npz"), images)
  np.testing.assert_array_equal(np.load(tmp_path / "images.npz")["images"], images)
  with pytest.raises(ValueError, match=r"\.png.*\.npz"):
    sampling.write_images(str(tmp_path / "images.jpg"), images)


def test_step_must_exist(trained_workdir):
  with pytest.raises(RunNotFoundError, match=r"step 7 is not among the checkpoints"):
    restore.load_run(trained_workdir, step=7)
  with pytest.raises(FileNotFoundError, match="no checkpoints"):
    restore.load_run(trained_workdir + "/nope")


def test_sample_cli_writes_npz(trained_workdir, tmp_path):
  out = tmp_path / "s.npz"
  result = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.sample", f"--workdir={trained_workdir}", "--num=3",
       f"--out={out}", "--seed=1", "--step=2"],
      cwd=REPO, capture_output=True, text=True, timeout=180)
  assert result.returncode == 0, result.stderr[-2000:]
  images = np.load(out)["images"]
  expected = sampling.generate_images(restore.load_run(trained_workdir, step=2), 3, seed=1)
  np.testing.assert_array_equal(images, expected)
