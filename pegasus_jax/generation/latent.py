r"""Latent-space tools for any trained run whose generator maps a latent vector to an image
(the library of `python -m pegasus_jax.latent`, whose flags are in `pegasus_jax.cli.latent`).

  python -m pegasus_jax.latent interpolate --workdir=DIR --start=0 --end=1 [--method=slerp]
  python -m pegasus_jax.latent search --workdir=DIR --num=1024 --top_k=16 [--scorer=...]
  python -m pegasus_jax.latent optimize --workdir=DIR --start=top.npz [--steps=200 --lr=0.05]
  python -m pegasus_jax.latent search --workdir=DIR --scorer=classifier --classifier=CLF_DIR \
      --classes=horse,bird [--scorer_option disc_weight=0.1]

Write-up 001 looked for a pegasus by sampling latents and looking at the images; these make that
systematic. `interpolate` walks between two latents (linear, or spherical: slerp of directions
with the norm interpolated linearly, which keeps the walk on the prior's shell where a Gaussian
generator was trained) into a PNG strip and an animated GIF. `search` draws M latents, scores
their images (`pegasus_jax.generation.scoring`: by default the product of every class
discriminator's "real" probability; `--scorer=classifier`: the evaluation classifier's pegasus
score) and keeps the top k (their images are in top_k.npz too, for `pegasus_jax.evaluate
--samples`). `optimize` does gradient ascent on that score from given latents, projecting back to
norm sqrt(z_dim) after every step so the latents stay typical draws of N(0, I) (without it, ascent
walks off to huge norms where the generator saturates).

A latent is given as a seed (`--start=3`: `family.latents(PRNGKey(3), n)`), or as a saved file
(`--start=out/top_k.npz`, all rows of its `latents`; `file.npz:2` for row 2). Everything runs
jitted with explicit PRNG keys: the same flags give the same files. Outputs go to --out
(default WORKDIR/latent/<command>).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image

from pegasus_jax import imaging
from pegasus_jax.errors import ConfigError
from pegasus_jax.generation import sampling, scoring
from pegasus_jax.run import paths

METHODS = ("slerp", "linear")


# -- latents ----------------------------------------------------------------------------------
def latent_dim(run: Any) -> int:
  """The generator's latent size; errors for generators that do not take a latent vector."""
  shape = jax.eval_shape(lambda key: run.family.latents(key, 1), jax.random.PRNGKey(0)).shape
  if len(shape) != 2:
    raise ConfigError(f"the {run.config.family!r} generator takes latents of shape {shape[1:]}, "
                     "not a vector; the latent tools need (N, z_dim) latents")
  return shape[1]


def seed_latents(run: Any, seed: int, num: int) -> np.ndarray:
  """`num` latents from the prior, drawn with PRNGKey(seed)."""
  return np.asarray(run.family.latents(jax.random.PRNGKey(seed), num), np.float32)


def load_latents(run: Any, spec: str, num: int = 1) -> np.ndarray:
  """(N, z_dim) float32 from a seed ('3': `num` draws) or 'FILE.npz' / 'FILE.npz:ROW'."""
  spec = spec.strip()
  if spec.lstrip("-").isdigit():
    return seed_latents(run, int(spec), num)
  path, row = spec, None
  if ":" in spec and spec.rsplit(":", 1)[1].isdigit():
    path, row = spec.rsplit(":", 1)[0], int(spec.rsplit(":", 1)[1])
  if not paths.resolve(path).is_file():
    raise ConfigError(f"latent source {spec!r} is neither a seed nor an existing .npz file")
  saved = paths.load_npz(path)
  if "latents" not in saved:
    raise ConfigError(f"{path} has no array 'latents' (has {list(saved)})")
  latents = np.asarray(saved["latents"], np.float32)
  latents = latents.reshape(1, -1) if latents.ndim == 1 else latents
  z_dim = latent_dim(run)
  if latents.ndim != 2 or latents.shape[1] != z_dim:
    raise ConfigError(f"{path}: latents of shape {latents.shape}; this run needs (N, {z_dim})")
  if row is not None:
    if not 0 <= row < len(latents):
      raise ConfigError(f"{spec}: row {row} out of range (the file has {len(latents)} latents)")
    latents = latents[row:row + 1]
  return latents


