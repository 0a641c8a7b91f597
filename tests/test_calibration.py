"""Temperature scaling and ECE on cases whose answers are known."""

import numpy as np
import pytest
import scipy.special

from pegasus_jax.evaluation import calibration


def calibrated_sample(n: int = 20_000, k: int = 10, seed: int = 0):
  """Logits and labels drawn from softmax(logits) itself: calibrated by construction."""
  rng = np.random.default_rng(seed)
  logits = rng.normal(0.0, 2.0, (n, k))
  probs = scipy.special.softmax(logits, axis=-1)
  labels = (probs.cumsum(axis=-1) > rng.random((n, 1))).argmax(axis=-1)
  return logits, labels


def test_calibrated_logits_have_small_ece_and_temperature_one():
  logits, labels = calibrated_sample()
  probs = calibration.calibrated_probabilities(logits, 1.0)
  assert calibration.expected_calibration_error(probs, labels) < 0.015
  assert calibration.fit_temperature(logits, labels) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("scale", [3.0, 0.4])
def test_scaled_logits_give_back_their_scale_as_temperature(scale):
  """x3 logits are over-confident (T > 1 undoes them), x0.4 under-confident (T < 1)."""
  logits, labels = calibrated_sample(seed=1)
  report = calibration.calibration_report(scale * logits, labels)
  assert report["temperature"] == pytest.approx(scale, rel=0.05)
  assert report["ece"] > 0.1
  assert report["ece_calibrated"] < 0.02  # the cross-fitted T repairs it
  assert report["nll_calibrated"] < report["nll"]


def test_ece_of_a_hand_made_two_bin_example():
  probs = np.array([[0.9, 0.05, 0.05],   # confidence 0.9, right        -> bin (0.5, 1]
                    [0.1, 0.8, 0.1],     # confidence 0.8, wrong        -> bin (0.5, 1]
                    [0.6, 0.3, 0.1],     # confidence 0.6, right        -> bin (0.5, 1]
                    [0.4, 0.3, 0.3],     # confidence 0.4, wrong        -> bin (0, 0.5]
                    [0.2, 0.45, 0.35]])  # confidence 0.45, right       -> bin (0, 0.5]
  labels = np.array([0, 0, 0, 1, 1])
  # High bin: accuracy 2/3, confidence 2.3/3, gap 0.1, weight 3/5. Low bin: accuracy 1/2,
  # confidence 0.425, gap 0.075, weight 2/5. ECE = 0.06 + 0.03.
  assert calibration.expected_calibration_error(probs, labels, bins=2) == pytest.approx(0.09)


def test_confidence_one_and_a_bin_edge():
  probs = np.array([[1.0, 0.0], [0.5, 0.5]])
  labels = np.array([0, 1])
  # [1, 0] is in the last bin, right, gap 0; [0.5, 0.5] (argmax 0, wrong) is in (0, 0.5]: 0.5 / 2
  assert calibration.expected_calibration_error(probs, labels, bins=2) == pytest.approx(0.25)


def test_temperature_keeps_every_argmax():
  logits, _ = calibrated_sample(n=200)
  for t in (0.3, 1.0, 4.0):
    np.testing.assert_array_equal(
        calibration.calibrated_probabilities(logits, t).argmax(-1), logits.argmax(-1))


@pytest.mark.parametrize("logits,labels,message", [
    (np.zeros((3, 2)), np.zeros(4, int), "logits"),
    (np.zeros(3), np.zeros(3, int), "logits"),
    (np.zeros((3, 2)), np.array([0, 1, 2]), r"labels must lie in \[0, 2\)"),
])
def test_bad_inputs_are_refused(logits, labels, message):
  with pytest.raises(ValueError, match=message):
    calibration.fit_temperature(logits, labels)


def test_non_positive_temperature_is_refused():
  with pytest.raises(ValueError, match="temperature must be > 0"):
    calibration.calibrated_probabilities(np.zeros((1, 2)), 0.0)
