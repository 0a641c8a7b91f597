"""`python -m pegasus_jax.main --config=configs/jointgan.py --workdir=DIR`: train a model.

The flags and main() are in `pegasus_jax.cli.train`, the loop in `pegasus_jax.train`; this
module keeps the documented command line and holds nothing else.
"""

from pegasus_jax.cli import train as _command

__doc__ = _command.__doc__  # what --help prints: the command's own usage

if __name__ == "__main__":
  _command.run_command()
