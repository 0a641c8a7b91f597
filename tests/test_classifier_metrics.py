"""Classifier metrics against hand-computed numbers: pegasus score/rate, histogram, IS, FCD."""

import numpy as np
import pytest

from pegasus_jax.evaluation import classifier_metrics as cm

# classes (horse, bird, cat); pair (horse, bird) = (0, 1)
PROBS = np.array([
    [0.50, 0.50, 0.00],  # an even split: 2*min = 1.0, a pegasus
    [0.90, 0.10, 0.00],  # a horse: 0.2, not (min < 0.25)
    [0.30, 0.30, 0.40],  # mostly neither: 0.6, not (sum 0.6 < 0.8)
    [0.60, 0.25, 0.15],  # 0.5, a pegasus at both edges (sum 0.85, min 0.25)
    [0.05, 0.70, 0.25],  # a bird: 0.1, not
])


def test_pegasus_score_and_rate_by_hand():
  result = cm.pegasus_scores(PROBS, 0, 1)
  np.testing.assert_allclose(result["per_sample"], [1.0, 0.2, 0.6, 0.5, 0.1])
  assert result["pegasus_score"] == pytest.approx(2.4 / 5)
  assert result["pegasus_rate"] == pytest.approx(2 / 5)
  assert cm.pegasus_scores(PROBS, 1, 0)["pegasus_score"] == pytest.approx(2.4 / 5)


def test_class_histogram_counts_argmax_with_zeros():
  labels = ("horse", "bird", "cat", "dog")
  probs = np.concatenate([PROBS, np.zeros((5, 1))], axis=1)
  # argmax: row 0 ties -> first (horse); horse, cat, horse, bird
  assert cm.class_histogram(probs, labels) == {"horse": 3, "bird": 1, "cat": 1, "dog": 0}


@pytest.mark.parametrize("num_classes", [2, 5, 10])
def test_classifier_is_of_confident_balanced_predictions_is_the_number_of_classes(num_classes):
  probs = cm.softmax(60.0 * np.eye(num_classes)[np.arange(20 * num_classes) % num_classes])
  mean, std = cm.classifier_inception_score(probs)
  assert mean == pytest.approx(num_classes, rel=1e-6) and std == pytest.approx(0, abs=1e-6)
  uniform = np.full((30, num_classes), 1 / num_classes)
  assert cm.classifier_inception_score(uniform)[0] == pytest.approx(1.0)


def test_fcd_of_identical_features_is_zero_and_grows_with_a_shift():
  features = np.random.default_rng(0).normal(size=(200, 8))
  reference = cm.gan_metrics.feature_statistics(features)
  assert cm.frechet_to_reference(features, reference) == pytest.approx(0.0, abs=1e-6)
  shifted = cm.frechet_to_reference(features + 1.0, reference)
  assert shifted == pytest.approx(8.0, rel=1e-6)  # ||mu shift||^2 = 8 * 1^2


def test_samples_accepted_as_uint8_or_unit_floats_and_refused_otherwise():
  uint8 = np.array([[[[0, 255, 128]]], [[[1, 2, 3]]]], np.uint8)
  out = cm.check_samples(uint8, (1, 1, 3))
  assert out.dtype == np.float32 and out.min() == -1.0 and out.max() == 1.0
  floats = np.linspace(-1, 1, 6, dtype=np.float64).reshape(2, 1, 1, 3)
  np.testing.assert_allclose(cm.check_samples(floats, (1, 1, 3)), floats)
  bad = [
      (np.zeros((2, 1, 1, 3), np.int32), "dtype int32"),
      (np.full((2, 1, 1, 3), 200.0), r"must lie in \[-1, 1\]"),
      (np.full((2, 1, 1, 3), np.nan), "NaN"),
      (np.zeros((2, 1, 1, 1), np.uint8), r"takes \(1, 1, 3\)"),
      (np.zeros((2, 1, 3), np.uint8), "4-D"),
      (np.zeros((1, 1, 1, 3), np.uint8), "at least 2"),
  ]
  for images, message in bad:
    with pytest.raises(cm.SampleError, match=message):
      cm.check_samples(images, (1, 1, 3))


def test_scalars_flatten_for_tensorboard():
  result = {"classifier_is": 2.0, "classifier_is_std": 0.1, "pegasus_score": 0.5,
            "pegasus_rate": None, "fcd": {"horse": 3.0, "union": 4.0},
            "mean_probability": {"horse": 0.4}, "class_histogram": {"horse": 3, "bird": 1}}
  assert cm.scalars(result) == {
      "eval/classifier_is": 2.0, "eval/classifier_is_std": 0.1, "eval/pegasus_score": 0.5,
      "eval/fcd/horse": 3.0, "eval/fcd/union": 4.0, "eval/mean_probability/horse": 0.4,
      "eval/predicted_share/horse": 0.75, "eval/predicted_share/bird": 0.25}


class FixedLogits:
  """A family stand-in whose `predict` returns the same logits and features for any images."""

  def __init__(self, logits, features):
    self.logits, self.features = logits, features

  def predict(self, state, images):
    return self.logits[:len(images)], self.features[:len(images)]


def _classifier(temperature, logits, features=None):
  features = features if features is not None else np.eye(len(logits), 4)
  return cm.LoadedClassifier(
      workdir="/clf", labels=("horse", "bird", "cat"), config=None,
      family=FixedLogits(logits, features), state=None, step=1, image_shape=(1, 1, 3),
      weights_hash="0", temperature=temperature, heldout={"eval/temperature": temperature})


def test_scores_use_the_calibrated_probabilities():
  logits = np.log(PROBS + 1e-12) * 3.0  # three times too confident
  images = np.zeros((len(PROBS), 1, 1, 3), np.uint8)
  raw = cm.evaluate_samples(_classifier(1.0, logits), images, ["horse", "bird"])
  calibrated_clf = _classifier(3.0, logits)
  calibrated = cm.evaluate_samples(calibrated_clf, images, ["horse", "bird"])
  # softmax(logits / 3) gives back PROBS (up to the 1e-12): the hand-computed scores
  assert calibrated["pegasus_score"] == pytest.approx(np.mean([1.0, 0.2, 0.6, 0.5, 0.1]),
                                                      abs=1e-6)
  assert calibrated["pegasus_rate"] == pytest.approx(0.4)
  np.testing.assert_allclose(calibrated_clf.probabilities(images), PROBS, atol=1e-6)
  # T = 1 reads the over-confident probabilities: lower score, no pegasus at the 0.25 edge
  assert raw["pegasus_score"] < calibrated["pegasus_score"] - 0.05
  assert raw["pegasus_rate"] == pytest.approx(0.2)
  assert raw["class_histogram"] == calibrated["class_histogram"]  # T moves no argmax


def test_predict_divides_logits_by_the_temperature_and_keeps_features():
  logits, features = np.array([[2.0, 0.0, -1.0], [0.5, 1.0, 0.0]]), np.ones((2, 4))
  out_logits, out_features = _classifier(0.5, logits, features).predict(np.zeros((2, 1, 1, 3)))
  np.testing.assert_allclose(out_logits, logits / 0.5)
  np.testing.assert_array_equal(out_features, features)
