r"""JointGAN pegasus on CIFAR-10: one generator, one spectrally-normalised D per class.

Full run (GPU / TPU):
  python -m pegasus_jax.main --config=configs/jointgan.py --workdir=runs/jointgan

On the SN-GAN ResNet networks with the SN-GAN recipe (hinge, n_dis 5, Adam (0, 0.9), lr to 0):
  python -m pegasus_jax.main --config=configs/jointgan.py:resnet --workdir=runs/jointgan_resnet

CPU variant (2 cores, a few minutes, on real CIFAR-10 prepared offline):
  python -m pegasus_jax.main --config=configs/jointgan.py:cpu --workdir=runs/jointgan_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets

Choices (full run): the SN-GAN recipe for CIFAR-10 DCGAN-sized models (Miyato et al. 2018,
"standard CNN"): Adam lr 2e-4, betas (0.5, 0.999), one D step per G step, batch 64 per class,
non-saturating loss, z ~ N(0, I_128). Each class has only 5,000 training images, so 50k steps
is ~640 epochs of each class. The full run has not been measured in this project yet (no
accelerator so far): watch the grids in DIR/samples/ and the per-class D(fake) in TensorBoard --
a pegasus-leaning generator keeps D(fake) of *both* classes up, not just one.

What to expect from `:cpu` (measured 2026-11-25 on the 2-core CPU):
1,200 steps in 2.5 min wall on the quiet machine (5.5 min while other jobs shared it),
checkpoints at 600/900/1200.
The final grid (DIR/samples/step_0001200.png) shows brown/dark centred blobs on lighter,
sky-like backgrounds, with a visible checkerboard grain and little diversity between samples:
the colours and layout of horse and bird photos, no recognisable animal, let alone wings. It
proves the pipeline end to end; pegasi need the full run on an accelerator.
"""

import ml_collections

from pegasus_jax.families.jointgan import gan_config, use_sngan_recipe


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = gan_config()
  config.family = "jointgan"
  config.data.classes = ("horse", "bird")
  config.model.d_norm = "spectral"
  if arg == "cpu":
    config.total_steps = 1200
    config.batch_size = 32
    config.model.g_width = 32
    config.model.d_width = 32
    config.model.z_dim = 64
    config.log_every = 50
    config.sample_every = 300
    config.checkpoint_every = 300
    config.num_sample_images = 64
  elif arg == "resnet":
    use_sngan_recipe(config)  # configs/sngan_cifar.py's recipe, one discriminator per class
  elif arg:
    raise ValueError(f"unknown variant {arg!r} of configs/jointgan.py; valid: '', 'cpu', "
                     "'resnet'")
  return config
