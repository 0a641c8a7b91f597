"""The training loop end to end on tiny data: outputs, exact resume, config checks, NaN stop."""

import glob
import os

import jax
import numpy as np
import pytest

from conftest import tiny_config
from pegasus_jax import train
from pegasus_jax.run import checkpoint, restore


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                   jax.tree_util.tree_leaves(b)))


def test_run_writes_checkpoints_events_and_sample_grids(tmp_path, fake_data):
  summary = train.train_and_evaluate(tiny_config(), str(tmp_path))
  assert summary["final_step"] == 4 and summary["start_step"] == 0
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]
  assert sorted(os.listdir(tmp_path / "samples")) == ["step_0000002.png", "step_0000004.png"]
  assert glob.glob(str(tmp_path / "events.out.tfevents.*"))
  assert (tmp_path / "config.json").exists()
  metrics = summary["last_metrics"]
  # the :cpu recipe's hinge loss logs critic values (the logistic losses log D(real)/D(fake))
  for name in ("d_loss/horse", "d_loss/bird", "g_loss/horse", "critic_real/bird",
               "critic_fake/horse", "wasserstein_estimate/bird",
               "d_grad_norm/bird", "g_grad_norm", "g_loss_total"):
    assert np.isfinite(metrics[name]), name
  run = restore.load_run(str(tmp_path))
  assert run.step == 4 and int(run.state.step) == 4
  # 12 images per class, 4 per step: 3 steps per epoch, so step 4 is epoch 1, batch 1
  assert run.meta["data_position"]["horse"] == {"epoch": 1, "batch_in_epoch": 1}


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, fake_data):
  straight = train.train_and_evaluate(tiny_config(total_steps=6), str(tmp_path / "a"))
  first = train.train_and_evaluate(tiny_config(total_steps=3), str(tmp_path / "b"))
  assert first["final_step"] == 3
  second = train.train_and_evaluate(tiny_config(total_steps=6), str(tmp_path / "b"))
  assert second["start_step"] == 3 and second["final_step"] == 6
  assert _leaves_equal(jax.device_get(straight["state"]), jax.device_get(second["state"]))
  # and the saved checkpoints agree too
  a = restore.load_run(str(tmp_path / "a"))
  b = restore.load_run(str(tmp_path / "b"))
  assert _leaves_equal(a.state, b.state)


def test_finished_run_does_not_train_again(tmp_path, fake_data):
  train.train_and_evaluate(tiny_config(total_steps=2), str(tmp_path))
  again = train.train_and_evaluate(tiny_config(total_steps=2), str(tmp_path))
  assert again["start_step"] == 2 and again["final_step"] == 2


def test_resuming_with_another_model_config_is_a_clear_error(tmp_path, fake_data):
  train.train_and_evaluate(tiny_config(total_steps=2), str(tmp_path))
  with pytest.raises(checkpoint.IncompatibleCheckpointError,
                     match=r"config.model.d_width: checkpoint has 4, config has 8"):
    train.train_and_evaluate(tiny_config(total_steps=4, model__d_width=8), str(tmp_path))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, fake_data):
  def poison(step, batch):  # step is 0-based; the update that makes state.step == 3 gets NaNs
    if step >= 2:
      batch = {"real": np.full_like(batch["real"], np.nan)}
    return batch

  fake_data["transform"] = poison
  with pytest.raises(train.NonFiniteLossError, match=r"at step 3: .*d_loss/horse=nan"):
    train.train_and_evaluate(tiny_config(total_steps=6), str(tmp_path))
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]
  run = restore.load_run(str(tmp_path))
  assert run.step == 2
  assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(run.state))
