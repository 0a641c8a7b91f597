r"""JAX vs PyTorch (eager and torch.compile): one full GAN training step of the same networks.

  pip install -e '.[bench]'     # torch: a benchmark extra, never a test dependency
  python benchmarks/compare_torch.py [--k=1,2,4,10] [--batch=64] [--steps=5] [--warmup=2]
                                     [--configs=jointgan,dcgan_cifar,sngan_cifar]
                                     [--torch_device=cpu|cuda] [--no_torch_compile]

Why: speed claims against PyTorch must be reproducible here, on the same machine, batch and
thread count, with networks whose parameter counts are checked equal, in total and tensor by tensor (the
sorted element counts of the trainable weights and biases; buffers such as batch-norm running
statistics and spectral norm's vectors are outside Flax's `params` too, so they are not counted).

For each row the JAX side is the project's own family built from the config (`train_step`
jitted, state donated, the batch already on the device); the PyTorch side is the same networks
written as a PyTorch user would (nn.Conv2d / nn.ConvTranspose2d / spectral_norm, NCHW, eager),
doing the same work (config.loss: non-saturating or hinge): `n_disc` updates of each of the K discriminators in a Python loop (one
Adam each), then one generator update (Adam) against the sum of the K losses, with the
discriminators' weights frozen for it (JAX differentiates the generator's loss with respect to
the generator only), then, where the config has an EMA generator, its update. The two frameworks alternate step by step, so both see the same machine
load; each step is timed on its own (JAX: until `block_until_ready`) and the median is reported.
torch.set_num_threads(os.cpu_count()); XLA:CPU uses every core by itself. On a GPU
(`--torch_device=cuda`, the default where CUDA is available; JAX then uses the same GPU) the
PyTorch side runs on it with cudnn.benchmark on, as a speed-minded PyTorch user would set it, and
each of its steps is timed until `torch.cuda.synchronize()`.

The `tc` columns are a third side, the same PyTorch step with G and every D wrapped in
`torch.compile` (default mode; the optimisers stay eager), the anchor a speed-minded PyTorch
user would pick; it alternates with the other two. Its first step (the compile) is timed
apart. Where torch.compile is missing or fails (no C++ compiler, no Triton, a Dynamo error) the
row prints why and the other columns stand; `--no_torch_compile` skips it.

Rows: `jointgan` is configs/jointgan.py (32x32, widths 64, z 128, spectral-norm D, one per
class) for every K of --k; `dcgan_cifar` is configs/dcgan_cifar.py (batch-norm D, leaky ReLU in
both networks, z 100), K = 1; `sngan_cifar` is configs/sngan_cifar.py (the SN-GAN ResNet: G 256
channels with BatchNorm2d, D 128 channels with spectral norm and the optimised first block,
nearest upsampling, average pooling, hinge loss, n_disc 5), K = 1. Where a 1x1 shortcut conv
commutes with the resampling, both sides run it at the low resolution (the JAX networks do), so
the ratio compares frameworks, not algebra. The PyTorch side keeps Adam's learning rate
constant where the config anneals it (a negligible cost either way). To add a row, write a torch
builder with the signature of `torch_dcgan` and add one `Row` to ROWS; the JAX side comes from
the config.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from pegasus_jax.models import conv_forms  # noqa: E402

try:
  import torch
  from torch import nn
  from torch.nn import functional as F
  from torch.nn.utils.parametrizations import spectral_norm
except ImportError:  # pragma: no cover - the message is the point
  sys.exit("compare_torch.py needs PyTorch: pip install -e '.[bench]'")


def load_config(spec: str) -> ml_collections.ConfigDict:
  """configs/NAME.py[:variant] -> its ConfigDict (the same files the training CLI reads)."""
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("bench_config", os.path.join(REPO, path))
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


# -- JAX side ------------------------------------------------------------------------------------
def make_jax_family(config: ml_collections.ConfigDict, labels: tuple[str, ...]) -> Any:
  """The project's family for `config`: the one line to change if its constructor changes."""
  from pegasus_jax import families  # pylint: disable=g-import-not-at-top
  from pegasus_jax.data.spec import DataInfo  # pylint: disable=g-import-not-at-top
  size, channels = config.data.image_size, config.data.channels
  return families.create(config, DataInfo(labels, {"image": (size, size, channels)}))


