"""GAN building blocks shared by the families: losses, regularisers, parameter EMA, DiffAugment,
optimisers (`training`) and the 1-D GAN's picture (`distribution_figure`)."""