def shell_radius(z_dim: int) -> float:
  """Where N(0, I_d) draws concentrate: |z| ~ sqrt(d)."""
  return math.sqrt(z_dim)


def project_to_shell(z: jax.Array) -> jax.Array:
  """Rescale each row of (N, d) to norm sqrt(d)."""
  norm = jnp.linalg.norm(z, axis=-1, keepdims=True)
  return z * (jnp.sqrt(float(z.shape[-1])) / jnp.maximum(norm, 1e-12))


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Straight line: (T,) fractions -> (T, d)."""
  t = jnp.asarray(t, jnp.float32)[:, None]
  return (1.0 - t) * a[None] + t * b[None]


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical: directions along the great circle, norms linearly: (T,) -> (T, d).

  Endpoints are exact; with |a| = |b| every point has that norm (a straight line between two
  prior draws dips towards the origin, where the generator has rarely been). Falls back to a
  normalised straight line when a and b are (anti)parallel within float precision.
  """
  t = jnp.asarray(t, jnp.float32)[:, None]
  norm_a, norm_b = jnp.linalg.norm(a), jnp.linalg.norm(b)
  u, v = a / norm_a, b / norm_b
  omega = jnp.arccos(jnp.clip(jnp.dot(u, v), -1.0, 1.0))
  sin_omega = jnp.sin(omega)
  safe = sin_omega > 1e-6
  denominator = jnp.where(safe, sin_omega, 1.0)
  spherical = (jnp.sin((1.0 - t) * omega) * u + jnp.sin(t * omega) * v) / denominator
  straight = (1.0 - t) * u + t * v
  straight = straight / jnp.maximum(jnp.linalg.norm(straight, axis=-1, keepdims=True), 1e-12)
  direction = jnp.where(safe, spherical, straight)
  return direction * ((1.0 - t) * norm_a + t * norm_b)


def interpolate(a: np.ndarray, b: np.ndarray, frames: int, method: str = "slerp") -> np.ndarray:
  """`frames` latents from a to b inclusive, (frames, d)."""
  if method not in METHODS:
    raise ConfigError(f"method={method!r}; valid: {list(METHODS)}")
  if frames < 2:
    raise ConfigError("frames must be >= 2 (the two endpoints)")
  t = jnp.linspace(0.0, 1.0, frames)
  path = jax.jit(slerp if method == "slerp" else lerp)(jnp.asarray(a), jnp.asarray(b), t)
  return np.asarray(path)


