r"""BiGAN on MNIST, judged by a linear probe on the frozen encoder (write-up 004).

Full run (GPU / TPU; MNIST from TFDS, or the offline copy):
  python -m pegasus_jax.main --config=configs/bigan_mnist.py --workdir=runs/bigan_mnist \
      --config.data.data_dir=../shared/tensorflow_datasets

CPU variant (2 cores):
  python -m pegasus_jax.main --config=configs/bigan_mnist.py:cpu --workdir=runs/bigan_mnist_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets

Choices: Donahue et al. 2017's permutation-invariant MNIST networks (appendix C.1: E, G and D are
MLPs with two hidden layers of 1024 units, z of 50 dimensions; `models/bigan.py`), with the
write-up's changes: z ~ N(0, I) instead of U(-1, 1), L2 weight decay on all parameters, the
learning rate decayed linearly to 0 over the run, PyTorch's default initialisation. Batch 128,
Adam 2e-4 (0.5, 0.999), 400 epochs (187,200 steps) as in the paper. Images 28x28x1 in [-1, 1],
no flips.

Data: the class-balanced sampler with data.classes=('all',) gives {'real': (1, B, 28, 28, 1)},
one unlabelled stream of all 60,000 training digits. Chosen over the 'labelled' sampler because
BiGAN is unsupervised: with no label field in the batch, the train step cannot use one, and the
only reader of the labels is the linear probe (`config.evals.linear_probe`, which loads the
labelled train and test splits itself).

Evaluation: every `eval_every` steps and at the end, the linear probe on E(x) of the MNIST train
split (scored on the 10,000 test images) and on a randomly initialised encoder:
eval/probe_accuracy, eval/probe_accuracy_random_encoder. The write-up's course solution measured
0.88 vs 0.79.

Full run: not measured on an accelerator yet.

bf16 (--config.precision=bfloat16) trains; its first gradient is 17% off float32's at :cpu size,
most of it (14%) the gradient's own sensitivity to the weights' rounding (models/bigan.py,
BENCHMARKS.md).

CPU variant (measured on the project's 2-core CPU while shared, load average 11.5-12): the same
networks and recipe, 1,000 steps (2.1 epochs) with the learning rate decayed to 0 over them; the
probe trains on the first 10,000 training images (`evals.linear_probe.num_train`) and is scored
on all 10,000 test images, every 250 steps. Wall time 9 min 4 s for the whole command: 444 s of
training and evaluation, the rest start-up (imports, MNIST decode, compiles, the random-encoder
probe); 3 min 6 s of CPU time, so a few minutes on an idle machine. Deterministic: a second run
gave the same numbers and the same pictures, bit for bit.
  probe accuracy (test):  step 250 0.8849, 500 0.8944, 750 0.8897, 1000 0.8861
  random encoder:         0.8269 (init seed 0)
  write-up 004:           0.88 (BiGAN) vs 0.79 (random encoder)
The final checkpoint probed on the whole 60,000-image train split: 0.8933 vs 0.8360 (random).
Step 1000 training metrics: d_loss 0.82, D(x, E(x)) 0.66, D(G(z), z) 0.32, e_loss 1.13, g_loss
1.17, reconstruction MSE 0.39 (1.06 at step 50).
Pictures at step 1000: `samples/` is a 10x10 grid of stroke-like digits on a black background
sprinkled with white speckle noise; about a third are readable (1s, 7s, 3s, 0s, a 9), the rest
are blurred loops. `reconstructions/` shows rows of the first 20 images of the step-0 batch (a
seeded shuffle of the split: what the loop hands a family) with G(E(x)) beneath each: about a third come back as the same digit (the 0, both 3s, two of the three 1s,
an 8, a faint 7); most others come back as a speckled 0-like ring or a blob, so E keeps the
coarse shape (the probe's ~0.89) but G(E(x)) is far from an inverse after 2 epochs.
"""

import ml_collections

from pegasus_jax.families.bigan import bigan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = bigan_config()
  config.total_steps = 187_200
  config.log_every = 500
  config.sample_every = 10_000
  config.checkpoint_every = 10_000
  config.eval_every = 20_000
  config.num_sample_images = 100
  if arg == "cpu":
    config.total_steps = 1_000
    config.log_every = 50
    config.sample_every = 250
    config.checkpoint_every = 250
    config.eval_every = 250
    config.evals.linear_probe.num_train = 10_000
  elif arg:
    raise ValueError(f"unknown variant {arg!r} of configs/bigan_mnist.py; valid: '', 'cpu'")
  return config
