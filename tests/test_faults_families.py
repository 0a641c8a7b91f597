"""Kill and resume every family's real CLI run: the exact-resume guarantee beyond JointGAN.

Split from tests/test_faults.py (JointGAN's faults) so that pytest-xdist's per-file scheduling
(pytest.ini) can run these three subprocess-heavy tests beside that file's on the other worker.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # pylint: disable=g-import-not-at-top,wrong-import-position

SLOW = {"PEGASUS_TEST_STEP_DELAY": "0.05"}  # so a signal sent at step n lands near step n


@pytest.fixture(scope="module")
def cache_env(subprocess_jax_cache) -> dict[str, str]:
  return dict(subprocess_jax_cache)


# The other families' runs, shrunk to a compile of seconds: the same kill/resume check through
# the real CLI. BiGAN and CycleGAN read MNIST through the real TFDS pipeline on TFDS's mock
# examples; the toy GAN's data is synthetic already.
_FAMILY_RUNS = {
    "toy1d": ("configs/toy1d.py:cpu", "real",
              ["--config.model.hidden=16", "--config.batch_size=8"]),
    "bigan": ("configs/bigan_mnist.py:cpu", "tfds_mock",
              ["--config.batch_size=4", "--config.data.image_size=8", "--config.model.hidden=16",
               "--config.model.z_dim=3", "--config.num_sample_images=4",
               "--config.num_reconstructions=4"]),
    "cyclegan": ("configs/cyclegan_mnist.py:cpu", "tfds_mock",
                 ["--config.batch_size=4", "--config.data.image_size=8",
                  "--config.data.domain_b.image_size=8", "--config.model.g_width=4",
                  "--config.model.g_downsamples=1", "--config.model.g_blocks=0",
                  "--config.model.d_width=4", "--config.num_sample_images=3"]),
}


@pytest.mark.parametrize("family", sorted(_FAMILY_RUNS))
def test_sigkill_then_resume_is_bitwise_for_every_family(tmp_path, cache_env, family):
  config, source, flags = _FAMILY_RUNS[family]
  env = dict(cache_env)
  flags = [*flags, "--config.total_steps=8", "--config.checkpoint_every=2",
           "--config.keep_checkpoints=10", "--config.log_every=4", "--config.sample_every=1000",
           "--config.eval_every=0"]
  if source == "tfds_mock":
    env["PEGASUS_TEST_DATA"] = "tfds_mock:" + str(tmp_path / "tfds")
    flags += [f"--config.data.data_dir={tmp_path / 'tfds'}", "--config.data.download=False"]
  else:
    env["PEGASUS_TEST_DATA"] = source
  reference, workdir = str(tmp_path / "reference"), str(tmp_path / "run")
  result = fh.run(reference, env=env, timeout=300,
                  argv=fh.family_command(config, reference, flags))
  assert result.returncode == 0, result.stdout
  code, output = fh.kill_at_step(workdir, 5, env=dict(env, **SLOW),
                                 argv=fh.family_command(config, workdir, flags))
  assert code == -signal.SIGKILL, f"child ended before the kill:\n{output}"
  result = fh.run(workdir, env=env, timeout=300, argv=fh.family_command(config, workdir, flags))
  assert result.returncode == 0, result.stdout
  assert "Took over the stale lock" in result.stdout
  final, step = fh.restore_state(workdir)
  expected, expected_step = fh.restore_state(reference)
  assert step == expected_step == 8
  assert fh.trees_equal(final, expected), f"{family}: resumed run differs from reference"
