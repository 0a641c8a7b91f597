"""Latent tools on a tiny real checkpoint: slerp/lerp, search top-k, optimisation, output files."""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import image_info, tiny_config
from pegasus_jax import train
from pegasus_jax.generation import latent
from pegasus_jax.generation import scoring
from pegasus_jax.run import restore


def _tiny_folder_config(path: str):
  """JointGAN on a two-sub-folder image folder: 8x8, widths 4, batch 4, 2 steps."""
  return tiny_config(data__name="image_folder", data__path=path,
                     data__classes=("horse", "bird"), total_steps=2, log_every=1, prefetch=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A 2-step JointGAN checkpoint trained through the real loop on a folder of PNGs."""
  root = tmp_path_factory.mktemp("latent")
  rng = np.random.default_rng(0)
  for label in ("horse", "bird"):
    os.makedirs(root / "images" / label)
    for i in range(4):
      Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(
          root / "images" / label / f"{i}.png")
  workdir = str(root / "work")
  train.train_and_evaluate(_tiny_folder_config(str(root / "images")), workdir)
  return restore.load_run(workdir)


def test_slerp_endpoints_and_norms():
  a = jax.random.normal(jax.random.PRNGKey(0), (16,))
  b = 2.0 * jax.random.normal(jax.random.PRNGKey(1), (16,))
  t = jnp.linspace(0.0, 1.0, 7)
  path = np.asarray(latent.slerp(a, b, t))
  np.testing.assert_allclose(path[0], a, atol=1e-5)
  np.testing.assert_allclose(path[-1], b, atol=1e-5)
  norms = np.linalg.norm(path, axis=1)  # linear in t
  np.testing.assert_allclose(norms, (1 - t) * jnp.linalg.norm(a) + t * jnp.linalg.norm(b),
                             rtol=1e-5)
  # Equal norms stay on the sphere; the straight line dips inside it.
  b_same = b * jnp.linalg.norm(a) / jnp.linalg.norm(b)
  on_sphere = np.linalg.norm(latent.slerp(a, b_same, t), axis=1)
  np.testing.assert_allclose(on_sphere, float(jnp.linalg.norm(a)), rtol=1e-5)
  assert np.linalg.norm(latent.lerp(a, b_same, t), axis=1)[3] < 0.9 * on_sphere[3]
  # Consecutive points are equally spaced in angle (constant speed on the circle).
  unit = path / norms[:, None]
  angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
  np.testing.assert_allclose(angles, angles[0], rtol=1e-3)
  # Parallel endpoints: no NaN, the fallback is the scaled straight line.
  parallel = np.asarray(latent.slerp(a, 3.0 * a, t))
  assert np.all(np.isfinite(parallel))
  np.testing.assert_allclose(parallel[-1], 3.0 * a, rtol=1e-5)


def test_lerp_and_interpolate_endpoints():
  a, b = np.zeros(4, np.float32), np.arange(4, dtype=np.float32)
  path = latent.interpolate(a, b, 5, "linear")
  np.testing.assert_allclose(path[2], b / 2)
  with pytest.raises(ValueError, match="frames must be >= 2"):
    latent.interpolate(a, b, 1)


def test_project_to_shell():
  z = jax.random.normal(jax.random.PRNGKey(2), (3, 50)) * 5
  np.testing.assert_allclose(np.linalg.norm(latent.project_to_shell(z), axis=1), math.sqrt(50),
                             rtol=1e-5)


def test_latent_sources(run, tmp_path):
  assert latent.latent_dim(run) == 8
  seeded = latent.load_latents(run, "3", 2)
  np.testing.assert_array_equal(seeded, latent.seed_latents(run, 3, 2))
  np.savez(tmp_path / "z.npz", latents=seeded)
  np.testing.assert_array_equal(latent.load_latents(run, str(tmp_path / "z.npz")), seeded)
  np.testing.assert_array_equal(latent.load_latents(run, f"{tmp_path / 'z.npz'}:1"), seeded[1:])
  with pytest.raises(ValueError, match="row 5 out of range"):
    latent.load_latents(run, f"{tmp_path / 'z.npz'}:5")
  with pytest.raises(ValueError, match="neither a seed nor"):
    latent.load_latents(run, "missing.npz")


def test_discriminators_scorer_is_the_sum_of_log_sigmoids(run):
  scorer = scoring.create_scorer("discriminators", run)

  @jax.jit
  def both(state, z):
    images = run.family.generate(state, z)
    return run.family.discriminator_logits(state, images), scorer.fn(state, images)

  logits, scores = both(run.state, latent.seed_latents(run, 0, 3))
  assert logits.shape == (2, 3)
  expected = np.log(np.prod(jax.nn.sigmoid(logits), axis=0))
  np.testing.assert_allclose(scores, expected, rtol=1e-5)
  with pytest.raises(ValueError, match="use --scorer=discriminators"):
    scoring.create_scorer("discriminator", run)
  with pytest.raises(ValueError, match="unknown; available"):
    scoring.create_scorer("pegasus", run)


def test_single_discriminator_scorer():
  """K = 1 (the DCGAN): same code path, one sigmoid; an untrained state is enough here."""
  from pegasus_jax import families
  config = _tiny_folder_config("unused")
  config.family, config.data.classes = "dcgan", ("all",)
  info = image_info(("all",), config.data.image_size)
  family = families.create(config, info)
  single = restore.TrainedRun(workdir="", config=config, family=family, info=info, state=None,
                              step=0, meta={}, checkpoint_dir="")
  scorer = scoring.create_scorer("discriminator", single)

  @jax.jit  # one compile: init, generate, logits and score
  def both(key, z):
    state = family.init(key)
    images = family.generate(state, z)
    return family.discriminator_logits(state, images)[0], scorer.fn(state, images)

  logits, scores = both(jax.random.PRNGKey(0), jnp.ones((2, 8)))
  np.testing.assert_allclose(scores, jax.nn.log_sigmoid(logits), rtol=1e-5)


def test_search_returns_the_top_k_by_score(run, tmp_path):
  scorer = scoring.create_scorer("discriminators", run)
  result = latent.run_search(run, scorer, str(tmp_path), num=40, top_k=5, seed=1, batch_size=16)
  np.testing.assert_allclose(result.scores, np.sort(result.all_scores)[::-1][:5])
  np.testing.assert_array_equal(result.latents, latent.seed_latents(run, 1, 40)[result.indices])
  rescored, details = latent.score_latents(run, scorer, result.latents)
  np.testing.assert_allclose(rescored, result.scores, rtol=1e-5, atol=1e-6)
  assert set(details) == {"p_real/horse", "p_real/bird"}
  sidecar = json.loads((tmp_path / "top_k.json").read_text())
  assert [t["index"] for t in sidecar["top"]] == result.indices.tolist()
  with np.load(tmp_path / "top_k.npz") as saved:
    np.testing.assert_array_equal(saved["latents"], result.latents)
  assert Image.open(tmp_path / "top_k.png").size == (3 * 10 + 2, 2 * 10 + 2)  # 3x2 grid, 8px


def test_optimisation_increases_the_score_on_the_shell(run, tmp_path):
  scorer = scoring.create_scorer("discriminators", run)
  result = latent.run_optimize(run, scorer, str(tmp_path), start="4", num=4, steps=25, lr=0.1,
                               project=True, batch_size=16)
  assert np.all(result.scores >= result.history[0] - 1e-6)
  assert result.scores.mean() > result.start_scores.mean() + 1e-3
  np.testing.assert_allclose(np.linalg.norm(result.latents, axis=1), math.sqrt(8), rtol=1e-4)
  rescored, _ = latent.score_latents(run, scorer, result.latents)
  np.testing.assert_allclose(rescored, result.scores, rtol=1e-4, atol=1e-5)
  for name in ("before.png", "after.png", "before_after.png", "optimized.npz",
               "optimized.json"):
    assert (tmp_path / name).exists(), name


def test_interpolation_files(run, tmp_path):
  written = latent.run_interpolate(run, str(tmp_path), "0", "1", frames=5,
                                   methods=("slerp", "linear"))
  with Image.open(written["slerp_gif"]) as gif:
    assert gif.n_frames == 8  # 5 forward, 3 back (ping-pong without repeating the ends)
    assert gif.size == (128, 128)
  assert Image.open(written["linear_png"]).size == (5 * 10 + 2, 12)
  with np.load(written["slerp_npz"]) as saved:
    a, b = latent.seed_latents(run, 0, 1)[0], latent.seed_latents(run, 1, 1)[0]
    np.testing.assert_allclose(saved["latents"][0], a, atol=1e-5)
    np.testing.assert_allclose(saved["latents"][-1], b, atol=1e-5)


def test_classifier_scorer_search_and_optimise_with_discriminators(run, tmp_path):
  """A colour classifier (tests/test_scoring.py): search keeps the best by 2 * min(p_horse,
  p_bird), ascent raises it, and disc_weight adds that multiple of the discriminators' score."""
  from test_scoring import channel_classifier
  classifier = channel_classifier(scale=20.0)
  scorer = scoring.classifier_scorer(run, classifier, ["horse", "bird"])
  result = latent.run_search(run, scorer, str(tmp_path), num=24, top_k=4, seed=2, batch_size=8)
  np.testing.assert_allclose(result.scores, np.sort(result.all_scores)[::-1][:4])
  assert set(result.details) == {"p/horse", "p/bird", "pegasus"}
  np.testing.assert_allclose(result.scores, 2 * np.minimum(result.details["p/horse"],
                                                           result.details["p/bird"]), rtol=1e-5)
  with np.load(tmp_path / "top_k.npz") as saved:  # the images, for evaluate --samples
    np.testing.assert_array_equal(saved["images"], latent.generate(run, result.latents))
  optimised = latent.optimize(run, scorer, latent.seed_latents(run, 5, 4), steps=15, lr=0.1)
  assert optimised.scores.mean() > optimised.start_scores.mean() + 1e-3
  mixed = scoring.classifier_scorer(run, classifier, ["horse", "bird"], disc_weight=0.5)
  assert set(mixed.params) == {"classifier", "discriminators"}
  latents = latent.seed_latents(run, 0, 3)
  with_d, details = latent.score_latents(run, mixed, latents)
  pegasus, _ = latent.score_latents(run, scorer, latents)
  log_p_real, _ = latent.score_latents(run, scoring.create_scorer("discriminators", run), latents)
  np.testing.assert_allclose(with_d, pegasus + 0.5 * log_p_real, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(details["log_p_real"], log_p_real, rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match=r"generates images of shape \(8, 8, 3\).*takes "
                     r"\(16, 16, 3\)"):
    scoring.classifier_scorer(run, channel_classifier(size=16), ["horse", "bird"])


def test_classifier_scorer_from_a_classifier_workdir(run, tiny_classifier_workdir, tmp_path):
  """--scorer=classifier --classifier=DIR --classes=horse,bird, as the command line builds it."""
  options = scoring.parse_scorer_options([], classifier=tiny_classifier_workdir,
                                         classes="horse,bird")
  scorer = scoring.create_scorer("classifier", run, options)
  result = latent.run_search(run, scorer, str(tmp_path), num=16, top_k=3, seed=0, batch_size=16)
  assert np.all((result.all_scores >= 0) & (result.all_scores <= 1))
  np.testing.assert_allclose(result.scores, np.sort(result.all_scores)[::-1][:3])
  assert json.loads((tmp_path / "top_k.json").read_text())["scorer"] == "classifier"
  optimised = latent.optimize(run, scorer, result.latents, steps=10, lr=0.1)
  assert optimised.scores.mean() > optimised.start_scores.mean() + 1e-4
  np.testing.assert_allclose(optimised.start_scores, result.scores, rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="'zebra' is not one of the classifier's classes"):
    scoring.create_scorer("classifier", run, dict(options, classes="horse,zebra"))
