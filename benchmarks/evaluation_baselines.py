r"""Reproduce the real-data baselines of EVALUATION.md for a classifier checkpoint.

  python benchmarks/evaluation_baselines.py --classifier=runs/classifier \
      --data_dir=../shared/tensorflow_datasets --out=runs/baselines

Writes to --out:
  val_curve.json       held-out accuracy of every checkpoint (the classifier's own eval hook)
  real_is.json         classifier IS and accuracy of all real train images and the held-out part
  real_horse.npz, real_bird.npz, real_horse_bird.npz, horse_bird_average.npz, noise.npz,
  heldout_horse_bird.npz   uint8 sample files; score them with
      python -m pegasus_jax.evaluate --samples=OUT/real_horse.npz --classifier=... --classes=horse,bird
From the train split: the 5,000 horses, the 5,000 birds, 2,500 of each (real_horse_bird), and
pixel averages that pair each horse with a random bird, round((horse[p] + bird[q]) / 2), with
p, q permutations from np.random.default_rng(0). noise: 5,000 images of uniform uint8 noise
(np.random.default_rng(0)). heldout_horse_bird: the horses and birds of the classifier's
held-out split 'train[45000:]' (about 1,000; images the FCD reference, which is the train
split, also contains, but the classifier never trained on).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from pegasus_jax.data.spec import DataInfo
from pegasus_jax.data.tfds_source import load_class_images
from pegasus_jax.evaluation import calibration
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.evaluation import sample_metrics
from pegasus_jax.evaluation.evaluators import accuracy
from pegasus_jax.run import checkpoint


def held_out_curve(workdir: str) -> dict[int, dict[str, float]]:
  store = checkpoint.CheckpointStore(os.path.join(workdir, "checkpoints"), keep=1_000,
                                     asynchronous=False)
  steps = store.all_steps()
  store.close()
  curve, held_out = {}, None
  for step in steps:
    classifier = cm.load_classifier(workdir, step)
    if held_out is None:
      options = dict(accuracy.OPTIONS, **{k: v for k, v in classifier.config.evals.heldout.items()
                                          if k != "type"})
      held_out = accuracy.create(classifier.config, options, classifier.family,
                                 DataInfo(classifier.labels, {"image": classifier.image_shape}))
    curve[step] = dict(held_out(classifier.state))
    print(step, {k: round(v, 4) for k, v in curve[step].items() if k.count("/") == 1},
          flush=True)
  return curve


def real_image_scores(workdir: str, data_dir: str | None) -> dict[str, dict[str, float]]:
  classifier = sample_metrics.load_classifier(workdir, "best")  # what the evaluate CLI scores with
  labels = classifier.labels
  out = {}
  for split in ("train", "train[45000:]"):
    t0 = time.time()
    real = cm.load_real_images("cifar10", labels, split, data_dir, 32, 3)
    images = np.concatenate([real[label] for label in labels])
    truth = np.concatenate([np.full(len(real[label]), k) for k, label in enumerate(labels)])
    order = np.random.default_rng(0).permutation(len(images))  # IS splits must mix classes
    probs = classifier.probabilities(images[order].astype(np.float32) / 127.5 - 1)  # calibrated
    mean, std = cm.classifier_inception_score(probs)
    out[split] = {"num": len(images), "classifier_is": mean, "classifier_is_std": std,
                  "accuracy": float(np.mean(np.argmax(probs, 1) == truth[order])),
                  "ece_calibrated_in_sample": calibration.expected_calibration_error(
                      probs, truth[order]),
                  "temperature": classifier.temperature, "seconds": time.time() - t0}
    print(split, out[split], flush=True)
  return out


def write_real_samples(data_dir: str | None, out: str, num_noise: int = 5_000) -> None:
  loaded = load_class_images("cifar10", ("horse", "bird"), split="train", data_dir=data_dir,
                             image_size=32)
  horse, bird = loaded.images
  rng = np.random.default_rng(0)
  n = min(len(horse), len(bird))
  pairs = (horse[rng.permutation(len(horse))[:n]].astype(np.float32)
           + bird[rng.permutation(len(bird))[:n]].astype(np.float32)) / 2
  half = n // 2
  mixed = np.concatenate([horse[rng.permutation(len(horse))[:half]],
                          bird[rng.permutation(len(bird))[:half]]])
  noise = rng.integers(0, 256, (num_noise,) + horse.shape[1:], dtype=np.uint8)
  heldout = load_class_images("cifar10", ("horse", "bird"), split="train[45000:]",
                              data_dir=data_dir, image_size=32)
  np.savez(os.path.join(out, "real_horse.npz"), images=horse)
  np.savez(os.path.join(out, "real_bird.npz"), images=bird)
  np.savez(os.path.join(out, "real_horse_bird.npz"), images=mixed)
  np.savez(os.path.join(out, "horse_bird_average.npz"), images=np.round(pairs).astype(np.uint8))
  np.savez(os.path.join(out, "noise.npz"), images=noise)
  np.savez(os.path.join(out, "heldout_horse_bird.npz"), images=np.concatenate(heldout.images))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--classifier", required=True, help="workdir of configs/classifier.py")
  parser.add_argument("--data_dir", default=None, help="TFDS data_dir with cifar10")
  parser.add_argument("--out", required=True)
  parser.add_argument("--skip_curve", action="store_true", help="skip the per-checkpoint curve")
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  if not args.skip_curve:
    with open(os.path.join(args.out, "val_curve.json"), "w") as f:
      json.dump(held_out_curve(args.classifier), f, indent=2)
  with open(os.path.join(args.out, "real_is.json"), "w") as f:
    json.dump(real_image_scores(args.classifier, args.data_dir), f, indent=2)
  write_real_samples(args.data_dir, args.out)


if __name__ == "__main__":
  main()
