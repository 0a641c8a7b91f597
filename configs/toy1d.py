r"""The 1-D toy GAN (write-up 004): minimax vs non-saturating generator loss.

DOCSTRING_TBD
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
