"""`python -m pegasus_jax.evaluate --samples=FILE.npz --classifier=DIR`: score samples.

The flags and main() are in `pegasus_jax.cli.evaluate`, the library in
`pegasus_jax.evaluation.sample_metrics`; this module keeps the documented command line and
holds nothing else.
"""

from pegasus_jax.cli import evaluate as _command

__doc__ = _command.__doc__  # what --help prints: the command's own usage

if __name__ == "__main__":
  _command.run_command()
