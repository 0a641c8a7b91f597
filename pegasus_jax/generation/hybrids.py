"""Drawing two-class hybrids (a pegasus: horse + bird) from a trained run with a guide classifier.

Three methods, each steered only by the *guide* classifier (never by the classifier that judges
the result: `benchmarks/pegasus_methods.py` keeps the two apart):

- 'select': draw `candidates` images from the prior, keep the `num` the guide scores best
  (`sampling.select_images`).
- 'guided_latent': Langevin steps in z on prior + discriminator + augmented-guide energy, then
  the same top-`num` selection (`guided_latent.guided_sample`).
- 'blend' (conditional runs): for each candidate latent, the class-embedding blend
  w * class_a + (1 - w) * class_b over a grid of w that the guide scores best
  (`blend_search`), then the top `num` latents.

`default_method` is the table of which method a family gets with `--method=auto`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import jax
import numpy as np

from pegasus_jax.generation import blending, guided_latent, sampling, scoring
from pegasus_jax.run import paths, restore
from pegasus_jax.errors import ConfigError
from pegasus_jax.families.base import ConditionalGenerator, GeneratesFromPrior, require

METHODS = ("select", "guided_latent", "blend")
# --method=auto, by family: the method measured best for it (EVALUATION.md, "Pegasus methods").
# Measured on the CPU JointGAN (EVALUATION.md, "Pegasus methods"): selection doubled the judge's
# mean pegasus score in 41 s; guided latent sampling is slower on a CPU and not yet better there.
DEFAULT_METHODS = {"jointgan": "select", "dcgan": "select", "cgan": "blend"}
FALLBACK_METHOD = "select"  # any other generator of images from a prior


def default_method(family: str) -> str:
  """The method `--method=auto` uses for a run of `family`."""
  return DEFAULT_METHODS.get(family, FALLBACK_METHOD)


@dataclasses.dataclass
class Hybrids:
  """`num` images, best by the guide first, and what the method did to get them."""

  images: np.ndarray  # (num, H, W, C) uint8
  scores: np.ndarray  # (num,) the guide's score of each image
  details: dict[str, np.ndarray]  # the guide's named parts (p/<class>, pegasus), (num,) each
  method: str
  parameters: dict[str, Any]  # the method's settings, JSON-ready
  per_image: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # e.g. blend_weight


# -- blending ---------------------------------------------------------------------------------
@dataclasses.dataclass
class BlendSearch:
  latents: np.ndarray  # (N, d)
  weights: np.ndarray  # (N,) the best w of each latent (w on class a, 1 - w on class b)
  images: np.ndarray  # (N, H, W, C) uint8 at that w
  scores: np.ndarray  # (N,) the guide's score there
  table: np.ndarray  # (len(grid), N): the guide's score of every latent at every w


def blended_images(run: Any, latents: np.ndarray, weights: np.ndarray, batch_size: int = 256
                   ) -> np.ndarray:
  """uint8 images of a conditional run for latents (N, d) and class weights (N, K)."""
  family = run.family
  require(family, ConditionalGenerator, "class blending", run.config.family)
  fn = jax.jit(family.generate_conditional)
  chunks = [sampling.images_from_latents(
      lambda state, z, w=weights[i:i + batch_size]: fn(state, z, w), run.state,
      latents[i:i + batch_size], batch_size) for i in range(0, len(latents), batch_size)]
  return np.concatenate(chunks)


def blend_search(run: Any, guide: scoring.Scorer, latents: np.ndarray, classes: Sequence[str],
                 grid: int = 11, batch_size: int = 256) -> BlendSearch:
  """For each latent, the blend weight w in linspace(0, 1, grid) (w on classes[0], 1 - w on
  classes[1]) whose image the guide scores best; ties go to the first w of the grid."""
  if len(classes) != 2:
    raise ConfigError(f"classes={list(classes)}: blending mixes exactly two classes")
  if grid < 2:
    raise ConfigError(f"blend grid={grid} must be >= 2 (w = 0 and w = 1 at least)")
  labels = tuple(run.family.class_labels)
  a, b = (sampling.class_index(labels, str(name)) for name in classes)
  ws = np.linspace(0.0, 1.0, grid, dtype=np.float32)
  table, images = [], []
  for w in ws:
    weights = blending.pair_weights(len(labels), a, b, np.full(len(latents), w))
    drawn = blended_images(run, latents, weights, batch_size)
    table.append(scoring.score_images(guide, drawn, batch_size)[0])
    images.append(drawn)
  table = np.stack(table)
  best = np.argmax(table, axis=0)
  columns = np.arange(len(latents))
  return BlendSearch(latents=latents, weights=ws[best], images=np.stack(images)[best, columns],
                     scores=table[best, columns], table=table)


# -- all methods ------------------------------------------------------------------------------
def draw_hybrids(run: Any, guide: scoring.Scorer, classes: Sequence[str], num: int,
                 candidates: int, method: str = "auto", seed: int = 0,
                 langevin: guided_latent.LangevinOptions | None = None, blend_grid: int = 11,
                 batch_size: int = 256) -> Hybrids:
  """`num` hybrids of `run` by `method` ('auto': `default_method`), from `candidates` prior
  draws (PRNGKey(seed)). The same arguments give the same images."""
  require(run.family, GeneratesFromPrior, "drawing hybrids", run.config.family)
  if method == "auto":
    method = default_method(run.config.family)
  if method not in METHODS:
    raise ConfigError(f"--method={method!r}; valid: {['auto', *METHODS]}")
  if not 1 <= num <= candidates:
    raise ConfigError(f"--num={num} must be in 1..--candidates={candidates}")
  parameters: dict[str, Any] = {"candidates": candidates, "seed": seed, "classes": list(classes)}
  if method == "select":
    chosen = sampling.select_images(run, guide, num, candidates, seed, batch_size)
    return Hybrids(images=chosen.images, scores=chosen.scores, details=chosen.details,
                   method=method, parameters=parameters,
                   per_image={"candidate_index": chosen.indices})
  if method == "guided_latent":
    langevin = langevin or guided_latent.LangevinOptions()
    sample = guided_latent.guided_sample(run, guide, num, candidates, langevin, seed,
                                         batch_size)
    parameters.update(dataclasses.asdict(langevin),
                      guide_score_mean_before=float(sample.start_scores.mean()),
                      guide_score_mean_after=float(sample.candidate_scores.mean()))
    return Hybrids(images=sample.images, scores=sample.scores, details=sample.details,
                   method=method, parameters=parameters)
  latents = np.asarray(run.family.latents(jax.random.PRNGKey(seed), candidates), np.float32)
  search = blend_search(run, guide, latents, classes, blend_grid, batch_size)
  order = scoring.top_indices(search.scores, num)
  _, details = scoring.score_images(guide, search.images[order], batch_size)
  parameters.update(blend_grid=blend_grid,
                    blend="w on " + str(classes[0]) + ", 1 - w on " + str(classes[1]))
  return Hybrids(images=search.images[order], scores=search.scores[order], details=details,
                 method=method, parameters=parameters,
                 per_image={"blend_weight": search.weights[order], "candidate_index": order})


def report(hybrids: Hybrids, **about: Any) -> dict[str, Any]:
  """The JSON written beside the images: method, parameters and per-image guide numbers."""
  rows = []
  for rank in range(len(hybrids.images)):
    row = {"rank": rank, "guide_score": float(hybrids.scores[rank])}
    row.update({name: float(value[rank]) for name, value in hybrids.details.items()})
    row.update({name: value[rank].item() for name, value in hybrids.per_image.items()})
    rows.append(row)
  return dict(about, method=hybrids.method, parameters=hybrids.parameters,
              order="best by the guide first (row-major in a .png grid)",
              guide_score_mean=float(np.mean(hybrids.scores)), images=rows)


OUT_EXTENSIONS = (".png", ".npz")


def json_path(out: str) -> str:
  """OUT.json beside --out (pegasus.png -> pegasus.json)."""
  return os.path.splitext(out)[0] + ".json"


def check_out(out: str) -> None:
  if os.path.splitext(out)[1].lower() not in OUT_EXTENSIONS:
    raise ConfigError(f"--out={out!r}: use a .png (grid) or .npz (array) file name")


def draw_to_file(workdir: str, guide_workdir: str, out: str, num: int = 64, seed: int = 0,
         method: str = "auto", candidates: int = 1024, classes: Sequence[str] = ("horse", "bird"),
         step: int | None = None, guide_checkpoint: str = "best", batch_size: int = 256,
         langevin: guided_latent.LangevinOptions | None = None, blend_grid: int = 11
         ) -> Hybrids:
  """`python -m pegasus_jax.pegasus`: load the run, draw, write OUT and OUT.json; returns the
  hybrids."""
  check_out(out)
  if num < 1:
    raise ConfigError(f"--num={num} must be >= 1")
  if langevin is not None:
    langevin.check()
  run = restore.load_run(workdir, step)
  options = scoring.parse_scorer_options([], classifier=guide_workdir,
                                         classes=",".join(classes),
                                         classifier_checkpoint=guide_checkpoint)
  guide = scoring.create_scorer("classifier", run, options)
  drawn = draw_hybrids(run, guide, classes, num, candidates, method, seed, langevin,
                               blend_grid, batch_size)
  sampling.write_images(out, drawn.images)
  about: dict[str, Any] = dict(workdir=str(paths.resolve(workdir)), step=run.step,
                               family=run.config.family,
                               guide=[str(paths.resolve(path))
                                      for path in scoring.classifier_workdirs(guide_workdir)],
                               guide_description=guide.description, num=num, images=out)
  paths.write_text(json_path(out), json.dumps(report(drawn, **about), indent=2))
  return drawn
