"""Per-class GAN losses on discriminator (critic) outputs.

Every function reduces over the batch (last) axis and keeps any leading class axis, so for K
stacked discriminators it returns the K per-class losses L_c. The discriminators minimise their
`discriminator_loss` (i.e. maximise the GAN value L_c); the JointGAN generator minimises the sum
over classes of `generator_loss`.

'wasserstein' is the WGAN critic loss E[D(G(z))] - E[D(x)] (Arjovsky et al. 2017); the critic
must be kept (roughly) 1-Lipschitz, by the gradient penalty (`gan.regularizers`, WGAN-GP) or
spectral norm. For it and for 'hinge' the outputs are unbounded scores, not logits of a
probability: `critic_metrics` reports them as such.

The least-squares losses (LSGAN, as CycleGAN uses them) and the L1 reconstruction error reduce
over everything: one scalar per discriminator or per translation direction.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

GAN_LOSSES = ("nonsaturating", "minimax", "hinge", "wasserstein")
PROBABILITY_LOSSES = ("nonsaturating", "minimax")  # D's output is a logit of P(real)


def discriminator_loss(kind: str, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """-E[log D(x)] - E[log(1 - D(G(z)))] (BCE on logits), the hinge or the Wasserstein loss."""
  if kind in PROBABILITY_LOSSES:
    return (jnp.mean(jax.nn.softplus(-real_logits), axis=-1)
            + jnp.mean(jax.nn.softplus(fake_logits), axis=-1))
  if kind == "hinge":
    return (jnp.mean(jax.nn.relu(1.0 - real_logits), axis=-1)
            + jnp.mean(jax.nn.relu(1.0 + fake_logits), axis=-1))
  if kind == "wasserstein":
    return jnp.mean(fake_logits, axis=-1) - jnp.mean(real_logits, axis=-1)
  raise ValueError(f"unknown loss {kind!r}; valid: {GAN_LOSSES}")


def generator_loss(kind: str, fake_logits: jax.Array) -> jax.Array:
  """Non-saturating -E[log D(G(z))]; minimax E[log(1 - D(G(z)))]; hinge/Wasserstein -E[D(G(z))]."""
  if kind == "nonsaturating":
    return jnp.mean(jax.nn.softplus(-fake_logits), axis=-1)
  if kind == "minimax":
    return -jnp.mean(jax.nn.softplus(fake_logits), axis=-1)
  if kind in ("hinge", "wasserstein"):
    return -jnp.mean(fake_logits, axis=-1)
  raise ValueError(f"unknown loss {kind!r}; valid: {GAN_LOSSES}")


def critic_metrics(kind: str, real_logits: jax.Array, fake_logits: jax.Array
                   ) -> dict[str, jax.Array]:
  """What the outputs mean, per class: D(real)/D(fake) probabilities for the logistic losses;
  mean critic values and their difference (the Wasserstein estimate) for hinge/Wasserstein."""
  if kind in PROBABILITY_LOSSES:
    return {"d_real": jnp.mean(jax.nn.sigmoid(real_logits), axis=-1),
            "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits), axis=-1)}
  real, fake = jnp.mean(real_logits, axis=-1), jnp.mean(fake_logits, axis=-1)
  return {"critic_real": real, "critic_fake": fake, "wasserstein_estimate": real - fake}


# -- least squares and L1 (CycleGAN) ----------------------------------------------------------
def least_squares_d_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """0.5 * (E[(D(real) - 1)^2] + E[D(fake)^2]): LSGAN (Mao et al. 2017), as CycleGAN uses it."""
  return 0.5 * (jnp.mean(jnp.square(real_scores - 1.0)) + jnp.mean(jnp.square(fake_scores)))


def least_squares_g_loss(fake_scores: jax.Array) -> jax.Array:
  """E[(D(G(x)) - 1)^2]: the generator wants its images scored as real."""
  return jnp.mean(jnp.square(fake_scores - 1.0))


def mean_absolute_error(originals: jax.Array, outputs: jax.Array) -> jax.Array:
  """L1 per pixel, the cycle and identity losses: zero exactly when the output is the original."""
  return jnp.mean(jnp.abs(outputs - originals))
