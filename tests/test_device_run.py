"""benchmarks/device_run.sh and its helpers: the planned commands, and the TensorFlow-free path.

The lent GPU machines have no TensorFlow, TFDS, ml_collections or clu. The dry-run tests check
what the script would run (with fake `python3`/`timeout` on PATH recording any call, so a dry
run provably runs nothing). The subprocess test blocks TensorFlow and TFDS imports, as on those
machines, and checks that an image folder loads, the process set-up passes and TensorBoard
events are written (through benchmarks/run_module.py) and read back by export_scalars.py.
The whole script on the CPU takes minutes (several processes, each compiling): its recorded
run is in EVALUATION.md, not here.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device_run.sh"
sys.path.insert(0, str(REPO / "benchmarks"))

FAKE = """#!/usr/bin/env bash
printf '%s %s\\n' "$(basename "$0")" "$*" >> "$FAKE_LOG"
"""


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> dict:
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name in ("python3", "timeout", "nvidia-smi"):
    (bin_dir / name).write_text(FAKE)
    (bin_dir / name).chmod(0o755)
  env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
         "FAKE_LOG": str(tmp_path / "calls.log"), "OUT": str(tmp_path / "out"),
         "WORK": str(tmp_path / "work")}
  return {"env": env, "tmp": tmp_path}


def dry_run(sandbox: dict, *args: str, **env: str) -> subprocess.CompletedProcess:
  return subprocess.run(["bash", str(SCRIPT), "--dry-run", *args],
                        env={**sandbox["env"], **env}, cwd=sandbox["tmp"],
                        capture_output=True, text=True, timeout=30)


def planned(stdout: str) -> list[list[str]]:
  return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith("+ ")]


def by_module(commands: list[list[str]]) -> dict[str, list[str]]:
  """The commands run through run_module.py, keyed by module (the last one of each)."""
  found = {}
  for words in commands:
    for i, word in enumerate(words):
      if word.endswith("benchmarks/run_module.py"):
        found[words[i + 1]] = words
  return found


def test_dry_run_trains_classifier_then_gan_samples_scores_exports(sandbox):
  result = dry_run(sandbox, "--config.seed=3", "--config.data.classes=('horse','bird')",
                   DATA_DIR="/data/tfds", MINUTES="6", NUM_SAMPLES="5000")
  assert result.returncode == 0, result.stderr
  commands = planned(result.stdout)
  tmp = sandbox["tmp"]
  classifier_dir, gan_dir = f"{tmp}/work/classifier", f"{tmp}/work/gan"

  trainings = [c for c in commands if c[0] == "timeout"]
  assert len(trainings) == 2  # the classifier (none was there), then the GAN
  classifier, gan = trainings
  # SIGTERM after the budget (the loop saves and exits 0), SIGKILL only after a grace period.
  assert gan[:6] == ["timeout", "--preserve-status", "--signal=TERM", "--kill-after=120s",
                     "6m", "python3"]
  assert f"--config={REPO}/configs/jointgan.py" in gan
  assert f"--workdir={gan_dir}" in gan
  assert gan[-3:] == ["--config.data.data_dir=/data/tfds", "--config.seed=3",
                      "--config.data.classes=('horse','bird')"]
  assert "10m" in classifier and f"--config={REPO}/configs/classifier.py:cpu" in classifier
  assert f"--workdir={classifier_dir}" in classifier

  modules = by_module(commands)
  assert list(modules) == ["pegasus_jax.main", "pegasus_jax.sample", "pegasus_jax.evaluate"]
  samples = [c for c in commands if "pegasus_jax.sample" in c]
  assert "--num=5000" in samples[0] and f"--out={tmp}/work/samples.npz" in samples[0]
  assert "--num=64" in samples[1] and f"--out={tmp}/out/grid.png" in samples[1]
  evaluate = modules["pegasus_jax.evaluate"]
  for flag in (f"--samples={tmp}/work/samples.npz", f"--classifier={classifier_dir}",
               "--classes=horse,bird", f"--json={tmp}/out/evaluation.json",
               "--data_dir=/data/tfds"):
    assert flag in evaluate
  exports = [c for c in commands if c[1].endswith("benchmarks/export_scalars.py")]
  assert [c[2:] for c in exports] == [[gan_dir, f"--out={tmp}/out/metrics.json"],
                                      [classifier_dir, f"--out={tmp}/out/classifier_metrics.json"]]
  # Order: classifier, GAN, samples, score, metrics.
  order = [commands.index(c) for c in (classifier, gan, samples[0], evaluate, exports[0])]
  assert order == sorted(order)
  # Nothing ran and nothing was written.
  assert not (tmp / "calls.log").exists()
  assert not (tmp / "out").exists() and not (tmp / "work").exists()


def test_dry_run_with_a_trained_classifier_and_an_image_folder(sandbox):
  classifier = sandbox["tmp"] / "clf"
  (classifier / "checkpoints" / "300").mkdir(parents=True)
  result = dry_run(sandbox, CLASSIFIER=str(classifier), IMAGES="/carried/images",
                   SITE="/carried/site", MINUTES="0.5", CONFIG="configs/jointgan.py:cpu")
  assert result.returncode == 0, result.stderr
  commands = planned(result.stdout)
  trainings = [c for c in commands if c[0] == "timeout"]
  assert len(trainings) == 1 and "0.5m" in trainings[0]  # no classifier training
  assert "--config=configs/jointgan.py:cpu" in trainings[0]
  assert trainings[0][-2:] == ["--config.data.name=image_folder",
                               "--config.data.path=/carried/images"]
  assert "--config.data.data_dir" not in " ".join(trainings[0])
  evaluate = by_module(commands)["pegasus_jax.evaluate"]
  assert f"--classifier={classifier}" in evaluate
  assert not any(word.startswith("--data_dir") for word in evaluate)
  assert len([c for c in commands if c[1].endswith("export_scalars.py")]) == 1


@pytest.mark.parametrize("env, message", [
    ({"MINUTES": "0"}, "MINUTES=0 is not a positive number"),
    ({"MINUTES": "5min"}, "MINUTES=5min is not a positive number"),
    ({"NUM_SAMPLES": "1"}, "NUM_SAMPLES=1 must be an integer >= 2"),
    ({"IMAGES": "/carried/images"}, "training one needs CIFAR-10 through TFDS"),
])
def test_bad_input_is_one_line_and_exit_2(sandbox, env, message):
  result = dry_run(sandbox, **env)
  assert result.returncode == 2
  assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_only_config_overrides_follow(sandbox):
  result = dry_run(sandbox, "--minutes=3")
  assert result.returncode == 2 and "unexpected argument --minutes=3" in result.stderr


def without_tensorflow(tmp_path: pathlib.Path, *extra: pathlib.Path) -> dict[str, str]:
  """An environment where `import tensorflow` / `tensorflow_datasets` fail, as on a lent GPU
  machine (TensorBoard's reader then also skips its slow TensorFlow import)."""
  blocked = tmp_path / "blocked"
  for name in ("tensorflow", "tensorflow_datasets"):
    (blocked / name).mkdir(parents=True, exist_ok=True)
    (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked')\n")
  return {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [blocked, REPO, *extra]))}


