"""`python -m pegasus_jax.sample --workdir=DIR --num=N --out=FILE`: draw samples from a run.

The flags and main() are in `pegasus_jax.cli.sample`; this module keeps the documented command
line and holds nothing else.
"""

from pegasus_jax.cli import sample as _command

__doc__ = _command.__doc__  # what --help prints: the command's own usage

if __name__ == "__main__":
  _command.run_command()
