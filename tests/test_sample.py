"""Sampling from a checkpoint: PNG grid or uint8 .npz, reproducible by seed."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, tiny_config
from pegasus_jax import train
from pegasus_jax.errors import RunNotFoundError
from pegasus_jax.generation import sampling
from pegasus_jax.run import restore


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


def test_select_from_keeps_the_highest_scoring_and_is_deterministic_by_seed(trained_workdir):
  from pegasus_jax.generation import scoring
  from test_scoring import channel_classifier
  run = restore.load_run(trained_workdir)
  scorer = scoring.classifier_scorer(run, channel_classifier(scale=20.0), ["horse", "bird"])
  chosen = sampling.select_images(run, scorer, num=4, select_from=12, seed=3, batch_size=5)
  drawn = sampling.generate_images(run, 12, seed=3)
  scores, _ = scoring.score_images(scorer, drawn)
  np.testing.assert_allclose(chosen.all_scores, scores, rtol=1e-6)
  best = set(np.argsort(-scores)[:4].tolist())
  assert set(chosen.indices.tolist()) == best and len(best) == 4
  assert np.all(np.diff(chosen.scores) <= 0)  # best first
  assert chosen.scores[-1] >= np.max(np.delete(scores, chosen.indices))
  np.testing.assert_array_equal(chosen.images, drawn[chosen.indices])
  again = sampling.select_images(run, scorer, num=4, select_from=12, seed=3)
  np.testing.assert_array_equal(again.images, chosen.images)
  other = sampling.select_images(run, scorer, num=4, select_from=12, seed=4)
  assert not np.array_equal(other.images, chosen.images)


def test_selection_flags_are_checked_before_loading():
  from pegasus_jax.cli import sample
  from pegasus_jax.errors import ConfigError
  sample.check_selection_flags(4, 8, "clf", ["horse", "bird"], [])  # fine
  sample.check_selection_flags(4, None, None, None, [])  # no selection: fine
  refused = [
      ((8, 4, "clf", ["horse", "bird"], []), "--select_from=4 must be >= --num=8"),
      ((4, 8, None, ["horse", "bird"], []), "--select_from needs --classifier"),
      ((4, 8, "clf", None, []), "--select_from needs --classes"),
      ((4, None, "clf", ["horse"], ["disc_weight=1"]),
       "--classifier, --classes, --scorer_option only apply with --select_from"),
  ]
  for args, message in refused:
    with pytest.raises(ConfigError, match=message):
      sample.check_selection_flags(*args)


def test_sample_cli_select_from_with_a_classifier_workdir(trained_workdir,
                                                          tiny_classifier_workdir, tmp_path):
  import json
  out = tmp_path / "best.npz"
  command = [sys.executable, "-m", "pegasus_jax.sample", f"--workdir={trained_workdir}",
             "--num=3", "--select_from=10", f"--classifier={tiny_classifier_workdir}",
             "--classes=horse,bird", "--seed=5", f"--out={out}"]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.loads((tmp_path / "best_scores.json").read_text())
  kept = [k["index"] for k in report["kept"]]
  drawn = sampling.generate_images(restore.load_run(trained_workdir), 10, seed=5)
  np.testing.assert_array_equal(np.load(out)["images"], drawn[kept])
  summary = report["summary"]
  assert summary["kept"]["count"] == 3 and summary["not_kept"]["count"] == 7
  assert summary["kept"]["min"] >= summary["not_kept"]["max"]
  assert summary["kept"]["max"] == summary["all_drawn"]["max"]
  assert [k["score"] for k in report["kept"]] == sorted((k["score"] for k in report["kept"]),
                                                        reverse=True)
  assert {"p/horse", "p/bird", "pegasus"} <= set(report["kept"][0])
  refused = subprocess.run(command[:-1] + ["--select_from=2", f"--out={out}"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
  assert refused.returncode == 2 and "Traceback" not in refused.stderr
  assert "error: ConfigError: --select_from=2 must be >= --num=3" in refused.stderr
