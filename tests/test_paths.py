"""pegasus_jax.run.paths on local paths (gs:// is in test_object_storage.py) and the event writer
that gs:// workdirs use, read back by TensorBoard's own loader."""

from __future__ import annotations

import os

import numpy as np

from pegasus_jax.run import event_files, paths


def test_local_paths_resolve_absolute_and_uris_stay_uris(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert str(paths.resolve("runs/a")) == str(tmp_path / "runs" / "a")
  assert str(paths.resolve("gs://bucket/runs/a/")) == "gs://bucket/runs/a"
  assert paths.is_object_storage("gs://bucket/x") and paths.is_local("runs/gs:/x")


def test_local_writes_create_parents_and_move_tree_moves(tmp_path):
  paths.write_bytes(tmp_path / "a" / "b" / "c.bin", b"123")
  paths.write_bytes_atomic(tmp_path / "a" / "d.bin", b"45")
  paths.save_npz(tmp_path / "a" / "x.npz", compressed=True, x=np.arange(3))
  assert paths.read_bytes(tmp_path / "a" / "d.bin") == b"45"
  assert np.array_equal(paths.load_npz(tmp_path / "a" / "x.npz")["x"], np.arange(3))
  assert not [n for n in os.listdir(tmp_path / "a") if ".tmp." in n]
  paths.move_tree(tmp_path / "a", tmp_path / "moved")
  assert not (tmp_path / "a").exists()
  assert (tmp_path / "moved" / "b" / "c.bin").read_bytes() == b"123"


def test_event_file_writer_is_read_by_tensorboard(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top
  writer = event_files.EventFileWriter(str(tmp_path), upload_every_s=0, max_file_bytes=300)
  writer.write_hparams({"lr": 0.1, "arch": "dcgan"})
  for step in range(1, 4):
    writer.write_scalars(step, {"loss": 1.0 / step})
  writer.write_images(3, {"grid": np.full((1, 8, 8, 3), 200, np.uint8)})
  writer.close()
  assert len(os.listdir(tmp_path)) >= 2  # past max_file_bytes a new file was started
  loaded = event_accumulator.EventAccumulator(
      str(tmp_path), size_guidance={event_accumulator.TENSORS: 0})
  loaded.Reload()
  losses = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
            for e in loaded.Tensors("loss")]
  assert losses == [(1, 1.0), (2, 0.5), (3, np.float32(1 / 3))]
  (image,) = loaded.Tensors("grid")
  width, height, png = tensor_util.make_ndarray(image.tensor_proto)
  assert (width, height) == (b"8", b"8") and png.startswith(b"\x89PNG")
  assert "_hparams_/session_start_info" in loaded.Tags()["tensors"]
