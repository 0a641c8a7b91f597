"""GAN building blocks shared by the families: losses, regularisers, parameter EMA, DiffAugment."""
