r"""The 1-D toy GAN (write-up 004): minimax vs non-saturating generator loss.

Run one loss (CPU; the whole run is CPU-sized, `:cpu` = `:nonsaturating`):
  python -m pegasus_jax.main --config=configs/toy1d.py:cpu --workdir=runs/toy1d_cpu
  python -m pegasus_jax.main --config=configs/toy1d.py:minimax --workdir=runs/toy1d_minimax

Both losses and the write-up's side-by-side figure (after epoch 1 | after training, a row per
loss) in one PNG, with W1, mode coverage and D(fake) at both steps printed:
  python benchmarks/toy1d_figure.py --workdir=runs/toy1d_figure --out=runs/toy1d_figure.png

Setup (families/toy1d.py): data x ~ 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2), a fresh seeded batch of
100 per step (an "epoch" is 20,000 examples = 200 steps, the size of the course's fixed data
set); G and D are MLPs of three dense layers (128 hidden, LeakyReLU 0.2), z ~ N(0, 1) of one
dimension; Adam (b1 0.5, b2 0.999), D at 1e-3 and G at 2e-4 (D ahead of G, the situation in
which the minimax loss is said to saturate); one D and one G update per step, 4,000 steps
(20 epochs). Every 200 steps: the picture WORKDIR/distributions/step_*.png (real histogram,
generated histogram and D(x) on one axis) and the 'toy_distance' evaluation (eval/wasserstein1
between 10,000 generated and 10,000 real points, eval/mode_coverage = share of the 2 modes that
receive >= 10% of the generated points within 2 std of their mean; two real draws are
eval/wasserstein1_real_vs_real = 0.015 apart, the floor).

Measured (2026-11-27, the 2-core CPU shared with other jobs, seed 0): `:cpu` trained 4,000
steps in 36.0 s of training loop (70 s for the whole command, with TensorFlow/JAX start-up) at
1-min load 11.1-11.4; the figure script's two runs took 41 s (non-saturating) and 45 s
(minimax) of loop at load ~13.5. `:cpu` ends with d_loss 1.383 (2 log 2 = 1.386: D cannot
tell), g_loss 0.707, D(real) 0.500, D(fake) 0.496, W1 0.269, mode coverage 1.0.

What the pictures show (docs/toy1d_losses.png is the figure script's seed-0 output): after
epoch 1 both generators are still a broad smear over [-4, 4] (600-700 of 5,000 points fall
outside it) and D(x) is a gentle slope between 0.4 and 0.6; W1 0.81 (non-saturating) and 0.86
(minimax). At step 4,000 both have put their mass on the two modes with almost nothing in the
gap, where D(x) dips to 0.13-0.22, and D(x) is ~0.5 over the modes. Non-saturating (= `:cpu`):
the left mode narrower than the real one, the right one squeezed into a tall spike at x ~ 1.8
that misses the mode's upper half (W1 0.269). Minimax: both modes matched in position and
width, a little spiky (W1 0.075).

What each loss did -- the lesson did NOT show with this setup: the minimax loss never
saturated. D never confidently rejected G's samples: the logged D(fake) (50-step means) never
fell below 0.41 (minimax) or 0.43 (non-saturating) in any of three seeds, G's gradient norm
never collapsed (0.15-1.4 for minimax, 0.19-1.04 non-saturating), and both losses learned the
mixture and kept both modes (eval/mode_coverage 1.0 at every evaluation of every run). The
generators oscillate: W1 moves by ~0.1 between evaluations, so a final value is a snapshot.
Over three seeds (final W1 / mean W1 of steps 2,000-4,000): minimax 0.075 / 0.112,
0.133 / 0.149, 0.251 / 0.156; non-saturating 0.269 / 0.174, 0.220 / 0.180, 0.321 / 0.220 --
minimax was slightly closer by both measures in all three (seeds 1 and 2: `--set seed=1`
of the figure script). The mechanism is pinned by tests/test_toy1d.py instead: at a point a fixed D rejects
with D = 6e-6, the non-saturating generator's gradient is (1 - D) / D ~ 1.6e5 times the
minimax one. The write-up, too, saw both losses learn the data "almost perfectly".
"""

import ml_collections

from pegasus_jax.families.toy1d import toy1d_config

VARIANTS = ("", "cpu", "nonsaturating", "minimax")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`:nonsaturating` (the default, also `:cpu`) or `:minimax`; everything else is shared."""
  config = toy1d_config()
  if arg == "minimax":
    config.loss = "minimax"
  elif arg in ("", None, "cpu", "nonsaturating"):
    config.loss = "nonsaturating"
  else:
    raise ValueError(f"unknown variant {arg!r} of configs/toy1d.py; valid: {list(VARIANTS)}")
  return config
