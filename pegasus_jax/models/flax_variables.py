"""A network's Flax variables as the families keep them: parameters apart from the model state.

A train state holds a network's `params` (what its optimiser updates) and, beside them, its
other collections (`batch_stats`, spectral-norm vectors): the `*_model_state`, which changes
only by applying the network with those collections mutable. The GAN families split and apply
their networks this way; the two functions below are that split and that apply.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn

PyTree = Any


def split_variables(variables: Mapping[str, PyTree]) -> tuple[PyTree, dict[str, PyTree]]:
  """`variables['params']`, and every other collection (the model state)."""
  return variables["params"], {k: v for k, v in variables.items() if k != "params"}


def apply_with_model_state(module: nn.Module, params: PyTree, model_state: Mapping[str, PyTree],
                           *args: Any, **kwargs: Any) -> tuple[Any, PyTree]:
  """`module.apply(...)` with every model-state collection mutable: (output, new model state).

  A network without model state is applied plainly, and its empty state returned as it is.
  """
  variables = {"params": params, **model_state}
  if not model_state:
    return module.apply(variables, *args, **kwargs), model_state
  return module.apply(variables, *args, mutable=list(model_state), **kwargs)