@dataclasses.dataclass
class JaxRunner:
  """A jitted `train_step` with its state and a fixed on-device batch; `step()` runs and syncs."""

  step_fn: Callable
  state: Any
  batch: dict[str, jax.Array]
  g_params: int
  d_params: int
  g_sizes: list[int]
  d_sizes: list[int]

  def step(self) -> None:
    self.state, metrics = self.step_fn(self.state, self.batch)
    jax.block_until_ready((self.state, metrics))


def count(tree: Any) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def tensor_sizes(tree: Any) -> list[int]:
  """Sorted element counts of the tree's arrays: one per layer weight or bias (the K stacked
  discriminators' arrays hold all K of them), a layout-free fingerprint of the layer shapes."""
  return sorted(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def build_jax(config: ml_collections.ConfigDict, real: np.ndarray) -> JaxRunner:
  """The family's train step, jitted as the training loop does on one device (state donated)."""
  labels = tuple(f"class{i}" for i in range(real.shape[0]))
  family = make_jax_family(config, labels)
  state = jax.jit(family.init)(jax.random.PRNGKey(config.seed))
  step_fn = jax.jit(family.train_step, donate_argnums=(0,))
  batch = {"real": jax.device_put(real)}
  return JaxRunner(step_fn, state, batch, count(state.g_params), count(state.d_params),
                   tensor_sizes(state.g_params), tensor_sizes(state.d_params))


# -- PyTorch side: the same networks -------------------------------------------------------------
def _activation(name: str, slope: float) -> nn.Module:
  return nn.LeakyReLU(slope) if name == "leaky_relu" else nn.ReLU()


class TorchGenerator(nn.Module):
  """models.dcgan.Generator in PyTorch: z -> Linear -> 4x4 -> (ConvT 4/2/1 + BN + act)* -> tanh."""

  def __init__(self, model: ml_collections.ConfigDict):
    super().__init__()
    blocks = int(math.log2(model.image_size // 4))
    self.features = model.g_width * 2 ** (blocks - 1)
    act = lambda: _activation(model.g_activation, model.leaky_slope)  # noqa: E731
    self.fc = nn.Linear(model.z_dim, 16 * self.features)
    layers: list[nn.Module] = [nn.BatchNorm2d(self.features), act()]
    features = self.features
    for _ in range(blocks - 1):
      layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1),
                 nn.BatchNorm2d(features // 2), act()]
      features //= 2
    layers += [nn.ConvTranspose2d(features, model.channels, 4, 2, 1), nn.Tanh()]
    self.body = nn.Sequential(*layers)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    return self.body(self.fc(z).view(z.shape[0], self.features, 4, 4))


class TorchDiscriminator(nn.Module):
  """models.dcgan.Discriminator in PyTorch: (Conv 4/2/1 [+ BN after the first] + act)* -> Linear."""

  def __init__(self, model: ml_collections.ConfigDict):
    super().__init__()
    norm = model.d_norm
    wrap = spectral_norm if norm == "spectral" else (lambda m: m)
    blocks = int(math.log2(model.image_size // 4))
    layers: list[nn.Module] = []
    features, cin = model.d_width, model.channels
    for block in range(blocks):
      layers.append(wrap(nn.Conv2d(cin, features, 4, 2, 1)))
      if norm == "batch" and block > 0:
        layers.append(nn.BatchNorm2d(features))
      layers.append(_activation(model.d_activation, model.leaky_slope))
      cin, features = features, features * 2
    layers += [nn.Flatten(), wrap(nn.Linear(cin * 16, 1))]
    self.body = nn.Sequential(*layers)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.body(x)[:, 0]


class TorchResGenBlock(nn.Module):
  """sngan_resnet.GeneratorBlock: BN-ReLU-up-conv3x3-BN-ReLU-conv3x3 + shortcut conv1x1-up.

  The shortcut convolves before upsampling, as the JAX block does (a 1x1 conv commutes with
  nearest upsampling): both sides do the same arithmetic, so the ratio measures the frameworks.
  """

  def __init__(self, channels: int):
    super().__init__()
    self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
    self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
    self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
    self.shortcut = nn.Conv2d(channels, channels, 1)
    self.up = nn.Upsample(scale_factor=2, mode="nearest")

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.conv1(self.up(F.relu(self.bn1(x))))
    h = self.conv2(F.relu(self.bn2(h)))
    return h + self.up(self.shortcut(x))


class TorchResGenerator(nn.Module):
  """sngan_resnet.Generator: z -> Linear -> 4x4xG -> up-ResBlocks -> BN-ReLU-conv3x3 -> tanh."""

  def __init__(self, model: ml_collections.ConfigDict):
    super().__init__()
    self.width = model.g_width
    self.fc = nn.Linear(model.z_dim, 16 * self.width)
    blocks = int(math.log2(model.image_size // 4))
    self.blocks = nn.Sequential(*[TorchResGenBlock(self.width) for _ in range(blocks)])
    self.bn = nn.BatchNorm2d(self.width)
    self.out = nn.Conv2d(self.width, model.channels, 3, padding=1)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    x = self.blocks(self.fc(z).view(z.shape[0], self.width, 4, 4))
    return torch.tanh(self.out(F.relu(self.bn(x))))


class TorchResDiscBlock(nn.Module):
  """sngan_resnet.DiscriminatorBlock: [ReLU]-conv3x3-ReLU-conv3x3-[avg-pool] + shortcut.

  `optimized` is SN-GAN's first block (no leading ReLU, a learned shortcut). The learned
  shortcut pools before its 1x1 conv, as the JAX block does (the two commute).
  """

  def __init__(self, cin: int, cout: int, downsample: bool, optimized: bool = False):
    super().__init__()
    self.downsample, self.optimized = downsample, optimized
    self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
    self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
    learned = optimized or downsample or cin != cout
    self.shortcut = spectral_norm(nn.Conv2d(cin, cout, 1)) if learned else None

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.conv2(F.relu(self.conv1(x if self.optimized else F.relu(x))))
    s = x
    if self.downsample:
      h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
    if self.shortcut is not None:
      s = self.shortcut(s)
    return h + s


class TorchResDiscriminator(nn.Module):
  """sngan_resnet.Discriminator: optimised block, down-blocks to 8x8, two plain blocks, ReLU,
  global sum pooling, spectral-norm linear logit."""

  def __init__(self, model: ml_collections.ConfigDict):
    super().__init__()
    width = model.d_width
    downs = int(math.log2(model.image_size // 4)) - 1
    blocks = [TorchResDiscBlock(model.channels, width, downsample=True, optimized=True)]
    blocks += [TorchResDiscBlock(width, width, downsample=True) for _ in range(downs - 1)]
    blocks += [TorchResDiscBlock(width, width, downsample=False) for _ in range(2)]
    self.blocks = nn.Sequential(*blocks)
    self.logit = spectral_norm(nn.Linear(width, 1))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = F.relu(self.blocks(x)).sum(dim=(2, 3))
    return self.logit(h)[:, 0]


@dataclasses.dataclass
class TorchNets:
  generator: nn.Module
  discriminators: list[nn.Module]


def torch_dcgan(config: ml_collections.ConfigDict, num_classes: int) -> TorchNets:
  """The DCGAN-shaped generator and K discriminators of models/dcgan.py (SN or BN)."""
  model = ml_collections.ConfigDict(config.model.to_dict())  # + the data's size and channels
  model.image_size, model.channels = config.data.image_size, config.data.channels
  return TorchNets(TorchGenerator(model), [TorchDiscriminator(model) for _ in range(num_classes)])


def torch_sngan_resnet(config: ml_collections.ConfigDict, num_classes: int) -> TorchNets:
  """The SN-GAN ResNet generator and K discriminators of models/sngan_resnet.py (the paper's
  resampling: nearest upsampling, average pooling; unconditional)."""
  model = config.model
  if (model.upsample, model.downsample) != ("nearest", "avg_pool"):
    raise ValueError("only upsample='nearest', downsample='avg_pool' are written here, not "
                     f"{model.upsample!r}, {model.downsample!r}")
  model = ml_collections.ConfigDict(model.to_dict())
  model.image_size, model.channels = config.data.image_size, config.data.channels
  return TorchNets(TorchResGenerator(model),
                   [TorchResDiscriminator(model) for _ in range(num_classes)])


# config.loss -> (D loss of (real logits, fake logits), G loss of fake logits), per class.
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "nonsaturating": (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
                      lambda f: F.softplus(-f).mean()),
    "hinge": (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()),
}


class TorchRunner:
  """One PyTorch training step, written as a PyTorch user would: K Ds in a Python loop.

  Eager by default; `compiled=True` wraps G and each D in `torch.compile` (default mode), the
  one-line speed-up a PyTorch user reaches for; the optimisers and the loop stay eager.
  """

  def __init__(self, config: ml_collections.ConfigDict, nets: TorchNets, real: np.ndarray,
               device: torch.device = torch.device("cpu"), compiled: bool = False):
    opt = config.optimizer
    betas = (opt.b1, opt.b2)
    self.device = device
    self.g = nets.generator.to(device).train()
    self.ds = [d.to(device).train() for d in nets.discriminators]
    # What the step calls: the modules themselves, or their compiled wrappers (same parameters).
    self.g_call = torch.compile(self.g) if compiled else self.g
    self.d_calls = [torch.compile(d) for d in self.ds] if compiled else self.ds
    self.g_opt = torch.optim.Adam(self.g.parameters(), lr=opt.g_lr, betas=betas)
    self.d_opts = [torch.optim.Adam(d.parameters(), lr=opt.d_lr, betas=betas) for d in self.ds]
    self.n_disc = config.n_disc
    self.z_dim = config.model.z_dim
    # An EMA generator (config.ema.decay > 0): one more averaged copy of G's weights per step.
    self.ema_decay = config.ema.decay
    self.g_weights = [p for p in self.g.parameters() if p.requires_grad]
    self.ema = [p.detach().clone() for p in self.g_weights] if self.ema_decay > 0 else []
    self.batch_norm_d = config.model.d_norm == "batch"
    if config.loss not in LOSSES:
      raise ValueError(f"loss {config.loss!r} is not written here; valid: {sorted(LOSSES)}")
    self.d_loss, self.g_loss = LOSSES[config.loss]
    # (K, n_disc * B, H, W, C) NHWC -> per class, per D step: (B, C, H, W).
    k, nb = real.shape[:2]
    self.b = nb // self.n_disc
    nchw = torch.from_numpy(np.ascontiguousarray(real.transpose(0, 1, 4, 2, 3))).to(device)
    self.real = [[nchw[c, j::self.n_disc].contiguous() for c in range(k)]
                 for j in range(self.n_disc)]
    # Trainable parameters only: batch-norm running statistics and spectral norm's u, v are
    # buffers here, and Flax keeps them outside `params` (batch_stats, spectral).
    self.g_params = sum(p.numel() for p in self.g.parameters() if p.requires_grad)
    self.d_params = sum(p.numel() for d in self.ds for p in d.parameters() if p.requires_grad)
    # The same fingerprint as `tensor_sizes`: a D tensor's size summed over the K copies.
    self.g_sizes = sorted(p.numel() for p in self.g.parameters() if p.requires_grad)
    d_totals: dict[str, int] = {}
    for d in self.ds:
      for name, p in d.named_parameters():
        if p.requires_grad:
          d_totals[name] = d_totals.get(name, 0) + p.numel()
    self.d_sizes = sorted(d_totals.values())

  def _d_logits(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor):
    if self.batch_norm_d:  # real and fake as separate batches (the PyTorch DCGAN recipe)
      return d(real), d(fake)
    logits = d(torch.cat([real, fake]))  # one pass, as the JAX step does without batch norm
    return logits[:real.shape[0]], logits[real.shape[0]:]

  def step(self) -> None:
    for j in range(self.n_disc):
      with torch.no_grad():
        fake = self.g_call(torch.randn(self.b, self.z_dim, device=self.device))
      for c, (d, d_opt) in enumerate(zip(self.d_calls, self.d_opts)):
        d_opt.zero_grad(set_to_none=True)
        real_logits, fake_logits = self._d_logits(d, self.real[j][c], fake)
        loss = self.d_loss(real_logits, fake_logits)
        loss.backward()
        d_opt.step()
    for d in self.ds:
      d.requires_grad_(False)
    self.g_opt.zero_grad(set_to_none=True)
    fake = self.g_call(torch.randn(self.b, self.z_dim, device=self.device))
    g_loss = sum(self.g_loss(d(fake)) for d in self.d_calls)
    g_loss.backward()
    self.g_opt.step()
    if self.ema:
      with torch.no_grad():
        torch._foreach_lerp_(self.ema, self.g_weights, 1.0 - self.ema_decay)
    for d in self.ds:
      d.requires_grad_(True)
    if self.device.type == "cuda":  # eager CUDA work is asynchronous: time it to completion
      torch.cuda.synchronize(self.device)


# -- rows ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Row:
  """A config to benchmark and the PyTorch builder of its networks."""

  config: str
  torch_builder: Callable[[ml_collections.ConfigDict, int], TorchNets]
  multi_class: bool  # whether K follows --k (JointGAN) or is 1 (a class union)


ROWS: dict[str, Row] = {
    "jointgan": Row("configs/jointgan.py", torch_dcgan, multi_class=True),
    "dcgan_cifar": Row("configs/dcgan_cifar.py", torch_dcgan, multi_class=False),
    "sngan_cifar": Row("configs/sngan_cifar.py", torch_sngan_resnet, multi_class=False),
}


def build_compiled(config: ml_collections.ConfigDict, row: Row, k: int, real: np.ndarray,
                   torch_device: torch.device) -> tuple[TorchRunner | None, float, str]:
  """The torch.compile'd runner after its first (compiling) step, its compile seconds, and ''
  or, when torch.compile is missing or fails here (no C++ compiler, no Triton, a Dynamo
  error), None and why: the eager and JAX columns never depend on it."""
  if not hasattr(torch, "compile"):
    return None, 0.0, f"torch {torch.__version__} has no torch.compile"
  try:
    torch.manual_seed(config.seed)
    runner = TorchRunner(config, row.torch_builder(config, k), real, torch_device, compiled=True)
    t0 = time.perf_counter()
    runner.step()
    return runner, time.perf_counter() - t0, ""
  except Exception as e:  # pylint: disable=broad-except  # any failure: report it, keep going
    first_line = (str(e).strip().splitlines() or [""])[0][:300]
    return None, 0.0, f"{type(e).__name__}: {first_line}"


def time_row(config: ml_collections.ConfigDict, row: Row, k: int, steps: int,
             warmup: int, torch_device: torch.device = torch.device("cpu"),
             with_compile: bool = True) -> dict[str, Any]:
  """Build every side on the same batch, check parameter counts, time alternating steps.

  Sides: JAX, PyTorch eager and (with_compile) PyTorch with torch.compile'd networks.
  """
  size, channels = config.data.image_size, config.data.channels
  real = np.random.default_rng(0).uniform(
      -1, 1, (k, config.batch_size * config.n_disc, size, size, channels)).astype(np.float32)
  torch.manual_seed(config.seed)
  jax_side = build_jax(config, real)
  torch_side = TorchRunner(config, row.torch_builder(config, k), real, torch_device)
  if (jax_side.g_params, jax_side.d_params) != (torch_side.g_params, torch_side.d_params):
    raise AssertionError(
        f"parameter counts differ: JAX G {jax_side.g_params:,} D {jax_side.d_params:,}, "
        f"PyTorch G {torch_side.g_params:,} D {torch_side.d_params:,}")
  for net in ("g", "d"):
    jax_sizes, torch_sizes = getattr(jax_side, f"{net}_sizes"), getattr(torch_side, f"{net}_sizes")
    if jax_sizes != torch_sizes:
      raise AssertionError(f"{net.upper()} layer sizes differ (equal totals): JAX {jax_sizes}, "
                           f"PyTorch {torch_sizes}")
  t0 = time.perf_counter()
  jax_side.step()  # compiles
  compile_s = time.perf_counter() - t0
  compiled, compiled_s, compiled_note = (
      build_compiled(config, row, k, real, torch_device) if with_compile
      else (None, 0.0, ""))
  sides = {"jax": jax_side, "torch": torch_side}
  if compiled is not None:
    sides["compiled"] = compiled
  for _ in range(warmup):
    for side in sides.values():
      side.step()
  times: dict[str, list[float]] = {name: [] for name in sides}
  for _ in range(steps):
    for name, side in sides.items():
      t0 = time.perf_counter()
      side.step()
      times[name].append(1000 * (time.perf_counter() - t0))
  return {"g_params": jax_side.g_params, "d_params": jax_side.d_params, "compile_s": compile_s,
          "jax_ms": statistics.median(times["jax"]),
          "torch_ms": statistics.median(times["torch"]),
          "compiled_ms": statistics.median(times["compiled"]) if compiled else None,
          "compiled_compile_s": compiled_s, "compiled_note": compiled_note}


def cpu_model() -> str:
  """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def load_average() -> str:
  return " ".join(f"{x:.2f}" for x in os.getloadavg())


def override_forms(spec: str) -> dict[str, str]:
  """Sets `conv_forms.BEST_FORMS` of the default backend from 'kind=form,...'; returns the table."""
  table = conv_forms.BEST_FORMS.setdefault(jax.default_backend(),
                                           dict(conv_forms.BEST_FORMS["gpu"]))
  for item in filter(None, spec.split(",")):
    kind, _, form = item.partition("=")
    if kind not in conv_forms.FORMS or form not in conv_forms.FORMS[kind]:
      sys.exit(f"--forms: unknown {item!r}; valid: "
               f"{ {k: sorted(v) for k, v in conv_forms.FORMS.items()} }")
    table[kind] = form
  return dict(table)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--k", default="1,2,4,10", help="JointGAN K values, comma-separated")
  parser.add_argument("--batch", type=int, default=64, help="batch size (per class) of every row")
  parser.add_argument("--steps", type=int, default=5, help="timed steps per framework")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compiling")
  parser.add_argument("--configs", default="jointgan,dcgan_cifar,sngan_cifar",
                      help=f"rows, comma-separated, from {sorted(ROWS)}")
  parser.add_argument("--torch_device", default="cuda" if torch.cuda.is_available() else "cpu",
                      choices=("cpu", "cuda"), help="where the PyTorch side runs")
  parser.add_argument("--no_torch_compile", action="store_true",
                      help="skip the torch.compile column (it compiles for minutes on a CPU)")
  parser.add_argument("--forms", default="",
                      help="override this backend's convolution forms before anything is traced, "
                           "e.g. 'up=conv3x3' (a 'before' run); kinds and forms: "
                           "pegasus_jax.models.conv_forms.FORMS")
  args = parser.parse_args()
  forms = override_forms(args.forms)

  threads = os.cpu_count() or 1
  torch.set_num_threads(threads)
  torch_device = torch.device(args.torch_device)
  torch_where = f"{torch.get_num_threads()} threads"
  if torch_device.type == "cuda":
    torch.backends.cudnn.benchmark = True
    torch_where = f"on {torch.cuda.get_device_name(torch_device)}, cudnn.benchmark"
  print(f"machine: {cpu_model()}, {threads} CPUs; load average (1, 5, 15 min) {load_average()}")
  print(f"convolution forms on {jax.default_backend()}: {forms}")
  print(f"jax {jax.__version__} ({jax.default_backend()}: {jax.device_count()} x "
        f"{jax.devices()[0].device_kind}); torch {torch.__version__}, "
        f"{torch_where}; batch {args.batch}; median of {args.steps} steps "
        f"after {args.warmup} warm-up")
  header = (f"{'config':12} {'K':>3} {'batch':>5} {'G params':>10} {'D params':>10} "
            f"{'compile s':>9} {'JAX ms':>8} {'torch ms':>9} {'torch/jax':>9} "
            f"{'tc compile s':>12} {'tc ms':>8} {'tc/jax':>7}")
  print(header)
  print("-" * len(header))
  for name in args.configs.split(","):
    if name not in ROWS:
      sys.exit(f"unknown config {name!r}; valid: {sorted(ROWS)}")
    row = ROWS[name]
    ks = [int(k) for k in args.k.split(",")] if row.multi_class else [1]
    for k in ks:
      config = load_config(row.config)
      config.batch_size = args.batch
      r = time_row(config, row, k, args.steps, args.warmup, torch_device,
                   with_compile=not args.no_torch_compile)
      compiled = (f"{r['compiled_compile_s']:>12.1f} {r['compiled_ms']:>8.1f} "
                  f"{r['compiled_ms'] / r['jax_ms']:>6.2f}x" if r["compiled_ms"] is not None
                  else f"{'-':>12} {'-':>8} {'-':>7}")
      print(f"{name:12} {k:>3} {args.batch:>5} {r['g_params']:>10,} {r['d_params']:>10,} "
            f"{r['compile_s']:>9.1f} {r['jax_ms']:>8.1f} {r['torch_ms']:>9.1f} "
            f"{r['torch_ms'] / r['jax_ms']:>8.2f}x {compiled}", flush=True)
      if r["compiled_note"]:
        print(f"  torch.compile: {r['compiled_note']}", flush=True)
  print(f"load average after: {load_average()}")


if __name__ == "__main__":
  main()
