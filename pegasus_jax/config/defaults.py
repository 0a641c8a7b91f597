"""The fields every training config has (the loop's and the data's), with their defaults.

A family's `default_config()` starts from `base_config()` and adds its own fields (model, loss,
optimizer, ...); configs in `configs/` start from the family's defaults and override.
`config_validation` checks the result before anything is compiled or loaded.
"""

from typing import Any

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """The loop and data fields; a family adds its model, losses and optimisers."""
  config = ml_collections.ConfigDict()
  config.family = ""
  config.seed = 0
  config.total_steps = 50_000
  config.batch_size = 64  # global; what a 'batch' is (per class, per step) the family says
  config.log_every = 100
  config.sample_every = 1_000  # the family's visuals (sample grids, translations, plots)
  config.checkpoint_every = 2_000
  config.keep_checkpoints = 3
  config.num_sample_images = 64  # examples in each visual (the fixed-noise grid)
  config.prefetch = 2  # batches prepared ahead on device
  # 'float32' or 'bfloat16': convolutions/matmuls in bf16; parameters, optimiser state,
  # normalisation statistics, spectral norm, outputs and losses stay float32 (`precision`).
  config.precision = "float32"
  # Periodic evaluation every eval_every steps (0 = off), by the evaluators named in `evals`
  # (`pegasus_jax.evaluation.evaluators`): config.evals.NAME = ConfigDict(type=..., options...).
  config.eval_every = 0
  config.evals = ml_collections.ConfigDict()
  # Keep the best checkpoint by this evaluation scalar ('' = off) beside the latest ones, in
  # WORKDIR/checkpoints_best/; best_mode 'max' or 'min'.
  config.best_metric = ""
  config.best_mode = "max"

  config.data = ml_collections.ConfigDict()
  config.data.name = "cifar10"  # a TFDS name, 'image_folder' (reads data.path), or synthetic
  # What a batch holds (pegasus_jax.data): 'class_balanced' {'real': (K, n, H, W, C)},
  # 'labelled' {'image', 'label'}, 'synthetic' {'x'}, 'paired' {'a', 'b'} (two domains,
  # the second one set in data.domain_b). The family's defaults set it.
  config.data.sampler = "class_balanced"
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
  config.data.image_size = 32  # images are resized to image_size x image_size
  config.data.channels = 3  # 1 (grey) or 3 (RGB)
  # Applied to the decoded images ('' = none; 'colour' = coloured digits, data.channels=3):
  # a data set of its own for every family, e.g. the classifier of coloured MNIST.
  config.data.transform = ""
  return config


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
