"""pegasus_jax: one GAN training engine (JAX/Flax) for JointGAN, DCGAN and friends.

The library is importable from a notebook: `pegasus_jax.train.train_and_evaluate(config, workdir)`
runs a whole job; `pegasus_jax.main` is only the command-line wrapper around it.
"""

__version__ = "0.1.0"
