"""benchmarks/selection_guides.py on tiny untrained networks: what a guide picks, judged."""

import sys

import numpy as np
import pytest

from conftest import REPO, save_initial_checkpoint, tiny_config
from pegasus_jax.errors import ConfigError

sys.path.insert(0, str(REPO / "benchmarks"))
import selection_guides  # noqa: E402  benchmarks/selection_guides.py

LABELS = ("horse", "bird", "cat")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  from test_classifier import tiny_classifier_config
  root = tmp_path_factory.mktemp("selection_guides")
  gan = save_initial_checkpoint(tiny_config(), ("horse", "bird"), str(root / "gan"))
  other = save_initial_checkpoint(tiny_classifier_config(seed=3), LABELS, str(root / "other"))
  judge = save_initial_checkpoint(tiny_classifier_config(seed=7), LABELS, str(root / "judge"))
  return gan, other, judge


def test_rows_per_guide_and_pool_and_what_a_larger_pool_buys(runs, tiny_classifier_workdir):
  gan, other, judge = runs
  guides = [tiny_classifier_workdir, f"{tiny_classifier_workdir},{other}"]
  rows = selection_guides.compare(gan, guides, judge, num=6, pools=[24, 6], batch_size=8)
  assert [(row["guide"], row["pool"]) for row in rows[:-1]] == [
      (guides[0], 6), (guides[0], 24), (guides[1], 6), (guides[1], 24)]
  plain = rows[-1]
  for row in rows[:-1]:
    assert 0 <= row["judge_rate"] <= 1 and 0 <= row["judge_score"] <= 1
    if row["pool"] == 6:  # keeping 6 of 6 keeps them all: the judge sees the plain draws
      assert row["judge_score"] == pytest.approx(plain["judge_score"])
      assert row["judge_horse"] == plain["judge_horse"]
  for small, large in ((rows[0], rows[1]), (rows[2], rows[3])):
    assert large["guide_score"] >= small["guide_score"]  # the best of more: never worse
  assert rows[1]["guide_score"] > rows[0]["guide_score"]  # untrained nets still vary
  assert "| guide | of | judge rate" in selection_guides.table(rows, ("horse", "bird"))


def test_the_judge_may_not_be_a_guide(runs, tiny_classifier_workdir):
  gan, other, judge = runs
  with pytest.raises(ConfigError, match="is also a guide"):
    selection_guides.compare(gan, [f"{other},{judge}"], judge, num=2, pools=[4])
  with pytest.raises(ConfigError, match="--num=5"):
    selection_guides.compare(gan, [other], judge, num=5, pools=[4, 8])
