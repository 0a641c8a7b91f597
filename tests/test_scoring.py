"""The classifier scorer on a stand-in classifier whose logits the test sets through colours:
values, ranking, gradients, params as arguments, option errors; batched scoring and ties."""

import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.errors import ConfigError, MissingCapabilityError
from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.generation import scoring

LABELS = ("horse", "bird", "cat")


class ChannelFamily:
  """Logits = scale * the mean of each colour channel: red says horse, green bird, blue cat."""

  def apply(self, state, images):
    means = jnp.mean(images, axis=(1, 2))
    return state["scale"] * means, means

  def predict(self, state, images):
    logits, features = jax.jit(self.apply)(state, jnp.asarray(images, jnp.float32))
    return np.asarray(logits), np.asarray(features)


def channel_classifier(scale: float = 10.0, size: int = 8) -> cm.LoadedClassifier:
  return cm.LoadedClassifier(workdir="channels", labels=LABELS, config=None,
                             family=ChannelFamily(), state={"scale": jnp.float32(scale)},
                             step=0, image_shape=(size, size, 3), weights_hash="")


def coloured(*channels: float, size: int = 8) -> np.ndarray:
  """One (1, size, size, 3) image of constant colour, channels in [-1, 1]."""
  return np.broadcast_to(np.asarray(channels, np.float32), (1, size, size, 3)).copy()


NO_GENERATOR = types.SimpleNamespace(family=object(), state=None,
                                     config=types.SimpleNamespace(family="classifier"))


def test_half_horse_half_bird_outscores_a_pure_horse():
  classifier = channel_classifier()
  scorer = scoring.classifier_scorer(NO_GENERATOR, classifier, ["horse", "bird"])
  images = np.concatenate([coloured(1, 1, -1),  # red = green: half horse, half bird
                           coloured(1, -1, -1),  # red only: a horse
                           coloured(-1, -1, 1),  # blue only: neither
                           coloured(1, 0, -1)])  # mostly horse, some bird
  scores = np.asarray(jax.jit(scorer.fn)(scorer.params, images))
  assert scores[0] == pytest.approx(1.0, abs=1e-6)
  assert scores[1] < 1e-6 and scores[2] < 1e-6
  p_bird = np.exp(0.0) / (np.exp(10.0) + np.exp(0.0) + np.exp(-10.0))
  assert scores[3] == pytest.approx(2 * p_bird, rel=1e-4)
  assert np.argsort(-scores)[0] == 0 and scores[0] > scores[3] > scores[1]
  # the host route (evaluate's probabilities) gives the same per-sample scores
  np.testing.assert_allclose(cm.pegasus_per_sample(classifier.probabilities(images), [0, 1]),
                             scores, rtol=1e-5, atol=1e-7)
  details = jax.jit(scorer.details)(scorer.params, images)
  assert set(details) == {"p/horse", "p/bird", "pegasus"}
  np.testing.assert_allclose(details["p/horse"][0], 0.5, atol=1e-6)
  np.testing.assert_allclose(details["pegasus"], scores)


