"""Temperature scaling and expected calibration error of the evaluation classifier.

Why: the pegasus score and rate read the classifier's probabilities (2 * min(p_horse, p_bird)),
so those must mean what they say. A net trained briefly with label smoothing is usually
under-confident, one trained long is over-confident. One scalar temperature T, fitted on
held-out data by minimising the negative log-likelihood of softmax(logits / T), removes most of
either error without changing any argmax (Guo et al. 2017, "On Calibration of Modern Neural
Networks"). The held-out data is the classifier's validation split ('train[45000:]'), never a
test split.

ECE: predictions are binned by confidence (their maximum probability) into equal-width bins;
ECE is the mean over bins, weighted by bin size, of |accuracy - mean confidence|.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.special

LOG_T_BOUNDS = (-5.0, 5.0)  # T in [0.0067, 148]: far beyond any trained network's
ECE_BINS = 15  # Guo et al.'s choice


def _checked(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
  if logits.ndim != 2 or labels.shape != (len(logits),) or not len(labels):
    raise ValueError(f"need logits (N, K) and labels (N,) with N > 0; got shapes {logits.shape} "
                     f"and {labels.shape}")
  if labels.min() < 0 or labels.max() >= logits.shape[1]:
    raise ValueError(f"labels must lie in [0, {logits.shape[1]}); got "
                     f"[{labels.min()}, {labels.max()}]")
  return logits, labels


def calibrated_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
  """softmax(logits / temperature) in float64."""
  if not temperature > 0:
    raise ValueError(f"temperature must be > 0; got {temperature}")
  return scipy.special.softmax(np.asarray(logits, np.float64) / temperature, axis=-1)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0
                            ) -> float:
  """Mean -log p(label) under softmax(logits / temperature)."""
  logits, labels = _checked(logits, labels)
  log_probs = scipy.special.log_softmax(logits / temperature, axis=-1)
  return float(-np.mean(log_probs[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
  """The T > 0 minimising the NLL of softmax(logits / T), searched over log T in LOG_T_BOUNDS.

  The NLL is convex in 1/T, so a bounded scalar search finds its one minimum.
  """
  logits, labels = _checked(logits, labels)
  result = scipy.optimize.minimize_scalar(
      lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
      bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
  return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
                               ) -> float:
  """sum over bins b of |B_b| / N * |accuracy(B_b) - confidence(B_b)|.

  Bin b holds confidences in (b / bins, (b + 1) / bins]; a confidence of 0 joins the first.
  """
  probs = np.asarray(probs, np.float64)
  _checked(probs, labels)
  labels = np.asarray(labels)
  confidence = probs.max(axis=-1)
  correct = (probs.argmax(axis=-1) == labels).astype(np.float64)
  index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
  # |B_b| / N * |acc_b - conf_b| = |sum of correct in b - sum of confidence in b| / N
  gap = np.abs(np.bincount(index, correct, bins) - np.bincount(index, confidence, bins))
  return float(np.sum(gap) / len(labels))


def calibration_report(logits: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
                       ) -> dict[str, float]:
  """The temperature fitted on all of (logits, labels), and before/after ECE and NLL.

  'temperature' is what scores use. The 'after' numbers (ece_calibrated, nll_calibrated) are
  cross-fitted so that they do not flatter T by measuring it on the points it was fitted to:
  T is fitted on the even positions and measured on the odd ones, then the other way round,
  and the two results are averaged.
  """
  logits, labels = _checked(logits, labels)
  if len(labels) < 2:
    raise ValueError(f"cross-fitting needs at least 2 examples; got {len(labels)}")
  halves = (np.arange(0, len(labels), 2), np.arange(1, len(labels), 2))
  ece_after, nll_after = [], []
  for fit_on, test_on in (halves, halves[::-1]):
    t = fit_temperature(logits[fit_on], labels[fit_on])
    ece_after.append(expected_calibration_error(
        calibrated_probabilities(logits[test_on], t), labels[test_on], bins))
    nll_after.append(negative_log_likelihood(logits[test_on], labels[test_on], t))
  return {
      "temperature": fit_temperature(logits, labels),
      "ece": expected_calibration_error(calibrated_probabilities(logits, 1.0), labels, bins),
      "ece_calibrated": float(np.mean(ece_after)),
      "nll": negative_log_likelihood(logits, labels),
      "nll_calibrated": float(np.mean(nll_after)),
  }
