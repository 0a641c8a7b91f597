"""Per-class GAN losses on discriminator logits.

Every function reduces over the batch (last) axis and keeps any leading class axis, so for K
stacked discriminators it returns the K per-class losses L_c. The discriminators minimise their
`discriminator_loss` (i.e. maximise the GAN value L_c); the JointGAN generator minimises the sum
over classes of `generator_loss`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

GAN_LOSSES = ("nonsaturating", "minimax", "hinge")


def discriminator_loss(kind: str, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """-E[log D(x)] - E[log(1 - D(G(z)))] (BCE on logits), or the hinge loss."""
  if kind in ("nonsaturating", "minimax"):
    return (jnp.mean(jax.nn.softplus(-real_logits), axis=-1)
            + jnp.mean(jax.nn.softplus(fake_logits), axis=-1))
  if kind == "hinge":
    return (jnp.mean(jax.nn.relu(1.0 - real_logits), axis=-1)
            + jnp.mean(jax.nn.relu(1.0 + fake_logits), axis=-1))
  raise ValueError(f"unknown loss {kind!r}; valid: {GAN_LOSSES}")


def generator_loss(kind: str, fake_logits: jax.Array) -> jax.Array:
  """Non-saturating -E[log D(G(z))]; minimax E[log(1 - D(G(z)))]; hinge -E[D(G(z))]."""
  if kind == "nonsaturating":
    return jnp.mean(jax.nn.softplus(-fake_logits), axis=-1)
  if kind == "minimax":
    return -jnp.mean(jax.nn.softplus(fake_logits), axis=-1)
  if kind == "hinge":
    return -jnp.mean(fake_logits, axis=-1)
  raise ValueError(f"unknown loss {kind!r}; valid: {GAN_LOSSES}")
