r"""Train the 1-D toy GAN with both generator losses and compose write-up 004's figure.

  python benchmarks/toy1d_figure.py --workdir=runs/toy1d_figure --out=runs/toy1d_figure.png

Trains configs/toy1d.py:nonsaturating and configs/toy1d.py:minimax one after the other (same
seed, same data, same initial networks; only the generator loss differs) into WORKDIR/<loss>/
(a finished run is not retrained: the loop resumes and finds nothing to do), then lays their
`distributions` pictures out as one PNG: a row per loss, the picture after epoch 1 (step
`sample_every`, 20,000 examples) on the left and after training on the right. It prints each
run's wall time, the machine's load, and W1, mode coverage and D(fake) at both steps, read back
from the run's TensorBoard events. Extra `--set field=value` overrides apply to both runs.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pegasus_jax import imaging, train  # noqa: E402
from pegasus_jax.families.toy1d import FIGURE_NAME  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOSSES = ("minimax", "nonsaturating")  # top row, bottom row (the write-up's order)
REPORTED = ("eval/wasserstein1", "eval/mode_coverage", "d_fake", "g_grad_norm")


def load_config(variant: str, overrides: list[str]):
  """configs/toy1d.py:<variant> with `field=value` overrides (values as Python literals)."""
  spec = importlib.util.spec_from_file_location("toy1d_config",
                                                os.path.join(REPO, "configs", "toy1d.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(variant)
  for item in overrides:
    name, _, value = item.partition("=")
    *parents, leaf = name.split(".")
    target = config
    for parent in parents:
      target = target[parent]
    try:
      target[leaf] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      target[leaf] = value
  return config


def read_scalars(workdir: str, names: tuple[str, ...]) -> dict[str, dict[int, float]]:
  """{name: {step: value}} from the TensorBoard event files of a run (clu writes tensors)."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top
  accumulator = event_accumulator.EventAccumulator(
      workdir, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
  accumulator.Reload()
  tags = accumulator.Tags()
  out: dict[str, dict[int, float]] = {}
  for name in names:
    if name in tags.get("tensors", []):
      out[name] = {e.step: float(tensor_util.make_ndarray(e.tensor_proto))
                   for e in accumulator.Tensors(name)}
    elif name in tags.get("scalars", []):
      out[name] = {e.step: float(e.value) for e in accumulator.Scalars(name)}
  return out


def nearest_logged(values: dict[int, float], step: int) -> tuple[int, float]:
  """The value logged at `step`, or at the closest earlier step (metrics log every log_every)."""
  earlier = [s for s in values if s <= step]
  chosen = max(earlier) if earlier else min(values)
  return chosen, values[chosen]


def compose(panels: list[list[np.ndarray]], column_titles: list[str]) -> np.ndarray:
  """Rows of equally sized uint8 pictures under a header line of column titles."""
  height, width = panels[0][0].shape[:2]
  header = 28
  canvas = Image.new("RGB", (width * len(panels[0]), header + height * len(panels)), "white")
  draw = ImageDraw.Draw(canvas)
  try:
    font = ImageFont.load_default(size=18)
  except TypeError:  # Pillow < 10.1: the fixed-size bitmap font
    font = ImageFont.load_default()
  for column, title in enumerate(column_titles):
    draw.text((column * width + width // 2, header // 2), title, fill="black", font=font,
              anchor="mm")
  for row, pictures in enumerate(panels):
    for column, picture in enumerate(pictures):
      canvas.paste(Image.fromarray(picture), (column * width, header + row * height))
  return np.asarray(canvas)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", default="runs/toy1d_figure")
  parser.add_argument("--out", default="runs/toy1d_figure.png")
  parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                      help="config override for both runs, e.g. --set seed=1")
  args = parser.parse_args()

  panels, lines = [], []
  for loss in LOSSES:
    config = load_config(loss, args.set)
    workdir = os.path.join(args.workdir, loss)
    start = time.time()
    train.train_and_evaluate(config, workdir)
    seconds = time.time() - start
    load = os.getloadavg()[0]
    epoch_step, last_step = config.sample_every, config.total_steps
    pictures = [np.asarray(Image.open(os.path.join(workdir, FIGURE_NAME,
                                                   f"step_{step:07d}.png")).convert("RGB"))
                for step in (epoch_step, last_step)]
    panels.append(pictures)
    scalars = read_scalars(workdir, REPORTED)
    lines.append(f"{loss}: {seconds:.1f} s wall (this call; 1-min load {load:.1f})")
    for step in (epoch_step, last_step):
      values = []
      for name in REPORTED:
        if name in scalars and scalars[name]:
          logged, value = nearest_logged(scalars[name], step)
          values.append(f"{name}={value:.4g}" + ("" if logged == step else f"@{logged}"))
      lines.append(f"  step {step}: " + ", ".join(values))
  figure = compose(panels, [f"after epoch 1 (step {epoch_step})",
                            f"after training (step {last_step})"])
  imaging.save_png(args.out, figure)
  print("\n".join(lines))
  print(f"wrote {args.out} ({figure.shape[1]}x{figure.shape[0]})")


if __name__ == "__main__":
  main()