def test_scores_use_the_calibrated_probabilities():
  """A classifier loaded with temperature T: the scorer sees softmax(logits / T), as evaluate."""
  images = np.concatenate([coloured(0.3, -0.1, -1), coloured(0.5, 0.2, 0.0)])
  logits = 10.0 * images.mean(axis=(1, 2))
  for temperature in (0.5, 1.0, 3.0):
    classifier = dataclasses.replace(channel_classifier(), temperature=temperature)
    scorer = scoring.classifier_scorer(NO_GENERATOR, classifier, ["horse", "bird"])
    details = scorer.details(scorer.params, images)
    expected = cm.softmax(logits / temperature)
    np.testing.assert_allclose(details["p/horse"], expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(details["p/bird"], expected[:, 1], rtol=1e-5)
    np.testing.assert_allclose(classifier.probabilities(images)[:, :2], expected[:, :2],
                               rtol=1e-5)
    np.testing.assert_allclose(scorer.fn(scorer.params, images),
                               2 * np.minimum(expected[:, 0], expected[:, 1]), rtol=1e-5)


def test_three_classes_score_k_times_the_smallest_probability():
  scorer = scoring.classifier_scorer(NO_GENERATOR, channel_classifier(), ["bird", "horse", "cat"])
  scores = np.asarray(scorer.fn(scorer.params, np.concatenate([coloured(0.5, 0.5, 0.5),
                                                               coloured(1, 1, -1)])))
  assert scores[0] == pytest.approx(1.0, abs=1e-6)  # uniform: 3 * 1/3
  p_cat = np.exp(-10.0) / (2 * np.exp(10.0) + np.exp(-10.0))
  assert scores[1] == pytest.approx(3 * p_cat, rel=1e-4)


def test_differentiable_and_the_classifier_weights_are_an_argument():
  classifier = channel_classifier()
  scorer = scoring.classifier_scorer(NO_GENERATOR, classifier, ["horse", "bird"])
  assert scorer.params["classifier"] == (classifier.state,)
  score = jax.jit(lambda params, x: jnp.sum(scorer.fn(params, x)))
  grad = jax.jit(jax.grad(lambda x, params: jnp.sum(scorer.fn(params, x))))
  image = jnp.asarray(coloured(0.6, -0.2, -1))  # a horse: the gradient must raise the bird
  g = grad(image, scorer.params)
  assert float(jnp.mean(g[..., 1])) > 0 > float(jnp.mean(g[..., 0]))
  before = float(score(scorer.params, image))
  for _ in range(20):
    image = image + 0.05 * jnp.sign(grad(image, scorer.params))
  assert float(score(scorer.params, image)) > before + 0.3
  # the same jitted function, other weights: a cooler classifier is less sure, the score moves
  cooler = {"classifier": ({"scale": jnp.float32(1.0)},)}
  assert float(score(cooler, coloured(1, -1, -1))) > 100 * float(
      score(scorer.params, coloured(1, -1, -1)))


def test_bad_classes_and_options_are_refused_clearly():
  classifier = channel_classifier()
  with pytest.raises(ConfigError, match=r"'zebra' is not one of the classifier's classes "
                     r"\['horse', 'bird', 'cat'\]"):
    scoring.classifier_scorer(NO_GENERATOR, classifier, ["horse", "zebra"])
  for classes in (["horse"], ["horse", "horse"], ["horse", "0"]):
    with pytest.raises(ConfigError, match="two or more different classes"):
      scoring.classifier_scorer(NO_GENERATOR, classifier, classes)
  with pytest.raises(ConfigError, match="disc_weight=-1.0: must be a number >= 0"):
    scoring.classifier_scorer(NO_GENERATOR, classifier, ["horse", "bird"], disc_weight=-1.0)
  with pytest.raises(MissingCapabilityError, match="disc_weight > 0 .* needs a run that can "
                     "score images with class discriminators; a 'classifier' run cannot"):
    scoring.classifier_scorer(NO_GENERATOR, classifier, ["horse", "bird"], disc_weight=0.5)
  bad_options = [
      ({"classes": "horse,bird"}, "needs --classifier=CLASSIFIER_WORKDIR"),
      ({"classifier": "x"}, "needs --classes"),
      ({"classifier": " , ", "classes": "horse,bird"}, "name at least one"),
      ({"classifier": "x", "classes": "horse,bird", "weight": "1"}, r"unknown option\(s\) "
       r"\['weight'\]"),
      ({"classifier": "x", "classes": "horse,bird", "disc_weight": "lots"}, "not a number"),
      ({"classifier": "x", "classes": "horse,bird", "classifier_checkpoint": "first"},
       "use 'best' or 'latest'"),
  ]
  for options, message in bad_options:
    with pytest.raises(ConfigError, match=message):
      scoring.create_scorer("classifier", NO_GENERATOR, options)


def test_an_ensemble_scores_the_mean_of_its_members_probabilities():
  sure = dataclasses.replace(channel_classifier(10.0), workdir="sure", weights_hash="a")
  unsure = dataclasses.replace(channel_classifier(1.0), workdir="unsure", weights_hash="b")
  images = np.concatenate([coloured(0.6, -0.2, -1), coloured(1, 1, -1), coloured(-1, 0.3, 0.2)])
  scorer = scoring.classifier_scorer(NO_GENERATOR, [sure, unsure], ["horse", "bird"])
  mean = (sure.probabilities(images) + unsure.probabilities(images)) / 2
  details = scorer.details(scorer.params, images)
  np.testing.assert_allclose(details["p/horse"], mean[:, 0], rtol=1e-5)
  np.testing.assert_allclose(scorer.fn(scorer.params, images),
                             2 * np.minimum(mean[:, 0], mean[:, 1]), rtol=1e-5)
  assert "the mean of 2 classifiers" in scorer.description
  with pytest.raises(ConfigError, match="lists the same weights twice"):
    scoring.classifier_scorer(NO_GENERATOR, [sure, sure], ["horse", "bird"])
  other_labels = dataclasses.replace(unsure, labels=("bird", "horse", "cat"))
  with pytest.raises(ConfigError, match="same labels and image shape"):
    scoring.classifier_scorer(NO_GENERATOR, [sure, other_labels], ["horse", "bird"])


def test_selecting_by_the_guide_the_run_was_trained_against_warns(caplog):
  guide = dataclasses.replace(channel_classifier(), weights_hash="332ab857ab204f58")
  trained = types.SimpleNamespace(family=object(), state=None, config=types.SimpleNamespace(
      family="jointgan", guide={"weight": 0.5, "checksum": "332ab857ab204f58"}))
  with caplog.at_level("WARNING"):
    scoring.classifier_scorer(trained, guide, ["horse", "bird"])
  assert "this run's generator was trained against" in caplog.text
  caplog.clear()
  with caplog.at_level("WARNING"):  # another guide, or a run without a guide term: silent
    scoring.classifier_scorer(trained, dataclasses.replace(guide, weights_hash="b"),
                              ["horse", "bird"])
    scoring.classifier_scorer(NO_GENERATOR, guide, ["horse", "bird"])
  assert "trained against" not in caplog.text


def test_scorer_options_from_pairs_and_flags():
  assert scoring.parse_scorer_options(["disc_weight=0.5"], classifier="c", classes=None) == {
      "disc_weight": "0.5", "classifier": "c"}
  with pytest.raises(ConfigError, match="use key=value"):
    scoring.parse_scorer_options(["disc_weight"])
  with pytest.raises(ConfigError, match="classifier given twice"):
    scoring.parse_scorer_options(["classifier=a"], classifier="b")


def test_score_images_in_padded_batches_equals_one_batch():
  scorer = scoring.classifier_scorer(NO_GENERATOR, channel_classifier(scale=3.0),
                                     ["horse", "bird"])
  images = np.random.default_rng(0).integers(0, 256, (7, 8, 8, 3), dtype=np.uint8)
  batched, details = scoring.score_images(scorer, images, batch_size=3)
  whole = np.asarray(scorer.fn(scorer.params, images.astype(np.float32) / 127.5 - 1))
  np.testing.assert_allclose(batched, whole, rtol=1e-6)
  assert batched.shape == (7,) and details["p/bird"].shape == (7,)


def test_top_indices_best_first_ties_in_drawing_order():
  scores = np.array([0.5, 0.9, 0.5, 0.9, np.nan, 0.1])
  np.testing.assert_array_equal(scoring.top_indices(scores, 4), [1, 3, 0, 2])
  with pytest.raises(ConfigError, match="best 7 of 6"):
    scoring.top_indices(scores, 7)
