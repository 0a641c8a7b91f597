"""Drawing from trained runs: sampling (with selection), scorers, latent interpolation, search
and optimisation."""
