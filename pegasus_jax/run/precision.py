"""`config.precision`: the dtype the networks' convolutions and matmuls compute in.

'float32' is the default. 'bfloat16' is mixed precision as accelerators want it: the heavy
arithmetic (convolution and matmul activations) runs in bf16, where TPUs and H100/H200 GPUs
are many times faster, while everything that accumulates or must stay exact is float32:
parameters, optimiser state, batch-norm statistics, spectral norm's power iteration (its `u`
vector and the `sigma` estimate), network outputs (logits, images, codes), losses and the
gradient penalty. The networks take a compute `dtype` (Flax's `dtype=`, with
`param_dtype=float32`), and each family reads the field and builds its networks with it;
a family that has no bf16 path refuses the field with `require_float32`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from pegasus_jax.errors import ConfigError

PRECISIONS = ("float32", "bfloat16")
DEFAULT = "float32"


def compute_dtype(config: ml_collections.ConfigDict) -> np.dtype:
  """The activations' dtype for `config.precision`; ConfigError for an unknown value.

  A run saved before the field existed has no `precision` and computed in float32.
  """
  name = config.get("precision", DEFAULT)
  if name not in PRECISIONS:
    raise ConfigError(f"config.precision={name!r} must be one of {list(PRECISIONS)}")
  return jnp.dtype(name)


def require_float32(config: ml_collections.ConfigDict, reason: str) -> None:
  """ConfigError naming `config.precision` when a family without a bf16 path is asked for one.

  Refusing beats running float32 while the config says bfloat16.
  """
  name = config.get("precision", DEFAULT)
  if name != "float32":
    raise ConfigError(f"config.precision={name!r} is not supported by family "
                      f"{config.family!r} ({reason}); use 'float32'")


def add_bias(y: jax.Array, bias: jax.Array) -> jax.Array:
  """y + bias computed in float32, returned in y's dtype (the layer's compute dtype).

  Why not in y's dtype: autodiff turns the bias's broadcast into a sum of y's cotangent over
  every example and pixel, and that sum has much cancellation; accumulated in bf16 it left the
  bias gradients of a 16x16 SN-GAN discriminator 20-60% off (the kernels: under 2%). In float32
  it is a float32 sum; the casts are elementwise and fuse into the neighbouring ops.
  """
  return (y.astype(jnp.float32) + bias.astype(jnp.float32)).astype(y.dtype)
