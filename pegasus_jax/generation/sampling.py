"""Drawing images from a generator: one place for every tool (sample, evaluate, latent, evals).

No absl flags here, so any command-line module can import it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from pegasus_jax import imaging
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import ConditionalGenerator, GeneratesFromPrior, require
from pegasus_jax.generation import blending, scoring
from pegasus_jax.run import paths


def images_from_latents(generate: Callable[[Any, jax.Array], jax.Array], state: Any,
                        latents: Any, batch_size: int = 256) -> np.ndarray:
  """uint8 (N, H, W, C) images of `latents`, `batch_size` per call of `generate` (jit it once)."""
  chunks = [np.asarray(generate(state, jnp.asarray(latents[i:i + batch_size])))
            for i in range(0, len(latents), batch_size)]
  return imaging.to_uint8(np.concatenate(chunks))


def class_index(labels: tuple[str, ...], name: str) -> int:
  """The index of class `name` (a label, or an index) among a run's labels."""
  if name in labels:
    return labels.index(name)
  if name.isdigit() and int(name) < len(labels):
    return int(name)
  raise ConfigError(f"--class={name!r} is not one of the run's classes {list(labels)}")


def generate_images(run: Any, num: int, seed: int, batch_size: int = 256,
                    class_name: str | None = None) -> np.ndarray:
  """uint8 (num, H, W, C) from a loaded run (`restore.load_run`); the same seed, the same images.

  With `class_name`, a conditional run draws that class only, or a class-embedding blend for
  'horse:0.5,bird:0.5' (`blending.parse_blend`).
  """
  family = run.family
  require(family, GeneratesFromPrior, "drawing samples", run.config.family)
  latents = family.latents(jax.random.PRNGKey(seed), num)
  if class_name is None:
    return images_from_latents(jax.jit(family.generate), run.state, latents, batch_size)
  require(family, ConditionalGenerator, "--class", run.config.family)
  if blending.is_blend(class_name):  # 'horse:0.5,bird:0.5': class weights, not a label
    weights = jnp.asarray(blending.parse_blend(class_name, tuple(family.class_labels)))
    conditional = jax.jit(lambda state, z: family.generate_conditional(
        state, z, jnp.broadcast_to(weights, (z.shape[0],) + weights.shape)))
    return images_from_latents(conditional, run.state, latents, batch_size)
  label = class_index(tuple(family.class_labels), class_name)
  conditional = jax.jit(lambda state, z: family.generate_conditional(
      state, z, jnp.full((z.shape[0],), label, jnp.int32)))
  return images_from_latents(conditional, run.state, latents, batch_size)


def write_images(path: str, images: np.ndarray) -> None:
  """Write uint8 images as a PNG grid or an .npz (key `images`), chosen by the file extension."""
  extension = os.path.splitext(path)[1].lower()
  if extension == ".png":
    imaging.save_png(path, imaging.image_grid(images))
  elif extension == ".npz":
    paths.save_npz(path, compressed=True, images=images)
  else:
    raise ConfigError(f"--out={path!r}: use a .png (grid) or .npz (array) file name")


@dataclasses.dataclass
class Selection:
  """The best `num` of `select_from` drawn images, best first."""

  images: np.ndarray  # (num, H, W, C) uint8
  indices: np.ndarray  # (num,) positions among the drawn images
  scores: np.ndarray  # (num,)
  details: dict[str, np.ndarray]  # the scorer's named parts, each (num,)
  all_scores: np.ndarray  # (select_from,) in the order drawn


def select_images(run: Any, scorer: scoring.Scorer, num: int, select_from: int, seed: int,
                  batch_size: int = 256, class_name: str | None = None) -> Selection:
  """Draw `select_from` images (`generate_images`, same seed same images), keep the `num` best.

  The scores are those of the uint8 images as written, so `evaluate` on the kept images sees
  what the selection saw; equal scores keep the order of drawing, so the result is a pure
  function of the seed and the checkpoints.
  """
  if not 1 <= num <= select_from:
    raise ConfigError(f"keeping {num} of {select_from} drawn images: need 1 <= num <= "
                      "select_from")
  drawn = generate_images(run, select_from, seed, batch_size, class_name)
  scores, details = scoring.score_images(scorer, drawn, batch_size)
  keep = scoring.top_indices(scores, num)
  return Selection(images=drawn[keep], indices=keep, scores=scores[keep],
                   details={name: value[keep] for name, value in details.items()},
                   all_scores=scores)
