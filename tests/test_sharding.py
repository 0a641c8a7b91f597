"""Data parallelism: the jitted step on 8 (fake CPU) devices equals the 1-device step."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, "tests")
    import jax, numpy as np
    from conftest import tiny_config
    from conftest import image_info
    from pegasus_jax import families, train
    from pegasus_jax.run import runtime

    assert jax.device_count() == 8, jax.devices()
    config = tiny_config(batch_size=16)
    family = families.create(config, image_info(("horse", "bird")))
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (2, 16, 8, 8, 3)).astype(np.float32)
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
      mesh = runtime.make_mesh(devices)
      state = jax.device_put(family.init(jax.random.PRNGKey(0)),
                             jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
      shardings = runtime.batch_shardings(mesh, family.data_spec())
      batch = {"real": jax.device_put(real, shardings["real"])}
      assert len(batch["real"].sharding.device_set) == len(devices)
      step = train.compile_train_step(family, mesh)
      for _ in range(2):
        state, metrics = step(state, batch)
      results.append(jax.device_get((state, metrics)))
    (s1, m1), (s8, m8) = results
    for name in m1:
      np.testing.assert_allclose(m8[name], m1[name], rtol=1e-4, atol=1e-5, err_msg=name)
    worst = 0.0
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s8)):
      np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
      worst = max(worst, float(np.max(np.abs(np.asarray(a, np.float64) - b))))
    print("OK max |diff| =", worst)
""")


# The conditional GAN's flat labelled batch: {'image': (B, H, W, C), 'label': (B,)}, each field
# sharded along its own batch axis (axis 0), the labels as int32.
FLAT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, "tests")
    import jax, numpy as np
    from conftest import image_info
    from test_gan_recipes import _cgan_config
    from pegasus_jax import families, train
    from pegasus_jax.run import runtime

    config = _cgan_config(batch_size=8, n_disc=1, model__g_width=4, model__d_width=4)
    family = families.create(config, image_info(("a", "b", "c"), 16))
    rng = np.random.default_rng(0)
    host = {"image": rng.uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32),
            "label": rng.integers(0, 3, 8).astype(np.int32)}
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
      mesh = runtime.make_mesh(devices)
      state = jax.device_put(family.init(jax.random.PRNGKey(0)), runtime.replicated(mesh))
      shardings = runtime.batch_shardings(mesh, family.data_spec())
      batch = {k: jax.device_put(v, shardings[k]) for k, v in host.items()}
      assert all(len(b.sharding.device_set) == len(devices) for b in batch.values())
      step = train.compile_train_step(family, mesh)
      state, metrics = step(state, batch)
      results.append(jax.device_get((state, metrics)))
    (s1, m1), (s8, m8) = results
    for name in m1:
      np.testing.assert_allclose(m8[name], m1[name], rtol=1e-4, atol=1e-5, err_msg=name)
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s8)):
      np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    print("OK flat labelled batch")
""")


def _run_on_eight_devices(script: str) -> str:
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  return out.stdout


@pytest.fixture(scope="module")
def eight_device_output() -> str:
  """Both scripts in one interpreter: one start-up of JAX and TensorFlow instead of two."""
  return _run_on_eight_devices(SCRIPT + "\n" + FLAT_SCRIPT)


def test_eight_device_step_equals_one_device_step(eight_device_output):
  assert "OK max |diff|" in eight_device_output


def test_per_field_sharding_of_a_flat_labelled_batch_equals_one_device(eight_device_output):
  assert "OK flat labelled batch" in eight_device_output
