"""The committed classifiers (assets/guide, select_guide, select_guide_long, judge) load, verify
and classify real images.

Real CIFAR-10 images come from the offline TFDS copy beside the checkout
(../shared/tensorflow_datasets), as in CI; without it the classification check is skipped.
"""

import json
import os
import pathlib
import re

import numpy as np
import pytest

from pegasus_jax.run import export as run_export
from pegasus_jax.evaluation import classifier_metrics as cm

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "tensorflow_datasets"
ASSETS = sorted(p.name for p in (ROOT / "assets").iterdir() if (p / run_export.MANIFEST).exists())
# judge: 92.34%, select_guide: 87.54%, select_guide_long: 89.44% (their README.md files)
MIN_ACCURACY = {"guide": 0.80, "select_guide": 0.87, "select_guide_long": 0.89, "judge": 0.92}


def test_the_guides_and_judge_are_committed():
  assert set(ASSETS) == set(MIN_ACCURACY)


def test_no_two_assets_share_weights():
  """Guide is never judge, and the selection guide is not the guide the quick start trains
  against: all four differ."""
  checksums = [run_export.read_manifest(str(ROOT / "assets" / name))["weights_sha256"]
               for name in ASSETS]
  assert len(set(checksums)) == len(checksums)


@pytest.mark.parametrize("name", ASSETS)
def test_readme_states_the_checksum_the_loader_verifies(name):
  manifest = run_export.read_manifest(str(ROOT / "assets" / name))
  readme = (ROOT / "assets" / name / "README.md").read_text()
  assert manifest["weights_sha256"] in re.findall(r"[0-9a-f]{64}", readme)
  assert manifest["evaluation"]["eval/accuracy"] >= MIN_ACCURACY[name]
  assert manifest["evaluation"]["eval/temperature"] > 0
  assert os.path.getsize(ROOT / "assets" / name / manifest["weights"]) < 10 * 2**20


@pytest.mark.skipif(not (DATA_DIR / "cifar10").is_dir(), reason="no offline CIFAR-10 copy")
@pytest.mark.parametrize("name", ASSETS)
def test_classifies_real_training_images(name):
  """The first 100 training images of three classes, read as those classes (chance: 1/10)."""
  classifier = cm.load_classifier(str(ROOT / "assets" / name))
  classes = ("horse", "bird", "ship")
  real = cm.load_real_images("cifar10", classes, "train[:1000]", str(DATA_DIR), 32, 3)
  images = np.concatenate([real[c] for c in classes])
  labels = np.concatenate([np.full(len(real[c]), classifier.class_index(c)) for c in classes])
  probs = classifier.probabilities(cm.check_samples(images))
  accuracy = float(np.mean(np.argmax(probs, -1) == labels))
  assert accuracy >= MIN_ACCURACY[name] - 0.05, accuracy
