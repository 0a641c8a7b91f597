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

Measured on one NVIDIA H200 (benchmarks/device_session.sh: two recipes trained side by side on
the one GPU for 3.5 min each, start-up included; EVALUATION.md, "Run on a GPU"): this recipe
reached step 33,482 (about 200 steps/s while sharing the GPU), and on 5,000 samples scored by the
project evaluator (configs/classifier.py:fast, 80.3%, calibrated) FCD horse+bird 82.4, pegasus
rate 0.56%, pegasus score 0.076, 50% of samples read as bird and 9% as horse. The earlier full
recipe (non-saturating loss, Adam (0.5, 0.999), equal rates, no EMA), trained beside it, reached
step 34,056 with FCD horse+bird 121.8, rate 0.64%, score 0.096: FCD favours this recipe by a wide
margin, and the rates differ by less than their sampling error (about 0.11 points). Neither beats
the naive pegasus (pixel average of a random horse and bird: FCD 51.1, rate 1.58%, score 0.115),
and neither clears the real-image rate (0.68%). Its grid shows recognisable CIFAR-like birds
(long-legged, ostrich-like, perched) and brown and black horses on grass; the samples the
classifier finds most pegasus-like (p_horse and p_bird both about 0.4-0.5) are dark four-legged
animals with small heads, horse-shaped rather than winged. A full 50,000-step run alone was not run; at the
200 steps/s measured while sharing the GPU it would take about 4 minutes (an estimate).

`:cpu` recipe (chosen by the CPU ablation in EVALUATION.md, "Ablation: a recipe that makes
pegasi (CPU)", variant E): the DCGAN-shaped networks at width 32, z 64, batch 32 per class, with
the hinge loss, Adam betas (0, 0.9), a discriminator learning rate twice the generator's (4e-4 vs
2e-4, TTUR) and DiffAugment (color, translation, cutout) on every discriminator input, 3,000
steps, checkpoints and grids every 600. Wall time: 400 s (6 min 40 s; "Finished at step 3000
in 381.3 s") on the quiet 2-core CPU, README's command in a fresh clone, 2026-11-27 07:43; the
scored run below took 23 min at load 7-11 while three other jobs shared the cores.

Measured 2026-11-27 with the project evaluator (configs/classifier.py:fast in
/work/runs_shared/classifier_fast, 80.3% held-out accuracy, temperature-calibrated; 5,000
samples, seed 0), run /work/runs_shared/ablation/E:
- FCD horse+bird 366 / 239 / 207 / 218 / 200 at steps 600 / 1,200 / 1,800 / 2,400 / 3,000
  (the previous :cpu recipe, the same without DiffAugment: 312 / 291 / 290 / 309 at 600-2,400):
  below uniform noise's 456, so it clears that floor, but far above the pixel average of a
  random horse and bird (51).
- pegasus rate 0.0% at every step (real horse+bird images: 0.68%; pixel average: 1.58%): it
  does NOT clear the rate floor, and no variant measured on this CPU did; pegasus score 0.036
  (pixel average 0.115).
- at step 3,000, 36% of samples read as deer, 30% frog, 15% cat, 1% bird, under 1% horse.
The final grid (DIR/samples/step_0003000.png) shows pale and brown animal-like blobs on green,
grey and sky backgrounds, with the checkerboard grain still visible: the colours and layout of
animal photos, no recognisable horse, bird or wing. Pegasi need the full run on an accelerator
(see above: recognisable horses and birds after 3.5 GPU minutes, still no pegasi).
"""

import ml_collections

from pegasus_jax.families.jointgan import gan_config, use_sngan_recipe


def use_hinge_ttur(config: ml_collections.ConfigDict) -> None:
  """Hinge loss, Adam (0, 0.9), D lr twice G's: what the CPU ablation and the GPU run favoured."""
  config.loss = "hinge"
  config.optimizer.b1 = 0.0
  config.optimizer.b2 = 0.9
  config.optimizer.d_lr = 4e-4


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = gan_config()
  config.family = "jointgan"
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
  elif arg == "resnet":
    use_sngan_recipe(config)  # configs/sngan_cifar.py's recipe, one discriminator per class
  else:
    raise ValueError(f"unknown variant {arg!r} of configs/jointgan.py; valid: '', 'cpu', "
                     "'cpu_projected', 'resnet'")
  return config
