"""The trainable part of a Projected GAN discriminator (Sauer et al. 2021), over frozen features.

A projected discriminator does not learn image features from scratch: it reads a pyramid of
features from a frozen, pretrained network (here the group outputs of this project's
`fast_cifar.FastCifarNet` classifier, at 15x15, 7x7 and 3x3 for 32x32 images), mixes them with
FIXED random layers, and trains only small per-scale heads on the result. The paper found the
random mixing essential: a cross-channel mixing (a random 1x1 convolution per scale, CCM) spreads
every feature over all channels, and a cross-scale mixing (CSM: each coarser mixed map upsampled
and added to the next finer one) lets the fine heads see the coarse context, so the
discriminator cannot rely on a few dominant features.

The mixing kernels are drawn at initialisation and kept in the non-trained collection
`projection` (saved with the run, never given to an optimiser); the heads' spectral-norm
vectors live in `spectral`, as in `models.dcgan`. For JointGAN's K class discriminators only the
heads are stacked (`nn.vmap` over a leading K axis): the backbone and the mixing are shared, so
an extra class costs one set of small heads.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from pegasus_jax.models import fast_cifar
from pegasus_jax.models.dcgan import SPECTRAL_COLLECTION

PROJECTION_COLLECTION = "projection"  # the fixed random mixing kernels: state, not parameters
MIN_IMAGE_SIZE = 16  # FastCifarNet's three pools after its 2x2 whitening


def fast_cifar_features(model: fast_cifar.FastCifarNet, variables: Any, images: jax.Array
                        ) -> list[jax.Array]:
  """The outputs of `model`'s conv groups (finest first), evaluation mode: its feature pyramid.

  Gradients flow through to `images` (the generator learns through the frozen network); the
  network's own variables are whatever the caller passes, constants to any `jax.grad` over
  the discriminator's or generator's parameters.
  """
  _, state = model.apply(
      variables, images, train=False,
      capture_intermediates=lambda module, method: (isinstance(module, fast_cifar.ConvGroup)
                                                    and method == "__call__"))
  groups = state["intermediates"]
  return [groups[f"ConvGroup_{i}"]["__call__"][0] for i in range(len(model.widths))]


class CrossMixing(nn.Module):
  """Fixed random cross-channel (1x1) and cross-scale (upsample + add) mixing of a pyramid.

  features: finest first, each (..., h, w, c_i) -> the same sizes with `channels` channels.
  """

  channels: int

  @nn.compact
  def __call__(self, features: Sequence[jax.Array]) -> list[jax.Array]:
    init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
    mixed = []
    for i, x in enumerate(features):
      kernel = self.variable(PROJECTION_COLLECTION, f"ccm_{i}",
                             lambda c=x.shape[-1]: init(self.make_rng("params"),
                                                        (c, self.channels)))
      mixed.append(x @ jax.lax.stop_gradient(kernel.value))
    out = [mixed[-1]]
    for finer in reversed(mixed[:-1]):
      coarse = jax.image.resize(out[0], finer.shape, "bilinear")
      out.insert(0, finer + coarse)
    return out


class ScaleHeads(nn.Module):
  """One discriminator: a small conv head per scale, each ending in a logit map.

  features: finest first, each (N, h, w, c) -> logits (N,): every head's logit map averaged
  over its positions, then over the scales. A head's first conv has stride 2 on maps larger
  than 4x4, so every logit map is about 4x4 (as in the paper).
  """

  width: int = 64
  spectral_norm: bool = True
  leaky_slope: float = 0.2

  @nn.compact
  def __call__(self, features: Sequence[jax.Array], update_stats: bool = False) -> jax.Array:
    def layer(module: nn.Module, inputs: jax.Array) -> jax.Array:
      if self.spectral_norm:
        return nn.SpectralNorm(module, collection_name=SPECTRAL_COLLECTION)(
            inputs, update_stats=update_stats)
      return module(inputs)

    logits = []
    for x in features:
      stride = 2 if x.shape[-2] > 4 else 1
      x = nn.leaky_relu(layer(nn.Conv(self.width, (3, 3), strides=stride), x),
                        self.leaky_slope)
      x = nn.leaky_relu(layer(nn.Conv(self.width, (3, 3)), x), self.leaky_slope)
      x = layer(nn.Conv(1, (1, 1)), x)
      logits.append(jnp.mean(x, axis=(1, 2, 3)))
    return jnp.mean(jnp.stack(logits), axis=0)


class ProjectedDiscriminators(nn.Module):
  """K projected discriminators over one shared feature pyramid.

  features: finest first, each (K, N, h, w, c) (the frozen network's output for the images
  each class discriminator judges) -> logits (K, N). The mixing is shared; the heads carry a
  leading K axis on every variable (`params`, `spectral`), initialised independently.
  """

  num_classes: int
  mix_channels: int = 64
  width: int = 64
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, features: Sequence[jax.Array], update_stats: bool = False) -> jax.Array:
    mixed = CrossMixing(self.mix_channels)(features)
    heads = nn.vmap(
        ScaleHeads,
        variable_axes={"params": 0, SPECTRAL_COLLECTION: 0},
        split_rngs={"params": True},
        in_axes=(0, None),
        out_axes=0,
        axis_size=self.num_classes,
    )
    return heads(width=self.width, spectral_norm=self.spectral_norm, name="heads")(
        mixed, update_stats)
