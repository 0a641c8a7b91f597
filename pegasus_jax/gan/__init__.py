"""GAN building blocks shared by the families: regularisers, parameter EMA and DiffAugment."""
