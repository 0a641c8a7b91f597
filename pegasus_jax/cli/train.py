r"""Command line: `python -m pegasus_jax.main --config=configs/jointgan.py --workdir=DIR`.

Kept short on purpose (as in the Flax examples): everything happens in
`pegasus_jax.train.train_and_evaluate`, which a notebook can call directly. Override any
config field with `--config.field=value` (e.g. `--config.data.data_dir=...`); select a
variant with `--config=configs/jointgan.py:cpu`. A workdir with checkpoints resumes.

SIGTERM or SIGINT (Ctrl-C) finishes the current step, saves a checkpoint and exits 0 with one
line; rerun the same command to resume. Faults the user can fix (a bad config field, missing
data, workdir in use or unwritable, failed checkpoint save, non-finite losses, another model's
checkpoints) exit 2 with one message (`--debug` shows the traceback).
"""

from absl import app, flags, logging
from ml_collections import config_flags

from pegasus_jax.cli import setup

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file (path[:variant]).",
                                 lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, TensorBoard events, samples.")
flags.DEFINE_bool("distributed", False,
                  "Call jax.distributed.initialize() first (multi-host TPU pods / GPU clusters). "
                  "Unset addresses/ids are auto-detected (TPU VMs, SLURM, Open MPI, ...).")
flags.DEFINE_string("coordinator_address", None,
                    "With --distributed: host:port of process 0 (else $JAX_COORDINATOR_ADDRESS "
                    "or auto-detected).")
flags.DEFINE_integer("num_processes", None, "With --distributed: number of processes.")
flags.DEFINE_integer("process_id", None, "With --distributed: this process's index.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  setup.prepare_process()
  import jax  # pylint: disable=g-import-not-at-top
  if FLAGS.distributed:
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  logging.info("JAX process %d/%d, local devices: %s", jax.process_index(),
               jax.process_count(), jax.local_devices())
  from pegasus_jax import train  # pylint: disable=g-import-not-at-top  # after distributed init
  summary = train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  if summary["preempted"]:
    print(f"Preempted ({summary['preempted']}) at step {summary['final_step']}: checkpoint "
          f"saved in {FLAGS.workdir}; run the same command again to resume.", flush=True)
    return
  logging.info("Finished at step %d in %.1f s (resumed from %d).", summary["final_step"],
               summary["seconds"], summary["start_step"])


def run_command() -> None:
  """Parse the flags and run main(): what `python -m pegasus_jax.main` does."""
  setup.run(main)


if __name__ == "__main__":
  run_command()
