"""An exported classifier loads back to the same predictions, and refuses altered weights."""

import json
import os

import numpy as np
import pytest

from pegasus_jax.run import export as run_export
from pegasus_jax.run import restore
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.tools import export_classifier


def _images(n=6, size=8, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


def test_export_predicts_like_the_checkpoint(tiny_classifier_workdir, tmp_path):
  out = str(tmp_path / "export")
  assert export_classifier.main(["--workdir", tiny_classifier_workdir, "--out", out]) == 0
  assert run_export.is_exported(out) and not run_export.is_exported(tiny_classifier_workdir)
  original = cm.load_classifier(tiny_classifier_workdir)
  exported = cm.load_classifier(out)
  assert exported.labels == original.labels == ("horse", "bird", "cat")
  assert exported.weights_hash == original.weights_hash
  np.testing.assert_array_equal(exported.predict(_images())[0], original.predict(_images())[0])


def test_altered_weights_are_refused(tiny_classifier_workdir, tmp_path):
  out = tmp_path / "export"
  run_export.export_run(restore.load_run(tiny_classifier_workdir), str(out))
  data = bytearray((out / run_export.WEIGHTS).read_bytes())
  data[-100] ^= 1
  (out / run_export.WEIGHTS).write_bytes(bytes(data))
  with pytest.raises(run_export.ExportError, match="SHA-256"):
    cm.load_classifier(str(out))


def test_a_manifest_of_another_network_is_refused(tiny_classifier_workdir, tmp_path):
  out = tmp_path / "export"
  run_export.export_run(restore.load_run(tiny_classifier_workdir), str(out))
  manifest = json.loads((out / run_export.MANIFEST).read_text())
  manifest["config"]["model"]["width"] *= 2  # the weights no longer fit the network
  (out / run_export.MANIFEST).write_text(json.dumps(manifest))
  with pytest.raises(run_export.ExportError, match="the network wants"):
    cm.load_classifier(str(out))
  manifest["format"] = "something/else"
  (out / run_export.MANIFEST).write_text(json.dumps(manifest))
  with pytest.raises(run_export.ExportError, match="format"):
    run_export.read_manifest(str(out))
