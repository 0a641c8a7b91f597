"""GAN families by name: the config's `family` field picks one; the loop never special-cases."""

from __future__ import annotations

from typing import Callable

import ml_collections

from pegasus_jax.families.base import Evaluator, GANFamily, has_generator
from pegasus_jax.families.classifier import Classifier
from pegasus_jax.families.jointgan import JointGAN

_FAMILIES: dict[str, Callable[..., GANFamily]] = {
    "jointgan": JointGAN,
    "dcgan": JointGAN,  # a single discriminator: JointGAN with one class (or one class union)
    "classifier": Classifier,  # the evaluation classifier (no generator): configs/classifier.py
}

FAMILY_NAMES = tuple(_FAMILIES)


def create(config: ml_collections.ConfigDict, class_labels: tuple[str, ...]) -> GANFamily:
  """The family named by `config.family`, built for the resolved class labels."""
  if config.family not in _FAMILIES:
    raise ValueError(f"config.family={config.family!r} is unknown; valid: {FAMILY_NAMES}")
  return _FAMILIES[config.family](config, class_labels)


def create_evaluator(config: ml_collections.ConfigDict, family: GANFamily) -> Evaluator | None:
  """The periodic evaluation for `family` (None when `config.eval_every` is 0).

  A family with its own `evaluator(config)` hook uses it (the classifier: held-out accuracy);
  a generator is scored by the classifier in `config.eval_classifier` (pegasus score, classifier
  IS, FCD on `config.eval_num_samples` samples). Built once, before the first step.
  """
  if not config.eval_every:
    return None
  own = getattr(family, "evaluator", None)
  if own is not None:
    return own(config)
  if has_generator(family) and config.eval_classifier:
    from pegasus_jax import evaluate  # pylint: disable=g-import-not-at-top  # imports restore
    return evaluate.generator_evaluator(config, family)
  raise ValueError(f"config.eval_every={config.eval_every}: family {config.family!r} has no "
                   "evaluation; set config.eval_classifier=CLASSIFIER_WORKDIR or eval_every=0")
