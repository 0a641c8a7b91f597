"""Shared fixtures: tiny configs and tiny in-memory data, so tests never touch the network."""

from __future__ import annotations

import os
import pathlib
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_TFDS = REPO.parent / "shared" / "tensorflow_datasets"
sys.path.insert(0, str(REPO / "configs"))  # so tests can `import jointgan` config modules


def tiny_config(**overrides):
  """The CPU JointGAN config shrunk to a few-second compile: 8x8 images, widths 4, batch 4."""
  import jointgan  # configs/jointgan.py

  config = jointgan.get_config("cpu")
  config.diffaugment = ""  # the plain step; tests/test_gan_diffaugment.py covers the augmented one
  config.batch_size = 4
  config.total_steps = 4
  config.log_every = 2
  config.sample_every = 2
  config.checkpoint_every = 2
  config.keep_checkpoints = 5
  config.num_sample_images = 4
  config.data.image_size = 8
  config.model.g_width = 4
  config.model.d_width = 4
  config.model.z_dim = 8
  return apply_overrides(config, **overrides)


def apply_overrides(config, **overrides):
  """Set nested fields given as keyword arguments: `model__d_width=8` sets config.model.d_width."""
  for dotted, value in overrides.items():
    target = config
    *parents, leaf = dotted.split("__")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


def random_class_images(num_classes: int = 2, per_class: int = 12, size: int = 8,
                        seed: int = 0) -> list[np.ndarray]:
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 256, (per_class, size, size, 3), dtype=np.uint8)
          for _ in range(num_classes)]


def image_info(labels, size: int = 8, channels: int = 3):
  """The DataInfo a family is built from, for `size`x`size` images of the given classes."""
  from pegasus_jax.data.spec import DataInfo
  return DataInfo(tuple(labels), {"image": (size, size, channels)})


def fake_image_dataset(config, per_class: int = 12, seed: int = 0, transform=None):
  """An in-memory `data.ImageDataset` of random images for `config.data` (the real samplers).

  `transform(step, batch) -> batch` rewrites what the sampler delivers (e.g. NaN batches).
  """
  from pegasus_jax import data
  labels = tuple(str(c) for c in config.data.classes)
  images = random_class_images(len(labels), per_class=per_class, size=config.data.image_size,
                               seed=seed)
  dataset = data.ImageDataset(data.ClassImages(labels, images), config.data.sampler,
                              config.data.random_flip)
  if transform is not None:
    make_sampler = dataset.sampler

    def sampler(*args, **kwargs):
      made = make_sampler(*args, **kwargs)
      original = made.batch
      made.batch = lambda step: transform(step, original(step))
      return made
    dataset.sampler = sampler
  return dataset


@pytest.fixture
def fake_data(monkeypatch):
  """Replace the TFDS read with small random arrays (the samplers and everything after are real)."""
  from pegasus_jax import data

  state = {"transform": None}
  monkeypatch.setattr(data, "load_dataset", lambda config, process_index=0, process_count=1:
                      fake_image_dataset(config, transform=state["transform"]))
  return state


def _run_jax_cache_dir(tmp_path_factory) -> pathlib.Path:
  """One compilation cache folder per pytest run, shared by its pytest-xdist workers.

  Each worker's base temp folder is `<run>/popen-gwN`; their parent is the run's, so the
  workers (and the training subprocesses they start) read what another one compiled. An entry
  read while another process still writes it fails to load: JAX warns and compiles (no error).
  """
  base = tmp_path_factory.getbasetemp()
  root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
  path = root / "jax_cache"
  path.mkdir(exist_ok=True)
  return path


@pytest.fixture(scope="session", autouse=True)
def shared_compilation_cache(tmp_path_factory):
  """A persistent JAX compilation cache for every in-process test of the run.

  Most of the suite's time is XLA compiling the same tiny programs (the tiny JointGAN step,
  its init and sampling) in test after test; with the cache only the first compile of each
  program pays. Tests that set their own cache restore this one afterwards.
  """
  import jax
  from jax.experimental.compilation_cache import compilation_cache

  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
  saved = {name: getattr(jax.config, name) for name in names}
  jax.config.update("jax_compilation_cache_dir", str(_run_jax_cache_dir(tmp_path_factory)))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  compilation_cache.reset_cache()
  yield
  for name, value in saved.items():
    jax.config.update(name, value)
  compilation_cache.reset_cache()


@pytest.fixture(scope="session")
def subprocess_jax_cache(tmp_path_factory) -> dict[str, str]:
  """The run's compilation cache for every test module's training subprocesses.

  The tiny JointGAN compiles in ~35 s on 2 cores; modules that start the same tiny job
  (test_faults, test_object_storage, test_multiprocess) pay that once per run instead of once
  each, whichever worker runs them.
  """
  return {"JAX_COMPILATION_CACHE_DIR": str(_run_jax_cache_dir(tmp_path_factory))}


def save_initial_checkpoint(config, labels, workdir: str, size: int = 8, prepare=None) -> str:
  """`workdir` holding one checkpoint (step 1) of `config`'s family at its initial state, with
  the metadata the training loop saves: a loadable run for tools that need one (a classifier to
  score with) but not a trained one, without compiling a train step.

  `prepare(family, state) -> state` changes the state saved (e.g. a few train steps)."""
  import jax
  from pegasus_jax import families
  from pegasus_jax.run import checkpoint, restore, runtime

  info = image_info(labels, size)
  config.data.classes = tuple(labels)
  config.data.image_size = size
  family = families.create(config, info)
  state = jax.jit(family.init)(runtime.stream_key(config.seed, "init"))
  if prepare is not None:
    state = prepare(family, state)
  store = checkpoint.CheckpointStore(os.path.join(workdir, "checkpoints"), keep=1,
                                     asynchronous=False)
  try:
    store.save(1, state, {"step": 1, "family": config.family,
                          "class_labels": list(family.class_labels),
                          "data_info": restore.data_info_meta(info),
                          "config": checkpoint.config_to_dict(config), "data_position": None})
  finally:
    store.close()
  return workdir


@pytest.fixture(scope="session")
def tiny_classifier_workdir(tmp_path_factory) -> str:
  """An untrained ResNet-8 (width 4) classifier of 8x8 horse, bird, cat images, saved as a run:
  its probabilities vary from image to image, which is all the scorer tests need of it."""
  from test_classifier import tiny_classifier_config
  return save_initial_checkpoint(tiny_classifier_config(), ("horse", "bird", "cat"),
                                 str(tmp_path_factory.mktemp("tiny_classifier")))
