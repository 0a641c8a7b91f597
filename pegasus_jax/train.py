"""The one training loop: devices, data, jitted steps, logging, samples and checkpoints.

It knows nothing about any particular family: the family named by `config.family` declares the
batch it consumes (`data_spec`), and provides `init`, a pure `train_step` and `visuals` (named
pictures written to WORKDIR/<name>/ and TensorBoard). The loop shards each batch field along its
declared batch axis, and checks that the sampler delivers exactly those fields. Every
`config.eval_every` steps it runs the evaluations listed in `config.evals`
(`pegasus_jax.evaluation.evaluators`), logs their scalars, and with `config.best_metric` keeps the
best checkpoint in WORKDIR/checkpoints_best/ beside the latest ones. Every process runs this same
function (multi-host: start all workers with the same command).

Never lose a run (the helpers are in `pegasus_jax.run.lifecycle`): the workdir is locked to one
job; it is probed for writes (and room for a checkpoint) before any work; SIGTERM/SIGINT (or,
multi-host, JAX's preemption notice) finish the current step, save, and return with
`summary["preempted"]`; a failed save stops the job.

The workdir may be a local folder or a `gs://` URI: every file the loop writes (lock, probes,
config, pictures, events, checkpoints) goes through `pegasus_jax.run.paths`; free disk space is
checked only where that notion exists (locally).
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import periodic_actions
from jax.sharding import Mesh

from pegasus_jax import data, families, imaging
from pegasus_jax.config.defaults import flatten_config
from pegasus_jax.config.validation import validate_config
from pegasus_jax.data.prefetch import DevicePrefetcher
from pegasus_jax.data.spec import check_delivers
from pegasus_jax.errors import ConfigError, UserError
from pegasus_jax.evaluation import evaluators
from pegasus_jax.run import (checkpoint, lifecycle, metrics, paths, restore, runtime,
                             workdir_lock)


class NonFiniteLossError(UserError, FloatingPointError):
  """A loss or gradient norm became NaN/Inf; the run stopped without saving that state."""


def compile_train_step(family: families.Family, mesh: Mesh):
  """`family.train_step` jitted for the mesh: state replicated (and donated), each batch field
  sharded along its declared batch axis."""
  replicated = runtime.replicated(mesh)
  return jax.jit(family.train_step,
                 in_shardings=(replicated, runtime.batch_shardings(mesh, family.data_spec())),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))


class _MetricBuffer:
  """Per-step metrics stay on device until a log/checkpoint step fetches them in one go."""

  def __init__(self, labels: tuple[str, ...]):
    self.labels = labels
    self._device: list[tuple[int, Any]] = []
    self._host: list[dict[str, float]] = []

  def add(self, step: int, step_metrics: Any) -> None:
    self._device.append((step, step_metrics))

  def fetch_and_check(self) -> None:
    """Bring pending metrics to the host; raise NonFiniteLossError at the first bad step."""
    if not self._device:
      return
    steps = [s for s, _ in self._device]
    fetched = jax.device_get([m for _, m in self._device])
    self._device.clear()
    for step, values in zip(steps, fetched):
      flat = metrics.flatten_metrics(values, self.labels)
      bad = metrics.non_finite(flat)
      if bad:
        raise NonFiniteLossError(
            f"non-finite values at step {step}: {', '.join(f'{n}={flat[n]}' for n in bad)}. "
            "Training stopped; the last checkpoint before this step is intact (lower the "
            "learning rates or check the data).")
      self._host.append(flat)

  def pop_means(self) -> dict[str, float]:
    self.fetch_and_check()
    if not self._host:
      return {}
    means = {name: float(np.mean([m[name] for m in self._host])) for name in self._host[0]}
    self._host.clear()
    return means


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Train (or resume) the run in `workdir` up to `config.total_steps`; return a summary.

  Raises ValueError for a bad config, `data.tfds_source.DatasetMissingError` for missing data,
  `checkpoint.IncompatibleCheckpointError` when the workdir holds another model's checkpoints,
  and NonFiniteLossError when the losses blow up.
  """
  workdir = str(paths.resolve(workdir))  # gs:// stays a URI (abspath made it a folder 'gs:')
  validate_config(config, num_devices=jax.device_count(), num_processes=jax.process_count())
  checkpoint_dir = lifecycle.prepare_workdir(workdir)
  lock = lifecycle.lock_workdir(workdir)
  try:
    workdir_lock.check_writable(checkpoint_dir)
    return _train(config, workdir, checkpoint_dir)
  finally:
    if lock is not None:
      lock.release()


def build_sampler(config: ml_collections.ConfigDict, family: families.Family,
                  dataset: data.Dataset) -> data.Sampler:
  """This process's sampler for what `family` consumes; ConfigError when the fields disagree."""
  process_index, process_count = jax.process_index(), jax.process_count()
  if family.examples_per_step % process_count:
    raise ConfigError(f"family {config.family!r} consumes {family.examples_per_step} examples "
                      f"a step, not divisible by the {process_count} processes")
  sampler = dataset.sampler(family.examples_per_step // process_count, config.seed,
                            process_index)
  check_delivers(family.data_spec(), sampler.fields, process_count, sampler.name,
                 config.family)
  return sampler


