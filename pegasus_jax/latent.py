"""`python -m pegasus_jax.latent {interpolate|search|optimize} --workdir=DIR`: latent tools.

The flags and main() are in `pegasus_jax.cli.latent`, the library in
`pegasus_jax.generation.latent`; this module keeps the documented command line and holds
nothing else.
"""

from pegasus_jax.cli import latent as _command

__doc__ = _command.__doc__  # what --help prints: the command's own usage

if __name__ == "__main__":
  _command.run_command()
