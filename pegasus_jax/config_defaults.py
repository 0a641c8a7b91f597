"""The fields every training config has, with their defaults.

Configs in `configs/` start from `base_config()` and override; `config_validation` checks the
result against these fields' types and ranges before anything is compiled.
"""

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
