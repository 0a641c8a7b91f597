"""benchmarks/pegasus_methods.py on a tiny budget: a row judged by a classifier the method
never saw."""

import json
import sys

import numpy as np
import pytest

from conftest import REPO, random_class_images, save_initial_checkpoint, tiny_config
from pegasus_jax.generation import guided_latent
from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import classifier_metrics as cm

sys.path.insert(0, str(REPO / "benchmarks"))
import pegasus_methods  # noqa: E402  benchmarks/pegasus_methods.py

LABELS = ("horse", "bird", "cat")


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  from test_classifier import tiny_classifier_config
  root = tmp_path_factory.mktemp("pegasus_methods")
  gan = save_initial_checkpoint(tiny_config(), ("horse", "bird"), str(root / "gan"))
  judge = save_initial_checkpoint(tiny_classifier_config(seed=7), LABELS, str(root / "judge"))
  return gan, judge, root


@pytest.fixture
def fake_real_images(monkeypatch):
  def load_real_images(data_name, classes, split, data_dir, image_size, channels):
    return dict(zip(classes, random_class_images(len(classes), per_class=10, size=image_size,
                                                 seed=7)))
  monkeypatch.setattr(cm, "load_real_images", load_real_images)


def test_a_row_has_the_judges_and_the_guides_numbers_and_two_pictures(
    workdirs, tiny_classifier_workdir, fake_real_images, tmp_path):
  gan, judge, _ = workdirs
  options = guided_latent.LangevinOptions(steps=2, n_aug=1, augment="translation")
  row = pegasus_methods.run_row(gan, tiny_classifier_workdir, judge, str(tmp_path / "row"),
                                "guided_latent", num=4, candidates=8, langevin=options,
                                batch_size=8)
  saved = json.loads((tmp_path / "row" / "row.json").read_text())
  assert saved["method"] == "guided_latent" and saved["num"] == 4 and saved["drawing_s"] > 0
  for who, workdir in (("judge", judge), ("guide", tiny_classifier_workdir)):
    numbers = saved[who]
    assert numbers["classifier"]["classifier_workdir"].endswith(workdir.rstrip("/").split("/")[-1])
    assert 0 <= numbers["pegasus_rate"] <= 1 and 0 <= numbers["pegasus_score"] <= 1
    assert np.isfinite(numbers["fcd_union"])
    assert sum(numbers["class_histogram"].values()) == 4
  assert saved["judge"]["pegasus_score"] != saved["guide"]["pegasus_score"]
  assert row["judge"] == saved["judge"]
  for name in ("best64.png", "random64.png"):
    assert (tmp_path / "row" / name).stat().st_size > 0


def test_the_guide_can_never_be_the_judge(workdirs, tiny_classifier_workdir, tmp_path):
  gan, _, _ = workdirs
  with pytest.raises(ConfigError, match="is a guide"):
    pegasus_methods.run_row(gan, tiny_classifier_workdir, tiny_classifier_workdir,
                            str(tmp_path / "x"), "select", num=2, candidates=4)
  with pytest.raises(ConfigError, match="is a guide"):  # nor any member of an ensemble
    pegasus_methods.run_row(gan, f"{tmp_path}/other,{tiny_classifier_workdir}",
                            tiny_classifier_workdir, str(tmp_path / "x"), "select", num=2,
                            candidates=4)