# -- images and scores ------------------------------------------------------------------------
def generate(run: Any, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """uint8 (N, H, W, C) images of the latents (generator in evaluation mode)."""
  return sampling.images_from_latents(jax.jit(run.family.generate), run.state, latents,
                                      batch_size)


def _latent_score_fn(run: Any, scorer: scoring.Scorer):
  def score(state, params, z):
    return scorer.fn(params, run.family.generate(state, z))
  return score


def score_latents(run: Any, scorer: scoring.Scorer, latents: np.ndarray,
                  batch_size: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Scores (N,) of the latents' images, and the scorer's named details (each (N,))."""
  def both(state, params, z):
    images = run.family.generate(state, z)
    details = scorer.details(params, images) if scorer.details else {}
    return scorer.fn(params, images), details

  fn = jax.jit(both)
  scores, details = [], []
  for i in range(0, len(latents), batch_size):
    s, d = fn(run.state, scorer.params, jnp.asarray(latents[i:i + batch_size]))
    scores.append(np.asarray(s))
    details.append(jax.tree_util.tree_map(np.asarray, d))
  merged = {k: np.concatenate([d[k] for d in details]) for k in details[0]} if details else {}
  return np.concatenate(scores), merged


@dataclasses.dataclass
class SearchResult:
  latents: np.ndarray  # (k, d), best first
  scores: np.ndarray  # (k,)
  indices: np.ndarray  # (k,) positions among the M draws
  all_scores: np.ndarray  # (M,)
  details: dict[str, np.ndarray]  # name -> (k,)


def search(run: Any, scorer: scoring.Scorer, num: int, top_k: int, seed: int = 0,
           batch_size: int = 256) -> SearchResult:
  """Draw `num` latents with PRNGKey(seed), score their images, keep the `top_k` best."""
  if not 1 <= top_k <= num:
    raise ConfigError(f"top_k={top_k} must be in 1..num={num}")
  latents = seed_latents(run, seed, num)
  scores, details = score_latents(run, scorer, latents, batch_size)
  order = scoring.top_indices(scores, top_k)
  return SearchResult(latents=latents[order], scores=scores[order], indices=order,
                      all_scores=scores, details={k: v[order] for k, v in details.items()})


@dataclasses.dataclass
class OptimizeResult:
  latents: np.ndarray  # (N, d): the best latents seen on the way (on the shell if projected)
  scores: np.ndarray  # (N,) their scores
  start_latents: np.ndarray  # (N, d) as given
  start_scores: np.ndarray  # (N,) of the given start latents
  history: np.ndarray  # (steps + 1, N): score after 0, 1, ..., steps updates


def optimize(run: Any, scorer: scoring.Scorer, start: np.ndarray, steps: int = 200,
             lr: float = 0.05, project: bool = True) -> OptimizeResult:
  """Gradient ascent (Adam) on the score of each latent's image, one jitted scan.

  With `project`, the start is first moved onto the sphere |z| = sqrt(z_dim) and every update is
  followed by the same projection. Each latent is optimised independently (the objective is a
  sum over latents and Adam is per coordinate); the best point of each trajectory is returned.
  """
  score = _latent_score_fn(run, scorer)
  tx = optax.adam(lr)
  constrain = project_to_shell if project else (lambda z: z)

  def run_ascent(state, params, z0):
    def objective(z):
      s = score(state, params, z)
      return -jnp.sum(s), s

    z = constrain(z0)

    def body(carry, _):
      z, opt_state, best_z, best_s = carry
      grads, s = jax.grad(objective, has_aux=True)(z)
      better = s > best_s
      best_z = jnp.where(better[:, None], z, best_z)
      best_s = jnp.where(better, s, best_s)
      updates, opt_state = tx.update(grads, opt_state, z)
      return (constrain(optax.apply_updates(z, updates)), opt_state, best_z, best_s), s

    init = (z, tx.init(z), z, jnp.full(z.shape[:1], -jnp.inf))
    (z, _, best_z, best_s), history = jax.lax.scan(body, init, None, length=steps)
    final = score(state, params, z)
    better = final > best_s
    best_z = jnp.where(better[:, None], z, best_z)
    best_s = jnp.where(better, final, best_s)
    return best_z, best_s, jnp.concatenate([history, final[None]])

  start = np.asarray(start, np.float32)
  best_z, best_s, history = jax.jit(run_ascent)(run.state, scorer.params, jnp.asarray(start))
  start_scores = np.asarray(jax.jit(score)(run.state, scorer.params, jnp.asarray(start)))
  return OptimizeResult(latents=np.asarray(best_z), scores=np.asarray(best_s),
                        start_latents=start, start_scores=start_scores,
                        history=np.asarray(history))


# -- files ------------------------------------------------------------------------------------
def write_gif(path: str, frames: np.ndarray, frame_ms: int = 120, scale: int = 0,
              pingpong: bool = True) -> None:
  """uint8 (T, H, W, C) frames as a looping GIF, nearest-upscaled so small images stay visible."""
  scale = scale or max(1, math.ceil(128 / frames.shape[1]))
  sequence = list(frames) + (list(frames[-2:0:-1]) if pingpong else [])
  images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in sequence]
  images = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in images]
  buffer = io.BytesIO()
  images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                 duration=frame_ms, loop=0)
  paths.write_bytes(path, buffer.getvalue())


def _write_json(path: str, payload: dict[str, Any]) -> None:
  paths.write_text(path, json.dumps(payload, indent=2))


def _run_info(run: Any) -> dict[str, Any]:
  return {"workdir_step": run.step, "family": run.config.family,
          "class_labels": list(run.family.class_labels)}


def run_interpolate(run: Any, out: str, start: str, end: str, frames: int,
                    methods: Sequence[str], frame_ms: int = 120, gif_scale: int = 0,
                    batch_size: int = 256) -> dict[str, str]:
  """Strips (PNG), GIFs and the latents (.npz) for each method; returns {name: path}."""
  a, b = load_latents(run, start, 1), load_latents(run, end, 1)
  for spec, z in ((start, a), (end, b)):
    if len(z) != 1:
      raise ConfigError(f"{spec!r} holds {len(z)} latents; pick one with FILE.npz:ROW")
  paths.makedirs(out)
  written = {}
  for method in methods:
    path = interpolate(a[0], b[0], frames, method)
    images = generate(run, path, batch_size)
    stem = os.path.join(out, f"interpolate_{method}")
    imaging.save_png(stem + ".png", imaging.image_grid(images, columns=len(images)))
    write_gif(stem + ".gif", images, frame_ms, gif_scale)
    paths.save_npz(stem + ".npz", latents=path, norms=np.linalg.norm(path, axis=1))
    written.update({f"{method}_png": stem + ".png", f"{method}_gif": stem + ".gif",
                    f"{method}_npz": stem + ".npz"})
  _write_json(os.path.join(out, "interpolate.json"), dict(
      _run_info(run), start=start, end=end, frames=frames, methods=list(methods)))
  return written


def run_search(run: Any, scorer: scoring.Scorer, out: str, num: int, top_k: int, seed: int,
               batch_size: int = 256) -> SearchResult:
  """top_k.png (best first, row-major), top_k.json (scores), top_k.npz (latents)."""
  result = search(run, scorer, num, top_k, seed, batch_size)
  paths.makedirs(out)
  images = generate(run, result.latents, batch_size)
  imaging.save_png(os.path.join(out, "top_k.png"), imaging.image_grid(images))
  paths.save_npz(os.path.join(out, "top_k.npz"), latents=result.latents, scores=result.scores,
                 indices=result.indices, seed=np.asarray(seed), images=images)
  all_scores = result.all_scores
  _write_json(os.path.join(out, "top_k.json"), dict(
      _run_info(run), scorer=scorer.name, scorer_description=scorer.description, seed=seed,
      num=num, top_k=top_k, grid_order="best first, row-major",
      all_scores_summary={"max": float(all_scores.max()), "median": float(np.median(all_scores)),
                          "min": float(all_scores.min())},
      top=[dict(rank=r, index=int(i), score=float(s),
                **{k: float(v[r]) for k, v in result.details.items()})
           for r, (i, s) in enumerate(zip(result.indices, result.scores))]))
  return result


def run_optimize(run: Any, scorer: scoring.Scorer, out: str, start: str, num: int, steps: int,
                 lr: float, project: bool, batch_size: int = 256) -> OptimizeResult:
  """before.png, after.png, before_after.png (top row before), optimized.npz/.json."""
  result = optimize(run, scorer, load_latents(run, start, num), steps, lr, project)
  paths.makedirs(out)
  before = generate(run, result.start_latents, batch_size)
  after = generate(run, result.latents, batch_size)
  imaging.save_png(os.path.join(out, "before.png"), imaging.image_grid(before))
  imaging.save_png(os.path.join(out, "after.png"), imaging.image_grid(after))
  imaging.save_png(os.path.join(out, "before_after.png"),
                   imaging.image_grid(np.concatenate([before, after]), columns=len(before)))
  paths.save_npz(os.path.join(out, "optimized.npz"), latents=result.latents,
                 scores=result.scores, start_latents=result.start_latents,
                 start_scores=result.start_scores, history=result.history, images=after,
                 start_images=before)
  _write_json(os.path.join(out, "optimized.json"), dict(
      _run_info(run), scorer=scorer.name, start=start, steps=steps, lr=lr, project=project,
      shell_radius=shell_radius(result.latents.shape[1]),
      start_scores=result.start_scores.tolist(), scores=result.scores.tolist(),
      start_norms=np.linalg.norm(result.start_latents, axis=1).tolist(),
      norms=np.linalg.norm(result.latents, axis=1).tolist()))
  return result
