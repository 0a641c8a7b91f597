"""The evaluation CLI on a tiny classifier checkpoint: JSON keys, refused sample arrays, the
reference-statistics cache, sampling from a GAN workdir, and GAN training that evaluates with
the classifier and keeps its best checkpoint by pegasus score."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, fake_image_dataset, random_class_images, tiny_config
from pegasus_jax import train
from pegasus_jax.cli import evaluate as evaluate_cli
from pegasus_jax.data.tfds_source import ClassImages
from pegasus_jax.errors import MissingCapabilityError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.evaluation import sample_metrics
from pegasus_jax.run import checkpoint
from test_classifier import tiny_classifier_config

JSON_KEYS = {"num_samples", "classifier_is", "classifier_is_std", "fcd", "pegasus_score",
             "pegasus_rate", "class_histogram"}


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  """A 2-step classifier (horse, bird, cat) and a 2-step JointGAN (horse, bird) on fake data;
  the GAN evaluates with the classifier every step and keeps the best by pegasus score."""
  from pegasus_jax import data

  root = tmp_path_factory.mktemp("eval")
  calls = []


  def load_images(config, process_index=0, process_count=1):
    labels = tuple(str(c) for c in config.data.classes)
    return ClassImages(labels, random_class_images(len(labels), per_class=6, size=8, seed=5))

  def load_real_images(data_name, classes, split, data_dir, image_size, channels):
    calls.append((data_name, tuple(classes), split))
    images = random_class_images(len(classes), per_class=10, size=image_size, seed=7)
    return dict(zip(classes, images))

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(data, "load_dataset", lambda config, *_: fake_image_dataset(config))
    patch.setattr(data, "load_images", load_images)
    patch.setattr(cm, "load_real_images", load_real_images)
    classifier = str(root / "classifier")
    classifier_summary = train.train_and_evaluate(
        tiny_classifier_config(total_steps=2, checkpoint_every=1, eval_every=1), classifier)
    gan = str(root / "gan")
    summary = train.train_and_evaluate(
        tiny_config(total_steps=2, eval_every=1, evals__classifier_metrics__num_samples=12,
                    evals__classifier_metrics__classifier=classifier,
                    best_metric="eval/pegasus_score"), gan)
    yield {"root": root, "classifier": classifier, "classifier_summary": classifier_summary,
           "gan": gan, "gan_summary": summary,
           "real_calls": calls, "patch": patch}


def test_loop_trains_the_classifier_evaluates_and_keeps_the_best(workdirs):
  summary, workdir = workdirs["classifier_summary"], workdirs["classifier"]
  assert summary["final_step"] == 2
  assert not os.path.exists(os.path.join(workdir, "samples"))  # no generator, no grids
  assert os.listdir(os.path.join(workdir, "checkpoints")) == ["2"]  # "latest 1" still holds
  evaluation = summary["last_evaluation"]
  assert 0 <= evaluation["eval/accuracy"] <= 1 and evaluation["eval/num_images"] == 18
  assert {"eval/accuracy/horse", "eval/accuracy/bird", "eval/accuracy/cat"} <= set(evaluation)
  # held-out calibration: T fitted on the same split, ECE before and after
  assert evaluation["eval/temperature"] > 0
  assert 0 <= evaluation["eval/ece"] <= 1 and 0 <= evaluation["eval/ece_calibrated"] <= 1
  assert np.isfinite(evaluation["eval/nll_calibrated"])
  best = summary["best"]
  assert best["metric"] == "eval/accuracy" and best["step"] in (1, 2)
  store = checkpoint.CheckpointStore(os.path.join(workdir, checkpoint.BEST_DIR), keep=1,
                                     asynchronous=False)
  assert store.all_steps() == [best["step"]]
  meta = store.read_meta(best["step"])
  store.close()
  assert meta["best"]["value"] == best["value"] and meta["family"] == "classifier"
  assert meta["evaluation"]["eval/accuracy"] == best["value"]
  # the latest checkpoint carries its step's evaluation too (the temperature the tools read)
  latest = checkpoint.CheckpointStore(os.path.join(workdir, "checkpoints"), keep=1,
                                      asynchronous=False)
  assert latest.read_meta(2)["evaluation"] == evaluation
  latest.close()


def test_the_loaded_classifier_reads_its_temperature_from_the_checkpoint(workdirs):
  best = cm.load_classifier(workdirs["classifier"], prefer_best=True)
  store = checkpoint.CheckpointStore(os.path.join(workdirs["classifier"], checkpoint.BEST_DIR),
                                     keep=1, asynchronous=False)
  saved = store.read_meta(best.step)["evaluation"]
  store.close()
  assert best.calibrated and best.temperature == saved["eval/temperature"] != 1.0
  latest = cm.load_classifier(workdirs["classifier"])
  assert latest.step == 2
  assert latest.temperature == workdirs["classifier_summary"]["last_evaluation"][
      "eval/temperature"]
  images = random_class_images(1, per_class=4, size=8, seed=1)[0].astype(np.float32) / 127.5 - 1
  raw_logits, _ = latest.family.predict(latest.state, images)
  np.testing.assert_allclose(latest.probabilities(images),
                             cm.softmax(np.asarray(raw_logits) / latest.temperature), rtol=1e-6)


def test_a_checkpoint_without_a_temperature_is_used_uncalibrated(workdirs, monkeypatch):
  from pegasus_jax.run import restore
  load_run = restore.load_run

  def without_evaluation(*args, **kwargs):
    run = load_run(*args, **kwargs)
    run.meta.pop("evaluation")
    return run

  monkeypatch.setattr(restore, "load_run", without_evaluation)
  loaded = cm.load_classifier(workdirs["classifier"])
  assert loaded.temperature == 1.0 and not loaded.calibrated
  assert cm.classifier_description(loaded)["classifier_ece"] is None


def _samples(path, images):
  np.savez(path, images=images)
  return str(path)


def test_cli_writes_the_json_and_hits_the_cache_the_second_time(workdirs, capsys):
  root = workdirs["root"]
  images = random_class_images(1, per_class=16, size=8, seed=3)[0]
  samples = _samples(root / "uint8.npz", images)
  before = len(workdirs["real_calls"])
  out = str(root / "out.json")
  # (horse, bird) was cached by the GAN run's evaluation: (bird, horse) is a new entry
  assert workdirs["real_calls"][0] == ("cifar10", ("horse", "bird"), "train")
  first = evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=samples,
                               classes=["bird", "horse"], json_path=out)
  with open(out) as f:
    written = json.load(f)
  assert JSON_KEYS <= set(written)
  assert written["num_samples"] == 16 and sum(written["class_histogram"].values()) == 16
  assert set(written["fcd"]) == {"horse", "bird", "union"}
  assert 0 <= written["pegasus_score"] <= 1 and 0 <= written["pegasus_rate"] <= 1
  assert 1 <= written["classifier_is"] <= 3
  assert "classifier_is" in capsys.readouterr().out  # the table
  # the classifier kept a best checkpoint (by eval/accuracy) and the CLI used it
  best_steps = os.listdir(os.path.join(workdirs["classifier"], checkpoint.BEST_DIR))
  assert [str(written["classifier_step"])] == best_steps
  # ... and its held-out calibration is what the scores used and what the JSON says
  heldout = cm.load_classifier(workdirs["classifier"], prefer_best=True).heldout
  assert written["classifier_calibrated"] is True
  for key, name in (("classifier_temperature", "eval/temperature"),
                    ("classifier_heldout_accuracy", "eval/accuracy"),
                    ("classifier_ece", "eval/ece"),
                    ("classifier_ece_calibrated", "eval/ece_calibrated")):
    assert written[key] == heldout[name], key
  # float samples in [-1, 1] of the same images give the same numbers, from the cache
  floats = _samples(root / "float.npz", images.astype(np.float32) / 127.5 - 1)
  second = evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=floats,
                                classes=["bird", "horse"])
  assert not first["reference_cache"]["hit"] and second["reference_cache"]["hit"]
  assert len(workdirs["real_calls"]) == before + 1  # real images read once
  assert second["reference_cache"]["path"].startswith(workdirs["classifier"])
  for key in ("classifier_is", "pegasus_score", "pegasus_rate"):
    assert second[key] == pytest.approx(first[key], abs=1e-5)
  assert second["fcd"]["union"] == pytest.approx(first["fcd"]["union"], rel=1e-3, abs=1e-4)
  # other classes are another cache entry
  third = evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=samples,
                               classes=["cat", "bird"])
  assert not third["reference_cache"]["hit"]


def test_inception_reference_cache_is_keyed_by_fid_protocol(tmp_path):
  common = dict(data_name="cifar10", split="train", classes=["horse", "bird"], weights_hash="ab12")
  torch_path = sample_metrics.inception_reference_path(str(tmp_path), fid_protocol="pytorch_fid",
                                                     **common)
  tf_path = sample_metrics.inception_reference_path(str(tmp_path), fid_protocol="tf_original",
                                                  **common)
  assert torch_path != tf_path
  assert "pytorch_fid" in os.path.basename(torch_path)
  assert "tf_original" in os.path.basename(tf_path)
  assert tf_path == sample_metrics.inception_reference_path(str(tmp_path),
                                                          fid_protocol="tf_original", **common)


def test_inception_metrics_record_their_fid_protocol(workdirs, tmp_path):
  """Inception metrics with a stand-in network: each protocol reaches the features, the JSON
  names it, and each protocol has its own reference cache entry."""
  from pegasus_jax.evaluation import fid_weights, inception

  weights = tmp_path / "weights.npz"
  weights.write_bytes(b"stand-in weights")  # only hashed; the network below is a stand-in
  seen = []

  def features_and_logits(variables, images, batch_size=100, *, protocol, **_):
    seen.append((protocol, len(images)))
    flat = images.reshape(len(images), -1)[:, :6].astype(np.float64)
    features = flat * (2.0 if protocol == "tf_original" else 1.0)
    return features, np.zeros((len(images), 10))

  cache_dir = str(tmp_path / "cache")
  images = random_class_images(1, per_class=12, size=8, seed=4)[0]
  samples = _samples(tmp_path / "samples.npz", images)
  results = {}
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(fid_weights, "load_inception_params", lambda path: {"stand-in": path})
    patch.setattr(inception, "inception_features_and_logits", features_and_logits)
    for protocol in ("tf_original", "pytorch_fid", "tf_original"):
      out = tmp_path / f"{protocol}.json"
      run = evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=samples,
                                 classes=["horse", "bird"], cache_dir=cache_dir,
                                 inception_weights=str(weights), fid_protocol=protocol,
                                 json_path=str(out))
      with open(out) as f:
        written = json.load(f)
      assert written["fid_protocol"] == protocol and np.isfinite(written["fid"])
      assert written["fid"] == pytest.approx(run["fid"])
      results.setdefault(protocol, []).append(written["fid"])
  # real images (20) then samples (12) per run; the third run read its real features back
  assert seen == [("tf_original", 20), ("tf_original", 12), ("pytorch_fid", 20),
                  ("pytorch_fid", 12), ("tf_original", 12)]
  cached = sorted(name for name in os.listdir(cache_dir) if name.startswith("inception_"))
  assert len(cached) == 2
  assert cached[0].startswith("inception_reference_pytorch_fid_")
  assert cached[1].startswith("inception_reference_tf_original_")
  assert results["tf_original"][0] == pytest.approx(results["tf_original"][1])
  assert results["tf_original"][0] != pytest.approx(results["pytorch_fid"][0])


@pytest.mark.parametrize("images,message", [
    (np.zeros((4, 8, 8, 3), np.int16), "dtype int16"),
    (np.full((4, 8, 8, 3), 3.0, np.float32), r"\[-1, 1\]"),
    (np.zeros((4, 8, 8, 1), np.uint8), r"takes \(8, 8, 3\)"),
    (np.zeros((4, 16, 16, 3), np.uint8), r"takes \(8, 8, 3\)"),
    (np.zeros((8, 8, 3), np.uint8), "4-D"),
])
def test_cli_refuses_bad_sample_arrays(workdirs, images, message):
  path = _samples(workdirs["root"] / "bad.npz", images)
  with pytest.raises(cm.SampleError, match=message):
    evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=path, classes=["horse"])


def test_cli_refuses_unknown_classes_and_non_classifier_workdirs(workdirs):
  path = _samples(workdirs["root"] / "ok.npz", np.zeros((4, 8, 8, 3), np.uint8))
  with pytest.raises(ValueError, match="'zebra' is not one of the classifier's classes"):
    evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=path, classes=["zebra"])
  with pytest.raises(MissingCapabilityError, match="needs a run that can classify images; a "
                     "'jointgan' run cannot"):
    evaluate_cli.run_cli(classifier=workdirs["gan"], samples=path, classes=["horse"])


def test_cli_samples_a_gan_workdir(workdirs):
  result = evaluate_cli.run_cli(classifier=workdirs["classifier"], workdir=workdirs["gan"],
                                num=10, seed=1)
  assert result["num_samples"] == 10 and result["classes"] == ["horse", "bird"]
  assert result["gan_step"] == 2 and result["pegasus_score"] is not None


def test_gan_training_logs_classifier_metrics_and_keeps_the_best(workdirs):
  summary = workdirs["gan_summary"]
  evaluation = summary["last_evaluation"]
  for name in ("eval/pegasus_score", "eval/pegasus_rate", "eval/classifier_is",
               "eval/fcd/horse", "eval/fcd/bird", "eval/fcd/union"):
    assert np.isfinite(evaluation[name]), name
  best = summary["best"]
  assert best["metric"] == "eval/pegasus_score" and best["step"] in (1, 2)
  assert os.listdir(os.path.join(workdirs["gan"], checkpoint.BEST_DIR)) == [str(best["step"])]
  assert os.path.isdir(os.path.join(workdirs["gan"], "samples"))


def test_command_line_usage_errors_are_one_line():
  result = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.evaluate", "--classifier=/nonexistent",
       "--samples=x.npz"], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert "error: ConfigError: --classes is required with --samples" in result.stderr
  assert "Traceback" not in result.stderr


def test_unknown_fid_protocol_is_a_one_line_error():
  result = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.evaluate", "--classifier=/nonexistent",
       "--samples=x.npz", "--classes=horse", "--fid_protocol=tf1"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert errors == [result.stderr.strip().splitlines()[-1]]
  assert errors[0].startswith("error: ConfigError: unknown FID protocol 'tf1'; --fid_protocol "
                              "takes pytorch_fid")


def test_tools_say_what_a_run_lacks_in_one_line(workdirs, tmp_path):
  """sample on a classifier run: it cannot generate; sample on an empty folder: no checkpoints."""
  lacks = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.sample", f"--workdir={workdirs['classifier']}",
       f"--out={tmp_path / 'x.png'}"], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert lacks.returncode == 2 and "Traceback" not in lacks.stderr
  assert ("error: MissingCapabilityError: drawing samples needs a run that can generate images "
          "from a prior (latents -> images); a 'classifier' run cannot") in lacks.stderr
  empty = subprocess.run(
      [sys.executable, "-m", "pegasus_jax.latent", "search", f"--workdir={tmp_path}"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert empty.returncode == 2 and "error: RunNotFoundError: no checkpoints in" in empty.stderr


def test_cli_writes_the_panel_of_the_highest_and_lowest_scored_samples(workdirs):
  from PIL import Image
  root = workdirs["root"]
  images = random_class_images(1, per_class=20, size=8, seed=11)[0]
  samples = _samples(root / "panel_samples.npz", images)
  result = evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=samples,
                                classes=["horse", "bird"], json_path=str(root / "panel.json"))
  assert result["panel"]["path"] == str(root / "panel.png")
  with Image.open(root / "panel.png") as picture:
    assert picture.format == "PNG" and picture.size == (1040, 750)  # 8 columns, 100 dpi
  # the panel's samples are the best and worst by 2 * min(p_horse, p_bird), computed here
  classifier = cm.load_classifier(workdirs["classifier"], prefer_best=True)
  logits, _ = classifier.predict(images.astype(np.float32) / 127.5 - 1)
  probs = cm.softmax(logits)
  scores = 2 * np.minimum(probs[:, 0], probs[:, 1])
  order = np.argsort(-scores, kind="stable")
  assert result["panel"]["top"] == order[:8].tolist()
  assert result["panel"]["bottom"] == np.argsort(scores, kind="stable")[:8].tolist()
  np.testing.assert_allclose(result["panel"]["top_scores"], scores[order[:8]], rtol=1e-5)
  real = result["reference_cache"]["class_histogram"]
  assert set(real) == {"horse", "bird", "cat"} and sum(real.values()) == 20  # 10 + 10 real
  evaluate_cli.run_cli(classifier=workdirs["classifier"], samples=samples,
                       classes=["horse", "bird"], json_path=str(root / "nopanel.json"),
                       write_panel=False)
  assert (root / "nopanel.json").exists() and not (root / "nopanel.png").exists()
