r"""Every convolution shape of the shipped configs, in every exact form, against PyTorch's layer.

  python benchmarks/conv_layers.py [--groups=dcgan,dcgan_cpu,sngan,classifier]
                                   [--batch=64,128] [--k=1,2] [--reps=5] [--layers=SUBSTRING]
                                   [--forms=lax,s2d,...] [--no_torch] [--json=PATH]

Why: a training step is mostly convolutions, and XLA:CPU runs some of their passes (transposed
convolutions, kernel gradients of strided ones) far off its fast path; models/conv_forms.py
holds exact rewrites of each. This script times, per layer shape, the forward pass (fwd), the
input gradient alone (dx), the kernel gradient alone (dw) and all three in one jitted call (all,
what a training step does), for:

- every form of `conv_forms.FORMS` for the layer's kind (`lax` is `lax.conv_general_dilated`
  as is; `patches` and `conv3x3` are what sngan_resnet.PatchConv, resampling.DownConv and
  resampling.UpConv computed until now), and fast_cifar's `conv_matmul_grad` (the classifier's
  3x3 convolution with >= 32 input channels);
- PyTorch's own layer (F.conv2d / F.conv_transpose2d and aten.convolution_backward: oneDNN on
  the CPU), NCHW, eager, the anchor (`torch/form` > 1: the form is faster than PyTorch).

Layers: the DCGAN/JointGAN up and down layers at the widths of configs/jointgan.py and its
:cpu variant, the SN-GAN ResNet convolutions of configs/sngan_cifar.py (G 256, D 128; the 3x3
convolutions after nearest upsampling at 8, 16, 32 pixels, the 1x1 shortcuts at the low
resolution), and the fast_cifar classifier's 3x3 convolutions at widths 32 (:fast) and 48
(:judge). `--batch` is the number of images through the layer. Discriminator layers (the
stacked ones in JointGAN) also run at every K of `--k` > 1: each JAX form under `jax.vmap` over
K kernels and K inputs, PyTorch as K separate layer calls (as its K discriminators do).

Timing: forms (and PyTorch) are interleaved op by op, `--reps` rounds, each sample the mean of
enough calls to last about 20 ms; the median is reported. GFLOP/s is the layer's exact
arithmetic (2 * MACs of the convolution, three passes for `all`) over the `all` time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from benchmarks.train_step import load_config  # noqa: E402
from pegasus_jax.families.classifier_recipe import FAST_CIFAR_MULTIPLIERS  # noqa: E402
from pegasus_jax.models import conv_forms, fast_cifar  # noqa: E402

OPS = ("fwd", "dx", "dw", "all")
SAMPLE_S = 0.02


@dataclasses.dataclass(frozen=True)
class Layer:
  """One convolution of a shipped model. `size` is the input's height = width."""

  group: str
  name: str
  kind: str  # conv_forms kind: 'conv' (stride 1, SAME), 'down' (4/2/1), 'up' (transposed 4/2/1)
  size: int
  cin: int
  cout: int
  kernel: int
  stacked: bool  # a discriminator layer: vmapped over K in JointGAN

  @property
  def out_size(self) -> int:
    return {"conv": self.size, "down": self.size // 2, "up": 2 * self.size}[self.kind]

  def shape(self) -> str:
    return f"{self.size}x{self.size}x{self.cin}->{self.out_size}x{self.out_size}x{self.cout}"

  def flops(self, batch: int) -> float:
    """2 * multiply-adds of one pass (a transposed conv: every input pixel meets 16 taps)."""
    pixels = self.size ** 2 if self.kind == "up" else self.out_size ** 2
    return 2.0 * batch * pixels * self.kernel ** 2 * self.cin * self.cout


def dcgan_layers(group: str, config: Any) -> list[Layer]:
  """models/dcgan.py at 32x32: G doubles 4 -> 32 from 4*g_width channels, D halves 32 -> 4."""
  channels, g, d = config.data.channels, config.model.g_width, config.model.d_width
  layers = []
  size, features = 4, 4 * g
  for out in (2 * g, g, channels):
    layers.append(Layer(group, f"G up {size}", "up", size, features, out, 4, False))
    size, features = 2 * size, out
  size, features = 32, channels
  for out in (d, 2 * d, 4 * d):
    layers.append(Layer(group, f"D down {size}", "down", size, features, out, 4, True))
    size, features = size // 2, out
  return layers


def sngan_layers(config: Any) -> list[Layer]:
  """models/sngan_resnet.py at 32x32, nearest / avg-pool resampling (configs/sngan_cifar.py)."""
  g, d, channels = config.model.g_width, config.model.d_width, config.data.channels
  layers = []
  for size in (8, 16, 32):
    layers.append(Layer("sngan", f"G conv3x3 {size}", "conv", size, g, g, 3, False))
  for size in (4, 8, 16):
    layers.append(Layer("sngan", f"G shortcut1x1 {size}", "conv", size, g, g, 1, False))
  layers.append(Layer("sngan", "G out conv3x3 32", "conv", 32, g, channels, 3, False))
  layers.append(Layer("sngan", "D conv3x3 32 first", "conv", 32, channels, d, 3, True))
  for size in (32, 16, 8):
    layers.append(Layer("sngan", f"D conv3x3 {size}", "conv", size, d, d, 3, True))
  layers.append(Layer("sngan", "D shortcut1x1 16 first", "conv", 16, channels, d, 1, True))
  layers.append(Layer("sngan", "D shortcut1x1 8", "conv", 8, d, d, 1, True))
  return layers


def classifier_layers(group: str, width: int) -> list[Layer]:
  """models/fast_cifar.py on 32x32 images: 2x2 whitening to 24 channels at 31x31, then three
  groups of (conv, pool, conv); the whitening (frozen, forward only) is not timed."""
  layers, size, cin = [], 31, 24
  for features in (width * m for m in FAST_CIFAR_MULTIPLIERS):
    layers.append(Layer(group, f"conv3x3 {size} a", "conv", size, cin, features, 3, False))
    size //= 2
    layers.append(Layer(group, f"conv3x3 {size} b", "conv", size, features, features, 3, False))
    cin = features
  return layers


def all_layers() -> dict[str, list[Layer]]:
  config = lambda spec: load_config(os.path.join(REPO, spec))  # noqa: E731
  fast, judge = config("configs/classifier.py:fast"), config("configs/classifier.py:judge")
  return {
      "dcgan": dcgan_layers("dcgan", config("configs/jointgan.py")),
      "dcgan_cpu": dcgan_layers("dcgan_cpu", config("configs/jointgan.py:cpu")),
      "sngan": sngan_layers(config("configs/sngan_cifar.py")),
      "classifier": (classifier_layers(f"classifier{fast.model.width}", fast.model.width)
                     + classifier_layers(f"classifier{judge.model.width}", judge.model.width)),
  }


# -- the forms -----------------------------------------------------------------------------------
def jax_forms(layer: Layer) -> dict[str, Callable]:
  """conv_forms.FORMS[kind] (its `patches` and `conv3x3` are the models' layers until now), and
  for 3x3 convolutions fast_cifar's `conv_matmul_grad` (the classifier's, >= 32 channels)."""
  forms = dict(conv_forms.FORMS[layer.kind])
  if layer.kind == "conv" and layer.kernel == 3:
    forms["conv_matmul_grad"] = fast_cifar.conv_matmul_grad
  return forms


def jax_ops(fn: Callable, stacked: bool) -> dict[str, Callable]:
  """Jitted fwd, dx, dw and all of `fn`, vmapped over a leading K axis when `stacked`."""
  fn = jax.vmap(fn) if stacked else fn

  def input_grad(x, w, g):
    return jax.vjp(lambda x: fn(x, w), x)[1](g)[0]

  def kernel_grad(x, w, g):
    return jax.vjp(lambda w: fn(x, w), w)[1](g)[0]

  def value_and_grads(x, w, g):
    y, vjp = jax.vjp(fn, x, w)
    return (y,) + vjp(g)

  return {"fwd": jax.jit(lambda x, w, g: fn(x, w)), "dx": jax.jit(input_grad),
          "dw": jax.jit(kernel_grad), "all": jax.jit(value_and_grads)}


def torch_ops(layer: Layer, batch: int, k: int) -> dict[str, Callable] | None:
  """PyTorch's layer (K separate calls for a stack) as four no-grad closures, or None."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
    from torch.nn import functional as F  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  torch.manual_seed(0)
  stride, padding = {"conv": (1, layer.kernel // 2), "down": (2, 1), "up": (2, 1)}[layer.kind]
  transposed = layer.kind == "up"
  w_shape = ((layer.cin, layer.cout) if transposed else (layer.cout, layer.cin)) + (layer.kernel,) * 2
  xs = [torch.randn(batch, layer.cin, layer.size, layer.size) for _ in range(k)]
  ws = [torch.randn(w_shape) * 0.05 for _ in range(k)]
  gs = [torch.randn(batch, layer.cout, layer.out_size, layer.out_size) for _ in range(k)]

  def forward(x, w):
    if transposed:
      return F.conv_transpose2d(x, w, stride=stride, padding=padding)
    return F.conv2d(x, w, stride=stride, padding=padding)

  def backward(g, x, w, mask):
    return torch.ops.aten.convolution_backward(g, x, w, None, [stride] * 2, [padding] * 2,
                                               [1, 1], transposed, [0, 0], 1, mask)

  def run(op):
    def call():
      with torch.no_grad():
        for x, w, g in zip(xs, ws, gs):
          if op == "fwd":
            forward(x, w)
          elif op == "dx":
            backward(g, x, w, [True, False, False])
          elif op == "dw":
            backward(g, x, w, [False, True, False])
          else:
            forward(x, w)
            backward(g, x, w, [True, True, False])
    return call

  return {op: run(op) for op in OPS}


def _sample(call: Callable[[], Any]) -> float:
  """Seconds per call: the mean of enough calls to last about SAMPLE_S."""
  t0 = time.perf_counter()
  call()
  first = time.perf_counter() - t0
  n = max(1, int(SAMPLE_S / max(first, 1e-6)))
  t0 = time.perf_counter()
  for _ in range(n):
    call()
  return (time.perf_counter() - t0) / n


def time_layer(layer: Layer, batch: int, k: int, reps: int, forms: set[str] | None,
               use_torch: bool) -> dict[str, dict[str, float]]:
  """Median ms per op for every form (and 'torch'), all interleaved op by op."""
  rng = np.random.default_rng(0)
  lead = (k,) if k > 1 else ()
  x = jnp.asarray(rng.normal(size=lead + (batch, layer.size, layer.size, layer.cin)), jnp.float32)
  w = jnp.asarray(0.05 * rng.normal(size=lead + (layer.kernel, layer.kernel, layer.cin,
                                                 layer.cout)), jnp.float32)
  g = jnp.asarray(rng.normal(size=lead + (batch, layer.out_size, layer.out_size, layer.cout)),
                  jnp.float32)
  calls: dict[str, dict[str, Callable]] = {}
  for name, fn in jax_forms(layer).items():
    if forms and name not in forms:
      continue
    ops = jax_ops(fn, k > 1)
    calls[name] = {op: (lambda f=f: jax.block_until_ready(f(x, w, g))) for op, f in ops.items()}
    for call in calls[name].values():
      call()  # compile
  if use_torch:
    ops = torch_ops(layer, batch, k)
    if ops is not None:
      calls["torch"] = ops
  samples = {name: {op: [] for op in OPS} for name in calls}
  for _ in range(reps):
    for op in OPS:
      for name, ops in calls.items():
        samples[name][op].append(1000 * _sample(ops[op]))
  return {name: {op: statistics.median(v) for op, v in by_op.items()}
          for name, by_op in samples.items()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--groups", default="dcgan,dcgan_cpu,sngan,classifier")
  parser.add_argument("--batch", default="64,128", help="images through each layer")
  parser.add_argument("--k", default="1,2", help="stack sizes for the discriminator layers")
  parser.add_argument("--reps", type=int, default=5)
  parser.add_argument("--layers", default="", help="only layers whose name contains this")
  parser.add_argument("--forms", default="", help="only these JAX forms (comma-separated)")
  parser.add_argument("--no_torch", action="store_true")
  parser.add_argument("--json", default="", help="also write the results here")
  args = parser.parse_args()

  use_torch = not args.no_torch
  if use_torch:
    try:
      import torch  # pylint: disable=g-import-not-at-top
      torch.set_num_threads(os.cpu_count() or 1)
      torch_info = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
      use_torch, torch_info = False, "torch not installed (pip install -e '.[bench]')"
  else:
    torch_info = "torch skipped"
  print(f"jax {jax.__version__} ({jax.default_backend()}); {torch_info}; "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
  layers = all_layers()
  forms = set(args.forms.split(",")) if args.forms else None
  header = (f"{'group':13} {'layer':24} {'shape':22} {'K':>2} {'N':>4} {'form':17} "
            f"{'fwd ms':>8} {'dx ms':>8} {'dw ms':>8} {'all ms':>8} {'GFLOP/s':>8} "
            f"{'torch/form':>10}")
  print(header)
  print("-" * len(header))
  results = []
  for group in args.groups.split(","):
    if group not in layers:
      sys.exit(f"unknown group {group!r}; valid: {sorted(layers)}")
    for layer in layers[group]:
      if args.layers not in layer.name:
        continue
      for batch in (int(b) for b in args.batch.split(",")):
        ks = [int(k) for k in args.k.split(",")] if layer.stacked else [1]
        for k in ks:
          times = time_layer(layer, batch, k, args.reps, forms, use_torch)
          anchor = times.get("torch", {}).get("all")
          for name, t in times.items():
            gflops = 3 * k * layer.flops(batch) / (t["all"] / 1000) / 1e9
            ratio = f"{anchor / t['all']:>9.2f}x" if anchor else f"{'-':>10}"
            print(f"{layer.group:13} {layer.name:24} {layer.shape():22} {k:>2} {batch:>4} "
                  f"{name:17} {t['fwd']:>8.2f} {t['dx']:>8.2f} {t['dw']:>8.2f} "
                  f"{t['all']:>8.2f} {gflops:>8.1f} {ratio}", flush=True)
            results.append(dict(dataclasses.asdict(layer), batch=batch, k=k, form=name, **t))
          jax_best = min((n for n in times if n != "torch"), key=lambda n: times[n]["all"])
          print(f"{'':13} -> fastest JAX form: {jax_best}", flush=True)
  print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


if __name__ == "__main__":
  main()
