"""Flax linen networks shared by the GAN families."""
