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

Measured (`:cpu`, 1,000 steps, 2 shared CPU cores at load 11.5-12): 9 min 4 s wall; probe
accuracy 0.886 at step 1000 vs 0.827 for a random encoder (write-up 004: 0.88 vs 0.79). The
run log: EVALUATION.md, "Config run logs".
"""

import ml_collections

from pegasus_jax.config.recipes import unknown_variant
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
    raise unknown_variant(arg, __file__, ("", "cpu"))
  return config