def _train(config: ml_collections.ConfigDict, workdir: str, checkpoint_dir: str
           ) -> dict[str, Any]:
  dataset = data.load_dataset(config, jax.process_index(), jax.process_count())
  family = families.create(config, dataset.info)
  sampler = build_sampler(config, family, dataset)
  mesh = runtime.make_mesh()
  replicated = runtime.replicated(mesh)

  abstract = checkpoint.replicated_abstract(
      jax.eval_shape(family.init, runtime.stream_key(config.seed, "init")), replicated)
  # Room for one more checkpoint (Orbax keeps the old ones until the new one is complete).
  workdir_lock.check_free_space(checkpoint_dir, checkpoint.state_nbytes(abstract) + 2**20,
                                "one checkpoint")
  store = checkpoint.CheckpointStore(checkpoint_dir, config.keep_checkpoints, repair=True)
  try:
    restored = store.restore_latest(abstract, config, family.signature_fields,
                                    family.default_config())
  except BaseException:
    store.close()
    raise
  if restored is None:
    state = jax.jit(family.init, out_shardings=replicated)(
        runtime.stream_key(config.seed, "init"))
    start_step = 0
    logging.info("Starting a new run in %s", workdir)
  else:
    state, _, start_step = restored
    logging.info("Resumed from %s at step %d", store.directory, start_step)
  lifecycle.write_config(workdir, config)

  writer = metrics.create_writer(workdir)
  if start_step == 0:
    writer.write_hparams(_flat_hparams(config))
  train_step = compile_train_step(family, mesh)
  visual_inputs = family.visual_inputs(runtime.stream_key(config.seed, "grid"),
                                       config.num_sample_images, sampler.batch(0))
  try:
    evaluator = evaluators.create(config, family, dataset.info)  # loads its data once, here
    best = (checkpoint.BestCheckpointStore(os.path.join(workdir, checkpoint.BEST_DIR),
                                           config.best_metric, config.best_mode)
            if config.best_metric else None)
  except BaseException:
    store.close()
    raise
  config_dict = checkpoint.config_to_dict(config)  # for checkpoint metadata, computed once
  report = periodic_actions.ReportProgress(num_train_steps=config.total_steps, writer=writer,
                                           every_steps=config.log_every)
  data_info = restore.data_info_meta(dataset.info)
  buffer = _MetricBuffer(family.class_labels)
  summary: dict[str, Any] = {"start_step": start_step, "labels": family.class_labels,
                             "preempted": None}
  prefetcher = DevicePrefetcher(sampler.batch, runtime.batch_shardings(mesh, family.data_spec()),
                                start_step, config.total_steps, depth=config.prefetch)
  t0 = time.time()
  step = start_step
  error: BaseException | None = None
  single_process = jax.process_count() == 1
  try:
    with lifecycle.PreemptionWatcher(store) as watcher:
      for step in range(start_step + 1, config.total_steps + 1):
        if watcher.reason is not None and step == start_step + 1:
          step = start_step  # stopped before the first step: nothing new to save
          break
        batch = next(prefetcher)
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
          state, step_metrics = train_step(state, batch)
        buffer.add(step, step_metrics)
        report(step)
        if single_process:
          store.raise_if_save_failed()  # multi-host: all processes see it at the next save
        stop = watcher.should_stop(step)
        is_last = step == config.total_steps or stop
        save_now = step % config.checkpoint_every == 0 or is_last
        if save_now:
          buffer.fetch_and_check()  # never save a state that followed a non-finite step
        if step % config.log_every == 0 or is_last:
          means = buffer.pop_means()
          writer.write_scalars(step, means)
          summary["last_metrics"] = means
        if step % config.sample_every == 0 or step == config.total_steps:
          _write_visuals(workdir, writer, step,
                         family.visuals(runtime.local_copy(state), visual_inputs))
        evaluation = None
        if evaluator is not None and (step % config.eval_every == 0
                                      or step == config.total_steps):
          buffer.fetch_and_check()  # never evaluate (or keep as best) a non-finite state
          evaluation = dict(evaluator(runtime.local_copy(state)))
          writer.write_scalars(step, evaluation)
          summary["last_evaluation"] = evaluation
        if save_now or (best is not None and evaluation is not None):
          meta = {"step": step, "family": config.family,
                  "class_labels": list(family.class_labels), "data_info": data_info,
                  "config": config_dict, "data_position": sampler.position(step)}
          if evaluation is not None:  # what tools read back (e.g. a classifier's temperature)
            meta["evaluation"] = evaluation
          if save_now:
            store.save(step, state, meta)
          if best is not None and evaluation is not None:
            best.maybe_save(step, state, meta, evaluation)
        if stop:
          break
      if watcher.reason is not None and step < config.total_steps:
        summary["preempted"] = watcher.reason
        logging.warning("Stopping at step %d on %s; the checkpoint at step %d resumes the run.",
                        step, watcher.reason, step)
  except BaseException as e:
    error = e
    raise
  finally:
    prefetcher.close()
    if best is not None:
      lifecycle.finish_saves(best.store, error)
    lifecycle.finish_saves(store, error)
    try:
      writer.flush()
    except Exception as e:  # pylint: disable=broad-except
      if error is None:
        raise
      logging.warning("flushing the metric writer: %s: %s", type(e).__name__, e)
  summary.update(final_step=step, seconds=time.time() - t0, state=state)
  if best is not None:
    summary["best"] = {"metric": best.metric, "value": best.best_value, "step": best.best_step}
  return summary


def _write_visuals(workdir: str, writer, step: int, visuals: dict[str, np.ndarray]) -> None:
  """Each named uint8 picture to TensorBoard and to WORKDIR/<name>/step_<step>.png."""
  if not visuals:
    return
  writer.write_images(step, {name: image[None] for name, image in visuals.items()})
  if jax.process_index() == 0:
    for name, image in visuals.items():
      imaging.save_png(os.path.join(workdir, name, f"step_{step:07d}.png"), image)


def _flat_hparams(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """TensorBoard hparams take scalars: other values (tuples, None) as strings."""
  return {name: value if isinstance(value, (int, float, str, bool)) else str(value)
          for name, value in flatten_config(checkpoint.config_to_dict(config)).items()}
