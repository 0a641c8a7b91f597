"""The evaluation as a picture: the best and worst pegasus-scored samples, and class shares.

Numbers say how many samples look like a horse-bird blend; the panel shows which ones and what
the classifier thought of them. Row 1: the `count` samples with the highest pegasus score
K * min over the chosen classes of p(class | image), best first; row 2: the `count` lowest,
worst first; each titled with its probabilities of the chosen classes (p_horse / p_bird).
Below: the share of samples the classifier assigns (argmax) to each of its classes, beside the
same share for the real images of the chosen classes (what a generator of horses and birds
would be compared with). Drawn with matplotlib's object API on the Agg canvas (no pyplot
global state, no display), written through `paths` (local or gs://).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pegasus_jax.evaluation import classifier_metrics as cm
from pegasus_jax.run import paths

DPI = 100


@dataclasses.dataclass
class PanelData:
  """What the panel shows, chosen from the per-sample probabilities (no pixels needed)."""

  classes: list[str]  # the chosen classes, in the order of `class_probs`' columns
  top: np.ndarray  # sample indices, highest score first
  bottom: np.ndarray  # sample indices, lowest score first
  scores: np.ndarray  # (N,) every sample's pegasus score
  class_probs: np.ndarray  # (N, len(classes)) p(class | sample) of the chosen classes
  sample_histogram: dict[str, int]  # argmax counts of the samples, every classifier label
  real_histogram: dict[str, int]  # argmax counts of the real images of the chosen classes


def extremes(scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices of the `count` highest scores (best first) and the `count` lowest (worst first).

  Equal scores keep the samples' order, so the choice is deterministic. With fewer than
  2 * count samples the two rows share some.
  """
  scores = np.asarray(scores)
  count = min(count, len(scores))
  top = np.argsort(-scores, kind="stable")[:count]
  bottom = np.argsort(scores, kind="stable")[:count]
  return top, bottom


def panel_data(probs: np.ndarray, labels: Sequence[str], classes: Sequence[str],
               real_histogram: Mapping[str, int], count: int = 8) -> PanelData:
  """The panel's contents from the (N, K) class probabilities of the samples."""
  indices = [list(labels).index(name) for name in classes]
  scores = cm.pegasus_per_sample(probs, indices)
  top, bottom = extremes(scores, count)
  return PanelData(classes=list(classes), top=top, bottom=bottom, scores=scores,
                   class_probs=np.asarray(probs, np.float64)[:, indices],
                   sample_histogram=cm.class_histogram(probs, labels),
                   real_histogram=dict(real_histogram))


def _shares(histogram: Mapping[str, int], labels: Sequence[str]) -> np.ndarray:
  counts = np.asarray([histogram.get(label, 0) for label in labels], np.float64)
  return counts / max(1.0, counts.sum())


def render(images: np.ndarray, data: PanelData, title: str = "") -> Figure:
  """The figure: two rows of samples, then the class-share bar chart."""
  columns = max(len(data.top), 4)
  figure = Figure(figsize=(1.3 * columns, 7.5), dpi=DPI)
  grid = figure.add_gridspec(3, columns, height_ratios=(1.0, 1.0, 1.6), hspace=0.45)
  probability_names = " / ".join(f"p_{name}" for name in data.classes)
  score_name = f"{len(data.classes)}·min({', '.join(f'p_{c}' for c in data.classes)})"
  for row, (chosen, what) in enumerate(((data.top, "highest"), (data.bottom, "lowest"))):
    for column in range(columns):
      axes = figure.add_subplot(grid[row, column])
      axes.set_xticks([])
      axes.set_yticks([])
      if column == 0:
        axes.set_ylabel(f"{what}\n{score_name}", fontsize=7)
      if column >= len(chosen):
        axes.set_axis_off()
        continue
      index = chosen[column]
      image = images[index]
      axes.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                  cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255,
                  interpolation="nearest")
      axes.set_title(" / ".join(f"{p:.2f}" for p in data.class_probs[index]), fontsize=7)
  bars = figure.add_subplot(grid[2, :])
  labels = list(data.sample_histogram)
  x = np.arange(len(labels))
  real_name = "+".join(data.classes)
  bars.bar(x - 0.2, _shares(data.sample_histogram, labels), width=0.4,
           label=f"samples (N = {sum(data.sample_histogram.values())})")
  bars.bar(x + 0.2, _shares(data.real_histogram, labels), width=0.4,
           label=f"real {real_name} (N = {sum(data.real_histogram.values())})")
  bars.set_xticks(x, labels, rotation=30, fontsize=8)
  bars.set_ylabel("share classified as")
  bars.legend(fontsize=8)
  figure.suptitle(f"{title}\nsample titles: {probability_names}" if title
                  else f"sample titles: {probability_names}", fontsize=9)
  return figure


def write_panel(path: str, images: np.ndarray, data: PanelData, title: str = "") -> None:
  """Render the panel of uint8 (N, H, W, C) `images` and write it as a PNG (local or gs://)."""
  figure = render(np.asarray(images), data, title)
  FigureCanvasAgg(figure)
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=DPI)
  paths.write_bytes(path, buffer.getvalue())
