"""The fields every training config has, with their defaults.

Configs in `configs/` start from `base_config()` and override; `config_validation` checks the
result against these fields' types and ranges before anything is compiled.
"""

from typing import Any

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """A full-size JointGAN/DCGAN config; families and variants override what differs."""
  config = ml_collections.ConfigDict()
  config.family = "jointgan"
  config.seed = 0
  config.total_steps = 50_000
  config.batch_size = 64  # global: real images per class and fake images per D step
  config.n_disc = 1  # discriminator steps per generator step
  config.loss = "nonsaturating"  # 'nonsaturating' | 'minimax' | 'hinge'
  config.log_every = 100
  config.sample_every = 1_000
  config.checkpoint_every = 2_000
  config.keep_checkpoints = 3
  config.num_sample_images = 64  # the fixed-noise grid
  config.prefetch = 2  # batches prepared ahead on device
  # Periodic evaluation (0 = off): the family's own (a classifier's held-out accuracy), or, for
  # a generator, classifier metrics (pegasus score, classifier IS, FCD) on eval_num_samples
  # samples, with the classifier trained in the workdir eval_classifier ('' = none).
  config.eval_every = 0
  config.eval_num_samples = 1_000
  config.eval_classifier = ""
  config.eval_split = "train"  # real images the evaluation compares with (TFDS split string)
  # Keep the best checkpoint by this evaluation scalar ('' = off) beside the latest ones, in
  # WORKDIR/checkpoints_best/; best_mode 'max' or 'min'.
  config.best_metric = ""
  config.best_mode = "max"

  config.data = ml_collections.ConfigDict()
  config.data.name = "cifar10"  # a TFDS name, or 'image_folder' (reads data.path)
  # Class names or ids; 'horse+bird' makes one class of the union (plain DCGAN on both); 'all'
  # is every image as one class (the only choice for unlabelled sets: celeb_a, most folders).
  # For an image folder, other entries name sub-folders of data.path.
  config.data.classes = ("horse", "bird")
  # data.name='image_folder': the folder of JPEG/PNG files (searched recursively); relative
  # paths are relative to the current directory. Ignored for TFDS data sets.
  config.data.path = ml_collections.config_dict.placeholder(str)
  config.data.split = "train"
  config.data.data_dir = ml_collections.config_dict.placeholder(str)  # None: TFDS's default
  config.data.download = True  # let TFDS download and prepare when the data is missing
  config.data.random_flip = True

  config.model = ml_collections.ConfigDict()
  config.model.image_size = 32
  config.model.channels = 3
  config.model.z_dim = 128
  config.model.g_width = 64
  config.model.d_width = 64
  config.model.d_norm = "spectral"  # 'spectral' | 'batch' | 'none'
  config.model.g_activation = "relu"
  config.model.d_activation = "leaky_relu"
  config.model.leaky_slope = 0.2

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.g_lr = 2e-4
  config.optimizer.d_lr = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  return config


# Families whose fields differ from the GAN ones; every other family uses `base_config()`.
def classifier_config() -> ml_collections.ConfigDict:
  """The CIFAR ResNet evaluation classifier (family 'classifier'): its own model and optimizer.

  It keeps the loop's fields and the class-major data (batch_size = images *per class*, labels
  = class index), drops the GAN-only `loss`, and evaluates on a held-out split.
  """
  config = base_config()
  del config["loss"]
  config.family = "classifier"
  config.total_steps = 30_000
  config.batch_size = 16  # per class: 160 images a step for CIFAR-10
  config.data.classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                         "horse", "ship", "truck")
  config.data.split = "train[:45000]"
  config.data.random_flip = False  # the family augments (crop + flip) on device
  config.eval_every = 1_000
  config.eval_split = "train[45000:]"
  config.best_metric = "eval/accuracy"
  config.best_mode = "max"

  config.model = ml_collections.ConfigDict()
  config.model.image_size = 32
  config.model.channels = 3
  config.model.depth = 20  # 6n + 2
  config.model.width = 16  # first stage's channels; x2, x4 in the next stages

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.lr = 0.1  # peak, for 128 images; scaled linearly with the global batch
  config.optimizer.momentum = 0.9
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4  # on conv/dense kernels only
  config.optimizer.schedule = "cosine"  # 'cosine' | 'constant'
  config.optimizer.warmup_steps = 200
  config.optimizer.label_smoothing = 0.0
  config.augment = ml_collections.ConfigDict()
  config.augment.crop_padding = 4  # random crop after zero padding (0 = off)
  config.augment.flip = True
  return config


_FAMILY_DEFAULTS = {"classifier": classifier_config}


def defaults_for(family: str) -> ml_collections.ConfigDict:
  """The complete field set (with defaults) for `family`: what validation accepts."""
  return _FAMILY_DEFAULTS.get(family, base_config)()


def flatten_config(config: Any, prefix: str = "") -> dict[str, Any]:
  """Every leaf field by dotted name ('model.d_width'), from a ConfigDict or its JSON dict."""
  flat = {}
  for key, value in config.items():
    name = f"{prefix}{key}"
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      flat.update(flatten_config(value, name + "."))
    else:
      flat[name] = value
  return flat
