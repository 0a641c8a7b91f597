"""`python -m pegasus_jax.pegasus --workdir=RUN --guide=CLASSIFIER --num=64 --out=pegasus.png`.

The flags and main() are in `pegasus_jax.cli.pegasus`; this module keeps the documented command
line and holds nothing else.
"""

from pegasus_jax.cli import pegasus as _command

__doc__ = _command.__doc__  # what --help prints: the command's own usage

if __name__ == "__main__":
  _command.run_command()
