"""benchmarks/cpu_ablation.py: rows trained in time segments (one checkpoint each, resumed),
every checkpoint scored by a judge classifier, a markdown table and each row's grid."""

import json
import os
import sys

import numpy as np
import pytest

from conftest import REPO, random_class_images
from pegasus_jax.evaluation import classifier_metrics as cm

sys.path.insert(0, str(REPO / "benchmarks"))
import cpu_ablation  # noqa: E402  # benchmarks/cpu_ablation.py

TINY = ("data.classes=('horse','bird') data.image_size=8 model.g_width=4 model.d_width=4 "
        "model.z_dim=8 batch_size=4 diffaugment='' total_steps=2 num_sample_images=4")


def test_row_parsing_and_overrides():
  row = cpu_ablation.Row.parse(f"tiny=configs/jointgan.py:cpu {TINY} model.d_norm=none")
  assert row.name == "tiny" and row.config == "configs/jointgan.py:cpu"
  config = row.build_config("/data")
  assert config.data.classes == ("horse", "bird") and config.model.g_width == 4
  assert config.model.d_norm == "none" and config.diffaugment == ""
  assert config.data.data_dir == "/data"
  with pytest.raises(ValueError, match="NAME=CONFIG"):
    cpu_ablation.Row.parse("configs/jointgan.py:cpu")


@pytest.fixture
def scoring(monkeypatch):
  """The judge's real-image statistics from random class images; paths from the repo root."""
  monkeypatch.setattr(cm, "load_real_images", lambda name, classes, split, data_dir, size, ch:
                      dict(zip(classes, random_class_images(len(classes), 10, size, seed=3))))
  monkeypatch.chdir(REPO)


def test_segments_checkpoint_score_and_tabulate(tmp_path, fake_data, scoring,
                                                tiny_classifier_workdir):
  out = str(tmp_path / "ablation")
  # A segment of ~0 s stops the loop after its first step: one checkpoint per step.
  report = cpu_ablation.main([f"--row=tiny=configs/jointgan.py:cpu {TINY}", f"--out={out}",
                              f"--judge={tiny_classifier_workdir}", "--segment_s=0.01",
                              "--budget_s=0", "--num=16"])
  row = report["rows"]["tiny"]
  assert [s["step"] for s in row["scored"]] == [1, 2]
  assert sorted(os.listdir(os.path.join(out, "tiny", "checkpoints"))) == ["1", "2"]
  seconds = [s["seconds"] for s in row["scored"]]
  assert 0 < seconds[0] < seconds[1]
  for scored in row["scored"]:
    assert np.isfinite(scored["fcd_union"]) and scored["fcd_union"] >= 0
    assert sum(scored["class_histogram"].values()) == 16
    assert os.path.exists(scored["grid"])
  assert row["final_grid"].endswith("step_0000002.png")
  table = report["table"]
  assert table[0].startswith("| row | step | train s | load | FCD h+b | horse % | bird %")
  assert [line.split("|")[2].strip() for line in table[2:]] == ["1", "2"]
  with open(os.path.join(out, "ablation.json")) as f:
    assert json.load(f)["rows"]["tiny"]["final_grid"] == row["final_grid"]


def test_live_scores_the_generator_that_the_average_smooths(tmp_path, fake_data, scoring,
                                                            tiny_classifier_workdir):
  out = str(tmp_path / "ablation")
  report = cpu_ablation.main([
      f"--row=plain=configs/jointgan.py:cpu {TINY} total_steps=1",
      f"--row=avg=configs/jointgan.py:cpu {TINY} ema.decay=0.5 ema.start_step=0",
      f"--out={out}", f"--judge={tiny_classifier_workdir}", "--budget_s=0", "--num=16", "--live"])
  assert "live" not in report["rows"]["plain"]["scored"][0]  # nothing averaged: no live line
  (scored,) = report["rows"]["avg"]["scored"]
  live = scored["live"]
  assert live["grid"].endswith("step_0000002_live.png") and os.path.exists(live["grid"])
  assert sum(live["class_histogram"].values()) == 16
  assert live["fcd_union"] != scored["fcd_union"]  # the average after 2 steps is not the weights
  names = [line.split("|")[1].strip() for line in report["table"][2:]]
  assert names == ["plain", "avg", "avg live"]
