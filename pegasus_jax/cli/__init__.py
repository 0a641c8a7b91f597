"""The command-line programs: one module per command, absl flags and `main()` only.

`train` (`python -m pegasus_jax.main`), `sample`, `latent` and `evaluate`; `setup` is the process
set-up and user-error reporting they share. The work itself happens in the library modules they
call (`train`, `generation`, `evaluation`), which a notebook can call directly.
"""
