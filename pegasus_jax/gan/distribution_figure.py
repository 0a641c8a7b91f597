"""The 1-D GAN's picture: real and generated histograms and the discriminator's D(x) on one axis.

Rendered with matplotlib's Agg canvas to a uint8 image, so the loop writes it like any other
picture (PNG and TensorBoard); `families.toy1d` draws it at every sample step.
"""

from __future__ import annotations

import numpy as np


def _histogram_density(points: np.ndarray, plot_range: tuple[float, float], bins: int
                       ) -> tuple[np.ndarray, np.ndarray, int]:
  """Bin heights scaled so the whole sample (not just the part in range) has area 1; edges;
  how many points fall outside the range (shown in the legend instead of silently dropped)."""
  counts, edges = np.histogram(points, bins=bins, range=plot_range)
  width = edges[1] - edges[0]
  outside = int(len(points) - counts.sum())
  return counts / (len(points) * width), edges, outside


def render_distributions(real: np.ndarray, fake: np.ndarray, grid: np.ndarray,
                         d_curve: np.ndarray, plot_range: tuple[float, float], title: str,
                         bins: int = 80) -> np.ndarray:
  """The write-up's figure as uint8 (H, W, 3): histograms of real and generated points and the
  discriminator's D(x), one axis (densities and probabilities share the y scale)."""
  # matplotlib is imported on first use: only this picture needs it. The Agg canvas is used
  # directly (no pyplot), so no global figure state and no display are involved.
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  figure = Figure(figsize=(5.0, 3.4), dpi=100)
  canvas = FigureCanvasAgg(figure)
  axis = figure.add_subplot()
  top = 1.05
  for points, label, color in ((real, "real", "tab:blue"), (fake, "generated", "tab:orange")):
    heights, edges, outside = _histogram_density(np.asarray(points), plot_range, bins)
    if outside:
      label = f"{label} ({outside} outside)"
    axis.stairs(heights, edges, fill=True, alpha=0.45, color=color, label=label)
    top = max(top, 1.05 * float(heights.max()))  # a collapsed generator's spike stays in view
  axis.plot(grid, d_curve, color="tab:green", linewidth=1.8, label="D(x)")
  axis.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
  axis.set_xlim(*plot_range)
  axis.set_ylim(0.0, top)
  axis.set_xlabel("x")
  axis.set_title(title, fontsize=10)
  axis.legend(loc="upper right", fontsize=7)
  figure.tight_layout()
  canvas.draw()
  return np.asarray(canvas.buffer_rgba())[..., :3].copy()
