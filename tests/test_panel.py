"""The evaluation panel: which samples it shows (by score, ties in order) and its PNG size."""

import numpy as np
from PIL import Image

from pegasus_jax.evaluation import panel

LABELS = ("horse", "bird", "cat")
PROBS = np.array([
    [0.90, 0.05, 0.05],  # 0.10
    [0.50, 0.50, 0.00],  # 1.00: the best
    [0.30, 0.30, 0.40],  # 0.60
    [0.00, 0.10, 0.90],  # 0.00: the worst
    [0.40, 0.60, 0.00],  # 0.80
    [0.30, 0.40, 0.30],  # 0.60: ties with 2, comes after it
])


def test_extremes_best_first_worst_first_ties_in_order():
  top, bottom = panel.extremes(np.array([0.1, 1.0, 0.6, 0.0, 0.8, 0.6]), 3)
  np.testing.assert_array_equal(top, [1, 4, 2])
  np.testing.assert_array_equal(bottom, [3, 0, 2])
  top, bottom = panel.extremes(np.array([0.2, 0.1]), 8)  # fewer samples than slots
  np.testing.assert_array_equal(top, [0, 1])
  np.testing.assert_array_equal(bottom, [1, 0])


def test_panel_data_chooses_the_highest_and_lowest_pegasus_scores():
  data = panel.panel_data(PROBS, LABELS, ["horse", "bird"], {"horse": 5, "bird": 5, "cat": 0},
                          count=2)
  np.testing.assert_allclose(data.scores, [0.1, 1.0, 0.6, 0.0, 0.8, 0.6])
  np.testing.assert_array_equal(data.top, [1, 4])
  np.testing.assert_array_equal(data.bottom, [3, 0])
  np.testing.assert_allclose(data.class_probs[4], [0.4, 0.6])  # horse, bird columns
  assert data.sample_histogram == {"horse": 2, "bird": 2, "cat": 2}  # row 1 ties: horse
  swapped = panel.panel_data(PROBS, LABELS, ["bird", "horse"], {}, count=2)
  np.testing.assert_allclose(swapped.class_probs[4], [0.6, 0.4])
  np.testing.assert_array_equal(swapped.top, data.top)


def test_written_panel_is_a_png_of_the_expected_size(tmp_path):
  images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
  data = panel.panel_data(PROBS, LABELS, ["horse", "bird"], {"horse": 5, "bird": 5}, count=8)
  path = tmp_path / "panel.png"
  panel.write_panel(str(path), images, data, "six samples")
  with Image.open(path) as written:
    assert written.format == "PNG"
    assert written.size == (780, 750)  # 6 samples: 6 columns x 1.3 in, 7.5 in, at 100 dpi
  grey = panel.panel_data(PROBS[:4], LABELS, ["horse", "bird"], {"horse": 1}, count=2)
  panel.write_panel(str(tmp_path / "grey.png"), images[:4, ..., :1], grey)
  with Image.open(tmp_path / "grey.png") as written:
    assert written.size == (520, 750)  # at least 4 columns
