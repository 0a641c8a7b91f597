"""Evaluation of generators with the standard GAN metrics.

`inception` holds the FID Inception-v3 network and its weight loader (JAX/Flax);
`gan_metrics` holds the metric math (FID, Inception Score, KID) in numpy/scipy,
kept apart so the math can be tested and reused without any network.
"""
