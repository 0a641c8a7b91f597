"""The FID Inception weights: pytorch-fid's state_dict <-> Flax variables, and loading them.

The published network is pytorch-fid's port of TensorFlow's 'inception-2015-12-05' graph
(`pt_inception-2015-12-05-6726825d.pth`, release v0.1.0). Its names map one to one onto
`evaluation.inception.FIDInceptionV3`'s variables; `python -m pegasus_jax.tools.convert_inception`
writes them once as a torch-free .npz. Weights are never downloaded here: see
`load_inception_params`.
"""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation.fid_preprocessing import INPUT_SIZE
from pegasus_jax.evaluation.inception import FIDInceptionV3, Variables

FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    + FID_WEIGHTS_FILENAME
)

StateDict = dict[str, np.ndarray]


# ----------------------------------------------------------------------------
# pytorch-fid state_dict <-> Flax variables

# Flax (collection, last two path entries) -> (pytorch suffix, Flax->torch axes).
_LEAF_TO_TORCH: dict[tuple[str, str, str], tuple[str, tuple[int, ...] | None]] = {
    ("params", "conv", "kernel"): ("conv.weight", (3, 2, 0, 1)),  # HWIO -> OIHW
    ("params", "bn", "scale"): ("bn.weight", None),
    ("params", "bn", "bias"): ("bn.bias", None),
    ("batch_stats", "bn", "mean"): ("bn.running_mean", None),
    ("batch_stats", "bn", "var"): ("bn.running_var", None),
    ("params", "fc", "kernel"): ("fc.weight", (1, 0)),  # (in, out) -> (out, in)
    ("params", "fc", "bias"): ("fc.bias", None),
}

# Bookkeeping buffers of PyTorch BatchNorm that inference does not use.
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def _torch_name(collection: str, path: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None]:
    """pytorch-fid name of a Flax leaf, and the permutation taking Flax to torch layout."""
    key = (collection, path[-2], path[-1])
    if key not in _LEAF_TO_TORCH:
        raise KeyError(f"no pytorch-fid name for Flax variable {collection}/{'/'.join(path)}")
    suffix, axes = _LEAF_TO_TORCH[key]
    return ".".join(path[:-2] + (suffix,)), axes


@functools.lru_cache(maxsize=1)
def _variable_template() -> dict[tuple[str, ...], jax.ShapeDtypeStruct]:
    """Flattened Flax variables of the network at 299x299, built abstractly (no FLOPs)."""
    abstract = jax.eval_shape(
        FIDInceptionV3().init,
        jax.random.key(0),
        jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32),
    )
    return traverse_util.flatten_dict(abstract)


def _permuted_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(shape) if axes is None else tuple(shape[a] for a in axes)


def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """pytorch-fid state_dict names and (torch-layout) shapes this network needs.

    Derived from the Flax module itself, so it is the single source of truth for
    the loader's strict check (`num_batches_tracked` buffers are not listed).
    """
    shapes = {}
    for (collection, *path), leaf in _variable_template().items():
        name, axes = _torch_name(collection, tuple(path))
        shapes[name] = _permuted_shape(leaf.shape, axes)
    return shapes


def state_dict_to_variables(state_dict: Mapping[str, Any]) -> Variables:
    """Maps a pytorch-fid state_dict (name -> array) to Flax `{'params', 'batch_stats'}`.

    Strict: missing names, unexpected names and shape mismatches all raise one
    ValueError listing them, so a wrong or truncated weights file cannot yield
    silently wrong scores. PyTorch's `*.num_batches_tracked` buffers are ignored.
    """
    given = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)}
    expected = expected_state_dict_shapes()
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = sorted(
        f"{name}: expected {expected[name]}, got {tuple(np.shape(given[name]))}"
        for name in set(expected) & set(given)
        if tuple(np.shape(given[name])) != expected[name]
    )
    if missing or unexpected or mismatched:
        problems = []
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        ):
            if items:
                problems.append(f"{len(items)} {title}: " + ", ".join(items))
        raise ConfigError(
            "Inception weights do not match pytorch-fid's fid_inception_v3 state_dict; "
            + "; ".join(problems)
        )

    flat = {}
    for (collection, *path), leaf in _variable_template().items():
        name, axes = _torch_name(collection, tuple(path))
        value = np.asarray(given[name], dtype=np.float32)
        if axes is not None:
            value = value.transpose(np.argsort(axes))  # torch layout -> Flax layout
        assert value.shape == leaf.shape, (name, value.shape, leaf.shape)
        flat[(collection, *path)] = jnp.asarray(value)
    return traverse_util.unflatten_dict(flat)


def variables_to_state_dict(variables: Variables) -> StateDict:
    """Inverse of `state_dict_to_variables`: Flax variables -> pytorch-fid names/layouts."""
    state_dict = {}
    for (collection, *path), value in traverse_util.flatten_dict(dict(variables)).items():
        name, axes = _torch_name(collection, tuple(path))
        array = np.asarray(value, dtype=np.float32)
        state_dict[name] = array if axes is None else array.transpose(axes)
    return state_dict


# ----------------------------------------------------------------------------
# Loading weights from disk


def _convert_command(pth: str | os.PathLike[str]) -> str:
    out = pathlib.Path(pth).with_suffix(".npz")
    return f"python -m pegasus_jax.tools.convert_inception --pth={pth} --out={out}"


def _missing_weights_message(path: pathlib.Path) -> str:
    return (
        f"FID Inception weights not found at {str(path)!r}. This file holds the "
        f"TensorFlow 'inception-2015-12-05' FID network as ported by pytorch-fid "
        f"(release v0.1.0, file {FID_WEIGHTS_FILENAME}). Nothing is downloaded "
        f"automatically: fetch it on a machine with internet access from\n  "
        f"{FID_WEIGHTS_URL}\nthen either pass the .pth itself (needs torch "
        f"installed) or convert it once, on a machine with torch, to a torch-free "
        f".npz:\n  {_convert_command(FID_WEIGHTS_FILENAME)}\nand pass the .npz path."
    )


def read_torch_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads pytorch-fid's `.pth` into name -> numpy array; needs torch (imported lazily)."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as err:
        raise ImportError(
            f"Reading {str(path)!r} needs PyTorch, which is not installed (pegasus_jax "
            "does not depend on it). On a machine with torch, convert the weights once "
            f"with\n  {_convert_command(path)}\nand load the resulting .npz instead."
        ) from err
    state_dict = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    return {name: tensor.detach().cpu().numpy() for name, tensor in state_dict.items()}


def load_npz_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads an `.npz` whose keys are pytorch-fid state_dict names."""
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def load_inception_params(path: str | os.PathLike[str]) -> Variables:
    """Loads the FID Inception weights as Flax variables for `FIDInceptionV3`.

    `path` is either pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (read
    only if torch is importable) or the `.npz` written by
    `python -m pegasus_jax.tools.convert_inception`. Never downloads anything; a
    missing file raises FileNotFoundError explaining where to get it.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(_missing_weights_message(path))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        state_dict = load_npz_state_dict(path)
    elif suffix in (".pth", ".pt"):
        state_dict = read_torch_state_dict(path)
    else:
        raise ConfigError(f"expected a .pth or .npz Inception weights file, got {str(path)!r}")
    return state_dict_to_variables(state_dict)
