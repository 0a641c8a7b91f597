"""Tests for the FID Inception network, its resize and its pytorch-fid weight loader.

The real weights are not available offline, so the loader is exercised with a
fake state_dict that has pytorch-fid's exact names and shapes. The expected
names/shapes are written out here independently of the Flax module (from
torchvision's Inception3 + pytorch-fid's FID patches), so a renamed or
mis-shaped layer fails the test instead of silently agreeing with itself.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pegasus_jax.errors import ConfigError
from pegasus_jax.evaluation import fid_preprocessing
from pegasus_jax.evaluation import inception
from pegasus_jax.evaluation import fid_weights


# ----------------------------------------------------------------------------
# Independent spec of pytorch-fid's fid_inception_v3() state_dict


def _conv(name: str, cin: int, cout: int, kh: int, kw: int | None = None) -> dict[str, tuple[int, ...]]:
    kw = kh if kw is None else kw
    entries = {f"{name}.conv.weight": (cout, cin, kh, kw)}
    for buffer in ("weight", "bias", "running_mean", "running_var"):
        entries[f"{name}.bn.{buffer}"] = (cout,)
    return entries


def _block(prefix: str, convs: list[tuple]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name, *shape in convs:
        out.update(_conv(f"{prefix}.{name}", *shape))
    return out


def _inception_a(prefix: str, cin: int, pool: int) -> dict[str, tuple[int, ...]]:
    return _block(prefix, [
        ("branch1x1", cin, 64, 1), ("branch5x5_1", cin, 48, 1), ("branch5x5_2", 48, 64, 5),
        ("branch3x3dbl_1", cin, 64, 1), ("branch3x3dbl_2", 64, 96, 3), ("branch3x3dbl_3", 96, 96, 3),
        ("branch_pool", cin, pool, 1),
    ])


def _inception_c(prefix: str, c7: int) -> dict[str, tuple[int, ...]]:
    return _block(prefix, [
        ("branch1x1", 768, 192, 1),
        ("branch7x7_1", 768, c7, 1), ("branch7x7_2", c7, c7, 1, 7), ("branch7x7_3", c7, 192, 7, 1),
        ("branch7x7dbl_1", 768, c7, 1), ("branch7x7dbl_2", c7, c7, 7, 1), ("branch7x7dbl_3", c7, c7, 1, 7),
        ("branch7x7dbl_4", c7, c7, 7, 1), ("branch7x7dbl_5", c7, 192, 1, 7),
        ("branch_pool", 768, 192, 1),
    ])


def _inception_e(prefix: str, cin: int) -> dict[str, tuple[int, ...]]:
    return _block(prefix, [
        ("branch1x1", cin, 320, 1),
        ("branch3x3_1", cin, 384, 1), ("branch3x3_2a", 384, 384, 1, 3), ("branch3x3_2b", 384, 384, 3, 1),
        ("branch3x3dbl_1", cin, 448, 1), ("branch3x3dbl_2", 448, 384, 3),
        ("branch3x3dbl_3a", 384, 384, 1, 3), ("branch3x3dbl_3b", 384, 384, 3, 1),
        ("branch_pool", cin, 192, 1),
    ])


def pytorch_fid_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    spec: dict[str, tuple[int, ...]] = {}
    for name, cin, cout, k in [
        ("Conv2d_1a_3x3", 3, 32, 3), ("Conv2d_2a_3x3", 32, 32, 3), ("Conv2d_2b_3x3", 32, 64, 3),
        ("Conv2d_3b_1x1", 64, 80, 1), ("Conv2d_4a_3x3", 80, 192, 3),
    ]:
        spec.update(_conv(name, cin, cout, k))
    spec.update(_inception_a("Mixed_5b", 192, 32))
    spec.update(_inception_a("Mixed_5c", 256, 64))
    spec.update(_inception_a("Mixed_5d", 288, 64))
    spec.update(_block("Mixed_6a", [
        ("branch3x3", 288, 384, 3), ("branch3x3dbl_1", 288, 64, 1),
        ("branch3x3dbl_2", 64, 96, 3), ("branch3x3dbl_3", 96, 96, 3),
    ]))
    for name, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
        spec.update(_inception_c(name, c7))
    spec.update(_block("Mixed_7a", [
        ("branch3x3_1", 768, 192, 1), ("branch3x3_2", 192, 320, 3),
        ("branch7x7x3_1", 768, 192, 1), ("branch7x7x3_2", 192, 192, 1, 7),
        ("branch7x7x3_3", 192, 192, 7, 1), ("branch7x7x3_4", 192, 192, 3),
    ]))
    spec.update(_inception_e("Mixed_7b", 1280))
    spec.update(_inception_e("Mixed_7c", 2048))
    spec["fc.weight"] = (1008, 2048)
    spec["fc.bias"] = (1008,)
    return spec


def _fake_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights with pytorch-fid's names/shapes, scaled so activations stay finite."""
    rng = np.random.default_rng(seed)
    state_dict = {}
    for name, shape in pytorch_fid_state_dict_shapes().items():
        if name.endswith(".weight") and len(shape) > 1:  # conv OIHW or fc (out, in)
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        elif name.endswith(("running_var", "bn.weight")):
            value = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:  # biases and running means
            value = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        state_dict[name] = value
    return state_dict


