r"""JointGAN pegasus on CIFAR-10: one generator, one spectrally-normalised D per class.

Full run (GPU / TPU):
  python -m pegasus_jax.main --config=configs/jointgan.py --workdir=runs/jointgan

On the SN-GAN ResNet networks with the SN-GAN recipe (hinge, n_dis 5, Adam (0, 0.9), lr to 0):
  python -m pegasus_jax.main --config=configs/jointgan.py:resnet --workdir=runs/jointgan_resnet

CPU variant (2 cores, a few minutes, on real CIFAR-10 prepared offline):
  python -m pegasus_jax.main --config=configs/jointgan.py:cpu --workdir=runs/jointgan_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets

Full recipe (chosen on a GPU, 2026-11-27): the DCGAN-shaped networks of the SN-GAN paper's
"standard CNN" (Miyato et al. 2018) at widths 64, z ~ N(0, I_128), batch 64 per class, one D step
per G step, with the hinge loss, Adam betas (0, 0.9), lr 2e-4 for G and 4e-4 for D (TTUR), and an
EMA generator (decay 0.999 from step 1,000) for grids, sampling and evaluation. 50,000 steps.

`:cpu` recipe (chosen by the CPU ablation in EVALUATION.md, "Ablation: a recipe that makes
pegasi (CPU)", variant E): the DCGAN-shaped networks at width 32, z 64, batch 32 per class, with
the hinge loss, Adam betas (0, 0.9), a discriminator learning rate twice the generator's (4e-4 vs
2e-4, TTUR) and DiffAugment (color, translation, cutout) on every discriminator input, 3,000
steps, checkpoints and grids every 600.

Measured: the full recipe on one NVIDIA H200 (3.5 min, the GPU shared with a second run):
step 33,482, FCD horse+bird 82.4, pegasus rate 0.56%, score 0.076. `:cpu` on the quiet 2-core
CPU: 400 s wall for 3,000 steps; FCD horse+bird 200, pegasus rate 0.0% (real images 0.68%).
Neither clears the naive pegasus (pixel average: FCD 51.1, rate 1.58%). Those numbers are on
the earlier 80% classifier. On the judge (assets/judge, 92.34%; 2026-12-04): `:cpu` at 2,400
steps FCD horse+bird 485 (noise 617, pixel average 110), pegasus rate 0.00%, dark and white blobs.

`:cpu_guide` (the README's quick start) = `:cpu` + the guide term (lambda 0.5, assets/guide,
target 40% horse / 60% bird), ICNR, translation-only DiffAugment for D, 3x the learning rates,
a blur in the guide's view, an EMA generator (0.99 from step 1,000), 2,100 steps (EVALUATION.md,
"Issue 18's candidates"):
  python -m pegasus_jax.main --config=configs/jointgan.py:cpu_guide --workdir=runs/jointgan_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets
2-core AMD EPYC, quiet, fresh clone (2026-12-05): 540 s wall. Judge (N = 5,000): FCD
horse+bird 152.5 (noise 617, pixel average 110), pegasus rate 17.5%, argmax 54% horse, 38%
bird; 1,000 of 20,000 selected by assets/select_guide: rate 40.1%. The grid: white, grey, brown
and black horses on grass in most cells, legs and necks visible, varied poses; pale upright
bodies against sky, rarely a recognisable bird; no cell a person would call a winged horse.
"""

import ml_collections

from pegasus_jax.config.recipes import unknown_variant, use_sngan_recipe
from pegasus_jax.families.jointgan import jointgan_config


def use_hinge_ttur(config: ml_collections.ConfigDict) -> None:
  """Hinge loss, Adam (0, 0.9), D lr twice G's: what the CPU ablation and the GPU run favoured."""
  config.loss = "hinge"
  config.optimizer.b1 = 0.0
  config.optimizer.b2 = 0.9
  config.optimizer.d_lr = 4e-4


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = jointgan_config()
  config.data.classes = ("horse", "bird")
  config.model.d_norm = "spectral"
  if not arg:  # the full recipe (measured on a GPU; the docstring)
    use_hinge_ttur(config)
    config.ema.decay = 0.999
    config.ema.start_step = 1000
  elif arg == "cpu":  # the ablation's recipe E (no EMA)
    config.total_steps = 3000
    config.batch_size = 32
    config.model.g_width = 32
    config.model.d_width = 32
    config.model.z_dim = 64
    config.log_every = 50
    config.sample_every = 600
    config.checkpoint_every = 600
    config.num_sample_images = 64
    config.diffaugment = "color,translation,cutout"
    use_hinge_ttur(config)
  elif arg == "cpu_projected":  # :cpu with a projected discriminator (issue 18's ablation)
    config = get_config("cpu")
    # Heads (width model.d_width) on the frozen guide classifier's features; the backbone is
    # a classifier run's workdir (configs/classifier.py:fast), given on the command line:
    #   --config.model.projected.backbone=runs/classifier_fast
    config.model.d_arch = "projected"
  elif arg == "cpu_guide":  # :cpu + the guide term (issue 20's method c), as measured
    config = get_config("cpu")
    config.total_steps = 2100  # under 10 minutes of training on the 2-core box
    config.guide.classifier = "assets/guide"  # the committed 80% guide, never the judge
    config.guide.weight = 0.5  # 1.0 collapsed G onto one template; 0.3 halved the pegasus rate
    # EVALUATION.md, "Issue 18's candidates": each of these lowered the judge's FCD h+b
    config.model.icnr = True  # UpConvs start checkerboard-free
    config.diffaugment = "translation"  # D's view: colour and cutout cost more than they gave
    config.optimizer.g_lr, config.optimizer.d_lr = 6e-4, 1.2e-3  # 3x :cpu's, same ratio
    config.guide.augment = "color,translation,cutout,blur"  # hatching no longer pays the guide
    config.ema.decay, config.ema.start_step = 0.99, 1000  # samples from a 100-step average of G
    # the target (0.4 horse, 0.6 bird), not (1/2, 1/2): the even target drew 3-4 horses per bird
    config.guide.class_mass = (0.4, 0.6)
  elif arg == "resnet":
    use_sngan_recipe(config)  # configs/sngan_cifar.py's recipe, one discriminator per class
  else:
    raise unknown_variant(arg, __file__, ("", "cpu", "cpu_guide", "cpu_projected", "resnet"))
  return config
