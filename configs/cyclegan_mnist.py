r"""CycleGAN between digit domains: MNIST <-> coloured MNIST, and MNIST <-> SVHN.

Domain A is MNIST (train[:30000]), 28x28 resized to 32x32 and kept grey (1 channel: there is
no colour to keep, and the A -> B generator has to invent it). Domain B is, by default, coloured
MNIST from the *other* half of the train split (train[30000:]), so no image is in both domains:
each digit's ink and paper get their own colours, a seeded hash of its pixels
(`data.transform='colour'`, pegasus_jax/data/transforms.py). Zhu et al. 2017's recipe: least
squares GAN loss, cycle loss lambda 10, no identity loss (the domains differ in channels),
Adam 2e-4 (0.5, 0.999); a ResNet generator and a PatchGAN discriminator sized for 32x32
(pegasus_jax/models/cyclegan.py).

Full run (GPU / TPU):
  python -m pegasus_jax.main --config=configs/cyclegan_mnist.py --workdir=runs/cyclegan_mnist \
      --config.data.data_dir=../shared/tensorflow_datasets

Label preservation (the share of translated test digits a classifier of the target domain reads
as the source digit) needs one digit classifier per domain, trained by the same CLI first:
  python -m pegasus_jax.main --config=configs/classifier.py:mnist --workdir=runs/classifier_mnist \
      --config.data.data_dir=../shared/tensorflow_datasets
  python -m pegasus_jax.main --config=configs/classifier.py:mnist_colour \
      --workdir=runs/classifier_mnist_colour --config.data.data_dir=../shared/tensorflow_datasets
then add to the CycleGAN command
  --config.eval_every=500 --config.evals.label_preservation.classifier_a=runs/classifier_mnist \
  --config.evals.label_preservation.classifier_b=runs/classifier_mnist_colour

CPU variant (2 cores, a few minutes, on real MNIST): G width 16 with 2 blocks, D width 32,
batch 4 (the paper's is 1: on CPUs more updates beat larger batches), 3,000 steps at a constant
learning rate, cycle_noise 0.1.
  python -m pegasus_jax.main --config=configs/cyclegan_mnist.py:cpu --workdir=runs/cyclegan_cpu \
      --config.data.data_dir=../shared/tensorflow_datasets --config.eval_every=1000 \
      --config.evals.label_preservation.classifier_a=runs/classifier_mnist \
      --config.evals.label_preservation.classifier_b=runs/classifier_mnist_colour
Measured (2 shared CPU cores at load 0.8-2.4): 4 min 22 s wall; label preservation on 1,000 test
digits at step 3000: a -> b 0.396, b -> a 0.832 (chance 0.1). The run log and what the pictures
show: EVALUATION.md, "Config run logs".

MNIST <-> SVHN (`:svhn`): domain B is TFDS `svhn_cropped` (train, 32x32 RGB house-number
digits). SVHN is not in ../shared/tensorflow_datasets, so here it was only trained on TFDS mock
data (tests/test_cyclegan.py); without the data set the run stops with DatasetMissingError
naming svhn_cropped. Label preservation a -> b needs a classifier of SVHN (configs/classifier.py
with data.name='svhn_cropped', channels 3, split 'train'); b -> a uses the MNIST classifier.

bf16 (--config.precision=bfloat16) trains; its generators' first gradient is 41% off float32's
at :cpu size, most of it (30%) the gradient's own sensitivity to the weights' rounding
(models/cyclegan.py, BENCHMARKS.md).
"""

import ml_collections

from pegasus_jax.config.recipes import unknown_variant
from pegasus_jax.families.cyclegan import cyclegan_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = cyclegan_config()
  config.total_steps = 20_000
  config.batch_size = 32
  config.log_every = 100
  config.sample_every = 1_000
  config.checkpoint_every = 2_000
  config.optimizer.schedule = "linear"  # to 0 over the run (the paper: over its second half)
  # Not in the paper: noise on the way back in the cycle, against steganography (see
  # families/cyclegan.py). Measured on :cpu, one seed: a -> b label preservation 0.40 with it,
  # 0.29 without; flatter backgrounds.
  config.cycle_noise = 0.1
  variant = arg or ""
  if variant.startswith("svhn"):
    domain_b = config.data.domain_b
    domain_b.name = "svhn_cropped"
    domain_b.split = "train"
    domain_b.channels = 3
    domain_b.transform = ""
    variant = variant[len("svhn"):].lstrip("_")
  if variant == "cpu":
    config.total_steps = 3_000
    config.batch_size = 4  # the paper's is 1: more updates in the same time than larger batches
    config.optimizer.schedule = "constant"  # a short run: no decay
    config.num_sample_images = 4  # the step-0 batch is what the pictures show
    config.model.g_width = 16
    config.model.g_blocks = 2
    config.model.d_width = 32
    config.log_every = 100
    config.sample_every = 1_000
    config.checkpoint_every = 1_000
    config.keep_checkpoints = 1
  elif variant:
    raise unknown_variant(arg, __file__, ("", "cpu", "svhn", "svhn_cpu"))
  return config