@pytest.fixture(scope="module")
def fake_state_dict() -> dict[str, np.ndarray]:
    return _fake_state_dict()


@pytest.fixture(scope="module")
def fake_npz(tmp_path_factory, fake_state_dict) -> str:
    path = tmp_path_factory.mktemp("weights") / "fid_inception.npz"
    # As a converted PyTorch file could, include BatchNorm's unused step counters.
    extras = {
        name.replace(".running_mean", ".num_batches_tracked"): np.array(0, np.int64)
        for name in fake_state_dict
        if name.endswith(".running_mean")
    }
    np.savez(path, **fake_state_dict, **extras)
    return str(path)


@pytest.fixture(scope="module")
def fake_variables(fake_npz):
    return fid_weights.load_inception_params(fake_npz)


# ----------------------------------------------------------------------------
# Parameter tree


def test_network_parameters_are_exactly_pytorch_fid_state_dict():
    expected = pytorch_fid_state_dict_shapes()
    assert len(expected) == 94 * 5 + 2  # 94 conv+BN units, plus fc weight and bias
    assert fid_weights.expected_state_dict_shapes() == expected
    assert sum(int(np.prod(s)) for s in expected.values()) == 23_885_392


def test_flax_tree_from_abstract_init_has_flax_layouts():
    abstract = jax.eval_shape(
        inception.FIDInceptionV3().init,
        jax.random.key(0),
        jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32),
    )
    assert set(abstract) == {"params", "batch_stats"}
    conv = abstract["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
    assert conv.shape == (1, 7, 128, 128)  # HWIO of torch (128, 128, 1, 7)
    assert abstract["params"]["fc"]["kernel"].shape == (2048, 1008)
    assert abstract["batch_stats"]["Conv2d_1a_3x3"]["bn"]["var"].shape == (32,)


# ----------------------------------------------------------------------------
# Loader


def test_loader_maps_npz_names_to_flax_variables(fake_variables, fake_state_dict):
    variables = fake_variables
    sd = fake_state_dict
    params, stats = variables["params"], variables["batch_stats"]

    np.testing.assert_array_equal(
        params["Mixed_5b"]["branch5x5_2"]["conv"]["kernel"],
        sd["Mixed_5b.branch5x5_2.conv.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        params["Mixed_7c"]["branch3x3dbl_3a"]["conv"]["kernel"],
        sd["Mixed_7c.branch3x3dbl_3a.conv.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(params["Conv2d_1a_3x3"]["bn"]["scale"], sd["Conv2d_1a_3x3.bn.weight"])
    np.testing.assert_array_equal(params["Conv2d_1a_3x3"]["bn"]["bias"], sd["Conv2d_1a_3x3.bn.bias"])
    np.testing.assert_array_equal(stats["Mixed_6e"]["branch_pool"]["bn"]["mean"], sd["Mixed_6e.branch_pool.bn.running_mean"])
    np.testing.assert_array_equal(stats["Mixed_6e"]["branch_pool"]["bn"]["var"], sd["Mixed_6e.branch_pool.bn.running_var"])
    np.testing.assert_array_equal(params["fc"]["kernel"], sd["fc.weight"].T)
    np.testing.assert_array_equal(params["fc"]["bias"], sd["fc.bias"])

    # Every entry survives the round trip, and the tree matches the network's.
    back = fid_weights.variables_to_state_dict(variables)
    assert set(back) == set(sd)
    for name, value in sd.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)
    abstract = jax.eval_shape(
        inception.FIDInceptionV3().init, jax.random.key(0), jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
    )
    assert jax.tree.structure(abstract) == jax.tree.structure(variables)
    assert jax.tree.map(lambda a: a.shape, abstract) == jax.tree.map(lambda a: a.shape, variables)


def test_missing_file_explains_what_it_is_and_how_to_convert(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        fid_weights.load_inception_params(tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    message = str(error.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message
    assert fid_weights.FID_WEIGHTS_URL in message
    assert "v0.1.0" in message
    assert "python -m pegasus_jax.tools.convert_inception" in message


def test_missing_key_is_reported(fake_state_dict):
    state_dict = dict(fake_state_dict)
    del state_dict["Mixed_6c.branch7x7dbl_4.bn.running_var"]
    with pytest.raises(ValueError, match=r"1 missing keys: Mixed_6c\.branch7x7dbl_4\.bn\.running_var"):
        fid_weights.state_dict_to_variables(state_dict)


def test_extra_key_is_reported(fake_state_dict):
    state_dict = dict(fake_state_dict, **{"AuxLogits.fc.weight": np.zeros((1008, 768), np.float32)})
    with pytest.raises(ValueError, match=r"1 unexpected keys: AuxLogits\.fc\.weight"):
        fid_weights.state_dict_to_variables(state_dict)


def test_wrong_shape_is_reported_from_npz(tmp_path, fake_state_dict):
    state_dict = dict(fake_state_dict)
    state_dict["fc.weight"] = np.zeros((1000, 2048), np.float32)  # torchvision's 1000 classes
    path = tmp_path / "bad.npz"
    np.savez(path, **state_dict)
    with pytest.raises(ValueError, match=r"fc\.weight: expected \(1008, 2048\), got \(1000, 2048\)"):
        fid_weights.load_inception_params(path)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_pth_without_torch_points_to_the_converter(tmp_path):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    path.write_bytes(b"not read")
    with pytest.raises(ImportError, match="convert_inception"):
        fid_weights.load_inception_params(path)


# ----------------------------------------------------------------------------
# Resize


def test_resize_matches_hand_computed_align_corners_false():
    # 2 -> 4: source coordinates (-0.25 -> 0, 0.25, 0.75, 1.25 -> clamped to 1).
    image = np.array([[0.0, 4.0], [8.0, 12.0]], np.float32)[None, :, :, None]
    expected = np.array(
        [[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]], np.float32
    )
    np.testing.assert_allclose(fid_preprocessing.resize_bilinear(image, (4, 4))[0, :, :, 0], expected, atol=1e-6)

    # 3 -> 5: coordinates 0, 0.4, 1.0, 1.6, 2.2 (the last one clamps to pixel 2).
    row = np.array([0.0, 10.0, 20.0], np.float32)[None, None, :, None]
    np.testing.assert_allclose(fid_preprocessing.resize_bilinear(row, (1, 5))[0, 0, :, 0], [0, 4, 10, 16, 20], atol=1e-5)

    # 4 -> 2 downsampling averages only the two nearest pixels: no antialiasing.
    row = np.array([0.0, 1.0, 2.0, 7.0], np.float32)[None, None, :, None]
    np.testing.assert_allclose(fid_preprocessing.resize_bilinear(row, (1, 2))[0, 0, :, 0], [0.5, 4.5], atol=1e-6)


def test_resize_keeps_same_size_and_agrees_with_unaliased_jax_resize():
    images = np.random.default_rng(0).uniform(-1, 1, (2, 7, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(fid_preprocessing.resize_bilinear(images, (7, 5)), images)
    for size in [(11, 3), (4, 9)]:
        ours = fid_preprocessing.resize_bilinear(images, size)
        theirs = jax.image.resize(images, (2, *size, 3), "bilinear", antialias=False)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_resize_matches_torch_interpolate():
    import torch  # pylint: disable=import-outside-toplevel
    import torch.nn.functional as F  # pylint: disable=import-outside-toplevel

    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 27, 3)).astype(np.float32)
    expected = F.interpolate(
        torch.from_numpy(images).permute(0, 3, 1, 2), size=(299, 299), mode="bilinear", align_corners=False
    ).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(fid_preprocessing.resize_bilinear(images, (299, 299)), expected, atol=2e-6)


# ----------------------------------------------------------------------------
# TF1 resize (the tf_original protocol)


def _tf1_resize_by_definition(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """TF1 align_corners=False resize of an (H, W) array, pixel by pixel, in float64.

    Straight from the definition: source coordinate = dst * in/out, neighbours
    floor(src) and floor(src) + 1 clamped at the edge, lerp along x then y.
    """
    in_h, in_w = image.shape
    out = np.zeros(size)
    for i in range(size[0]):
        y = i * in_h / size[0]
        y0 = int(np.floor(y))
        y1, fy = min(y0 + 1, in_h - 1), y - y0
        for j in range(size[1]):
            x = j * in_w / size[1]
            x0 = int(np.floor(x))
            x1, fx = min(x0 + 1, in_w - 1), x - x0
            top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * fx
            bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * fx
            out[i, j] = top + (bottom - top) * fy
    return out


def test_tf1_resize_matches_hand_computed_values():
    resize = fid_preprocessing.resize_bilinear_tf1
    # 2 -> 4: source coordinates 0, 0.5, 1, 1.5 (the last clamps to pixel 1).
    image = np.array([[0.0, 4.0], [8.0, 12.0]], np.float32)[None, :, :, None]
    expected = np.array([[0, 2, 4, 4], [4, 6, 8, 8], [8, 10, 12, 12], [8, 10, 12, 12]], np.float32)
    np.testing.assert_allclose(resize(image, (4, 4))[0, :, :, 0], expected, atol=1e-6)
    # PyTorch's half-pixel resize of the same image is centred; TF1's leans to the top left.
    assert not np.allclose(fid_preprocessing.resize_bilinear(image, (4, 4))[0, :, :, 0], expected)

    # 3 -> 5: coordinates 0, 0.6, 1.2, 1.8, 2.4 (the last clamps to pixel 2).
    row = np.array([0.0, 10.0, 20.0], np.float32)[None, None, :, None]
    np.testing.assert_allclose(resize(row, (1, 5))[0, 0, :, 0], [0, 6, 12, 18, 20], atol=1e-5)

    # 4 -> 2 downsampling samples pixels 0 and 2: no averaging, no antialiasing.
    row = np.array([0.0, 1.0, 2.0, 7.0], np.float32)[None, None, :, None]
    np.testing.assert_allclose(resize(row, (1, 2))[0, 0, :, 0], [0.0, 2.0], atol=1e-6)

    # Same size is the identity; a single pixel spreads unchanged.
    images = np.random.default_rng(0).uniform(0, 255, (2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(resize(images, (5, 4)), images)
    np.testing.assert_array_equal(resize(images[:, :1, :1], (3, 2)), np.broadcast_to(images[:, :1, :1], (2, 3, 2, 3)))


@pytest.mark.parametrize("in_shape,size", [((5, 7), (9, 4)), ((6, 3), (2, 8)), ((4, 4), (13, 13))])
def test_tf1_resize_matches_its_definition_on_random_arrays(in_shape, size):
    image = np.random.default_rng(1).uniform(0, 255, in_shape)
    ours = fid_preprocessing.resize_bilinear_tf1(image[None, :, :, None].astype(np.float32), size)
    np.testing.assert_allclose(ours[0, :, :, 0], _tf1_resize_by_definition(image, size), rtol=0, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 32, 32, 3), (2, 28, 28, 1), (1, 32, 27, 3)])
def test_tf1_resize_matches_tensorflow_resize_bilinear(shape):
    tf = pytest.importorskip("tensorflow")
    images = np.random.default_rng(2).uniform(0, 255, shape).astype(np.float32)
    expected = tf.raw_ops.ResizeBilinear(
        images=images, size=(299, 299), align_corners=False, half_pixel_centers=False
    ).numpy()
    ours = jax.jit(fid_preprocessing.resize_bilinear_tf1, static_argnums=1)(images, (299, 299))
    # Within a few float32 ulps of 255 (1.5e-5): XLA may fuse the lerps' multiply-adds.
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_tf_original_matches_torch_fidelity_if_installed(tmp_path, fake_state_dict, fake_variables):
    """Optional (torch-fidelity is not a dependency): its TF1 resize, and its Inception features
    on the same random weights, against the tf_original protocol."""
    compat = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow")
    extractor = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    import torch  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = compat.interpolate_bilinear_2d_like_tensorflow1x(
        torch.from_numpy(images).permute(0, 3, 1, 2), size=(299, 299), align_corners=False
    ).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(fid_preprocessing.resize_bilinear_tf1(images, (299, 299)), expected, rtol=0, atol=1e-4)

    weights = tmp_path / "fake.pth"
    torch.save({name: torch.from_numpy(value) for name, value in fake_state_dict.items()}, weights)
    model = extractor.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights))
    pixels = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        (theirs,) = model(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous())
    ours, _ = inception.inception_features_and_logits(
        fake_variables, pixels / 127.5 - 1, batch_size=2, protocol="tf_original"
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------
# FID protocols


def test_network_input_follows_each_protocol():
    images = np.random.default_rng(4).uniform(-1, 1, (2, 8, 6, 3)).astype(np.float32)
    images[0, 0, 0] = [-1.0, 1.0, 0.0]  # black, white and mid-grey at a corner pixel
    torch_style = fid_preprocessing.network_input(images, "pytorch_fid", input_size=12)
    tf_style = fid_preprocessing.network_input(images, "tf_original", input_size=12)
    np.testing.assert_allclose(torch_style, fid_preprocessing.resize_bilinear(images, (12, 12)), atol=1e-6)
    pixels = (images.astype(np.float64) + 1) * 127.5
    expected = (fid_preprocessing.resize_bilinear_tf1(pixels.astype(np.float32), (12, 12)) - 128) / 128
    np.testing.assert_allclose(tf_style, expected, atol=1e-6)
    # The TF graph maps pixel 255 to 127/128, pixel 0 to -1, and 127.5 to -1/256.
    np.testing.assert_allclose(tf_style[0, 0, 0], [-1.0, 0.9921875, -0.00390625], atol=1e-6)
    np.testing.assert_allclose(torch_style[0, 0, 0], [-1.0, 1.0, 0.0], atol=1e-6)
    # Without a resize only the scaling differs: an affine map per value.
    unresized = fid_preprocessing.network_input(images, "tf_original", input_size=None)
    np.testing.assert_allclose(unresized, (images + 1) * 127.5 / 128 - 1, atol=1e-6)


def test_the_two_protocols_give_different_features(fake_variables):
    """The same uint8-level images through both protocols (at 75x75, the smallest input, to stay cheap)."""
    pixels = np.random.default_rng(5).integers(0, 256, (3, 32, 32, 3))
    images = (pixels / 127.5 - 1).astype(np.float32)
    network = jax.jit(inception.FIDInceptionV3(input_size=None).apply)  # no resize, no rescaling
    torch_features, _ = network(fake_variables, fid_preprocessing.network_input(images, "pytorch_fid", 75))
    tf_features, _ = network(fake_variables, fid_preprocessing.network_input(images, "tf_original", 75))
    difference = np.abs(tf_features - torch_features).max() / np.abs(torch_features).max()
    assert difference > 1e-2, difference
    # The batched helper applies the protocol it is given, and nothing else.
    features, logits = inception.inception_features_and_logits(
        fake_variables, images, batch_size=3, input_size=75, protocol="tf_original"
    )
    assert logits.shape == (3, 1008)
    np.testing.assert_allclose(features, tf_features, rtol=1e-4, atol=5e-5)


def test_unknown_protocol_is_a_one_line_config_error(fake_variables):
    with pytest.raises(ConfigError, match=r"unknown FID protocol 'tf1'; --fid_protocol takes pytorch_fid") as error:
        fid_preprocessing.check_fid_protocol("tf1")
    assert "\n" not in str(error.value)
    images = np.zeros((1, 8, 8, 3), np.float32)
    with pytest.raises(ConfigError, match="unknown FID protocol 'clean'"):
        inception.inception_features_and_logits(fake_variables, images, input_size=None, protocol="clean")
    with pytest.raises(ConfigError, match="unknown FID protocol 'PyTorch_FID'"):
        fid_preprocessing.network_input(images, "PyTorch_FID")
    assert fid_preprocessing.check_fid_protocol("tf_original") == "tf_original"


# ----------------------------------------------------------------------------
# Forward pass


def test_output_shapes_at_299():
    variables = jax.eval_shape(
        inception.FIDInceptionV3().init, jax.random.key(0), jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
    )
    features, logits = jax.eval_shape(
        inception.FIDInceptionV3().apply, variables, jax.ShapeDtypeStruct((5, 32, 32, 3), jnp.float32)
    )
    assert features.shape == (5, 2048) and logits.shape == (5, 1008)
    assert features.dtype == jnp.float32 and logits.dtype == jnp.float32


def test_batched_helper_on_loaded_weights(fake_variables, fake_state_dict):
    """Small real forward (75x75, no resize): batching, padding and the logits' bias."""
    variables = fake_variables
    images = np.random.default_rng(1).uniform(-1, 1, (3, 75, 75, 3)).astype(np.float32)

    features, logits = inception.inception_features_and_logits(variables, images, batch_size=2, input_size=None)
    assert features.shape == (3, 2048) and logits.shape == (3, 1008)
    assert np.isfinite(features).all() and (features >= 0).all()  # mean of ReLU outputs
    assert features.std() > 0

    # Logits are pool3 @ fc.weight.T, without the bias by default (TF IS convention).
    weight, bias = fake_state_dict["fc.weight"].astype(np.float64), fake_state_dict["fc.bias"]
    np.testing.assert_allclose(logits, features @ weight.T, rtol=1e-4, atol=1e-5)

    # A single unpadded batch gives the same numbers as two padded ones (up to
    # float32 reassociation between differently compiled programs).
    one_batch = inception.FIDInceptionV3(input_size=None, logits_bias=True).apply(variables, images)
    np.testing.assert_allclose(features, one_batch[0], rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(logits + bias, one_batch[1], rtol=1e-4, atol=5e-5)


def test_helper_rejects_images_outside_minus_one_one(fake_variables):
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        inception.inception_features_and_logits(fake_variables, np.full((1, 8, 8, 3), 255.0), input_size=None)