def test_without_tensorflow_images_load_and_events_round_trip(tmp_path):
  env = without_tensorflow(tmp_path, tmp_path)
  rng = np.random.default_rng(0)
  for label in ("horse", "bird"):
    (tmp_path / "images" / label).mkdir(parents=True)
    for i in range(3):
      Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).save(
          tmp_path / "images" / label / f"{i}.png")
  (tmp_path / "probe.py").write_text(f"""
import sys
import ml_collections
from pegasus_jax import data
from pegasus_jax.cli import setup
from pegasus_jax.run import event_files, metrics
setup.prepare_process()
config = ml_collections.ConfigDict(dict(data=dict(
    name="image_folder", path={str(tmp_path / "images")!r}, classes=("horse", "bird"),
    image_size=8, channels=3, sampler="class_balanced", random_flip=False)))
dataset = data.load_dataset(config)
print("labels", dataset.info.labels, [len(x) for x in dataset.images.images])
writer = metrics.create_writer({str(tmp_path / "run")!r})
for step in (1, 2, 3):
  writer.write_scalars(step, {{"loss": 0.5 * step}})
writer.flush()
print("tensorflow imported:", "tensorflow" in sys.modules)
""")
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_module.py"), "probe"],
                          env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "labels ('horse', 'bird') [3, 3]" in result.stdout
  assert "tensorflow imported: False" in result.stdout

  out = tmp_path / "metrics.json"
  exported = subprocess.run(
      [sys.executable, str(REPO / "benchmarks" / "export_scalars.py"), str(tmp_path / "run"),
       f"--out={out}"], env=env, capture_output=True, text=True, timeout=120)
  assert exported.returncode == 0, exported.stderr[-3000:]
  summary = json.loads(out.read_text())
  assert summary["last_step"] == 3
  assert summary["series"]["loss"] == [[1, 0.5], [2, 1.0], [3, 1.5]]
  assert summary["last"] == {"loss": 1.5}


def test_run_module_needs_a_module_name():
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_module.py")],
                          capture_output=True, text=True, timeout=30)
  assert result.returncode == 2 and "usage:" in result.stderr


def test_export_scalars_refuses_a_folder_without_events(tmp_path):
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "export_scalars.py"),
                           str(tmp_path), f"--out={tmp_path / 'm.json'}"],
                          env=without_tensorflow(tmp_path), capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 2 and "no scalars" in result.stderr
  assert not (tmp_path / "m.json").exists()


def test_pack_copies_package_sources_and_exports_lossless_pngs(tmp_path, monkeypatch):
  import device_pack  # benchmarks/device_pack.py
  from pegasus_jax.data import tfds_source

  device_pack.copy_packages(["ml_collections"], str(tmp_path / "site"))
  copied = tmp_path / "site" / "ml_collections"
  assert (copied / "__init__.py").is_file() and (copied / "config_dict").is_dir()
  assert not list(copied.rglob("__pycache__")) and not list(copied.rglob("*_test.py"))
  with pytest.raises(SystemExit, match="not installed"):
    device_pack.copy_packages(["no_such_package_here"], str(tmp_path / "site"))

  rng = np.random.default_rng(1)
  fake = tfds_source.ClassImages(("horse", "bird"),
                                 [rng.integers(0, 256, (n, 4, 4, 3), np.uint8) for n in (3, 2)])
  monkeypatch.setattr(tfds_source, "load_class_images", lambda *a, **k: fake)
  device_pack.export_class_images("unused", ["horse", "bird"], str(tmp_path / "images"))
  for label, images in zip(fake.labels, fake.images):
    files = sorted((tmp_path / "images" / label).iterdir())
    assert [f.name for f in files] == [f"{i:05d}.png" for i in range(len(images))]
    np.testing.assert_array_equal(np.stack([np.asarray(Image.open(f)) for f in files]), images)
