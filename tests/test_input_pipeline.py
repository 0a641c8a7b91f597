"""benchmarks/input_pipeline.py: which configs it measures, with what data, and its host timer."""

from __future__ import annotations

import pathlib
import sys
import time

import ml_collections
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import input_pipeline  # noqa: E402  # benchmarks/input_pipeline.py


def test_every_shipped_config_and_variant_once():
  rows = input_pipeline.shipped_configs(str(REPO / "configs"), None)
  names = [name for row_names, _ in rows for name in row_names]
  stems = {p.stem for p in (REPO / "configs").glob("*.py")}
  assert {name.split(":")[0] for name in names} == stems
  assert {"jointgan", "jointgan:cpu", "jointgan:resnet", "classifier:mnist_colour",
          "cyclegan_mnist:svhn_cpu"} <= set(names)
  # toy1d's default, :cpu and :nonsaturating are one config; :minimax differs.
  merged = [row_names for row_names, _ in rows if "toy1d" in row_names]
  assert merged == [["toy1d", "toy1d:cpu", "toy1d:nonsaturating"]]
  assert any(row_names == ["toy1d:minimax"] for row_names, _ in rows)
  only = input_pipeline.shipped_configs(str(REPO / "configs"), ["dcgan_cifar"])
  assert [row_names for row_names, _ in only] == [["dcgan_cifar"], ["dcgan_cifar:cpu"]]
  assert only[0][1].batch_size == 16  # the config's own default batch size


def test_variants_from_the_refusal_message():
  class Listed:
    @staticmethod
    def get_config(arg=None):
      if arg not in (None, "cpu", "big"):
        raise ValueError(f"unknown variant {arg!r} of configs/x.py; valid: '', 'cpu', 'big'")

  class Silent:
    @staticmethod
    def get_config(arg=None):
      return None

  assert input_pipeline.variants(Listed) == ["", "cpu", "big"]
  assert input_pipeline.variants(Silent) == [""]


def test_data_paths_point_at_the_given_folders_and_never_download():
  config = ml_collections.ConfigDict({"data": {
      "data_dir": None, "download": True, "path": "../shared/images/pokemon",
      "domain_b": {"path": None}}})
  moved = input_pipeline.with_data_paths(config, "/tfds", "/shared/images")
  assert moved.data.data_dir == "/tfds" and moved.data.download is False
  assert moved.data.path == "/shared/images/pokemon" and moved.data.domain_b.path is None
  assert config.data.download is True  # the original is left alone


def test_measure_step_only_for_cpu_variants_by_default():
  assert input_pipeline.measure_step(["jointgan:cpu"], "cpu")
  assert input_pipeline.measure_step(["cyclegan_mnist:svhn_cpu"], "cpu")
  assert not input_pipeline.measure_step(["jointgan", "jointgan:resnet"], "cpu")
  assert input_pipeline.measure_step(["jointgan"], "all")
  assert not input_pipeline.measure_step(["jointgan:cpu"], "none")


class _SlowSampler:
  """A sampler that takes `delay` seconds per batch."""

  def __init__(self, delay: float):
    self.delay = delay

  def batch(self, step: int) -> dict[str, np.ndarray]:
    time.sleep(self.delay)
    return {"x": np.full((4, 1), step, np.float32)}


def test_host_rate_is_bounded_by_the_sampler():
  import jax
  from pegasus_jax.data.spec import FieldSpec
  from pegasus_jax.run import runtime

  mesh = runtime.make_mesh(jax.devices()[:1])
  shardings = runtime.batch_shardings(mesh, {"x": FieldSpec((4, 1), "float32")})
  rate = input_pipeline.time_host(_SlowSampler(0.02), shardings, depth=2, warmup=1,
                                  seconds=0.3)
  assert 0 < rate <= 1 / 0.02  # never faster than the sampler can make batches
  spec = {"real": FieldSpec((2, 8, 4, 4, 3), "float32", batch_axis=1),
          "label": FieldSpec((8,), "int32")}
  assert input_pipeline.real_per_step(spec) == 16
