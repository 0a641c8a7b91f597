"""Drawing images from a generator: one place for every tool (sample, evaluate, latent, eval hook).

No absl flags here, so any command-line module can import it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import numpy as np

from pegasus_jax import metrics


def images_from_latents(generate: Callable[[Any, jax.Array], jax.Array], state: Any,
                        latents: Any, batch_size: int = 256) -> np.ndarray:
  """uint8 (N, H, W, C) images of `latents`, `batch_size` per call of `generate` (jit it once)."""
  chunks = [np.asarray(generate(state, jax.numpy.asarray(latents[i:i + batch_size])))
            for i in range(0, len(latents), batch_size)]
  return metrics.to_uint8(np.concatenate(chunks))


def generate_images(run: Any, num: int, seed: int, batch_size: int = 256) -> np.ndarray:
  """uint8 (num, H, W, C) from a loaded run (`restore.load_run`); the same seed, the same images."""
  latents = run.family.latents(jax.random.PRNGKey(seed), num)
  return images_from_latents(jax.jit(run.family.generate), run.state, latents, batch_size)


def write_images(path: str, images: np.ndarray) -> None:
  """Write uint8 images as a PNG grid or an .npz (key `images`), chosen by the file extension."""
  extension = os.path.splitext(path)[1].lower()
  if extension == ".png":
    metrics.save_png(path, metrics.image_grid(images))
  elif extension == ".npz":
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, images=images)
  else:
    raise ValueError(f"--out={path!r}: use a .png (grid) or .npz (array) file name")
