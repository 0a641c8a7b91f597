"""Converts pytorch-fid's FID Inception weights (.pth) to a torch-free .npz.

pegasus_jax does not depend on PyTorch, but the FID Inception weights are only
published as a PyTorch state_dict. Run this once, on any machine with torch:

  python -m pegasus_jax.tools.convert_inception \
      --pth=pt_inception-2015-12-05-6726825d.pth \
      --out=pt_inception-2015-12-05-6726825d.npz

The .npz keeps pytorch-fid's state_dict names and PyTorch layouts (e.g.
`Mixed_5b.branch1x1.conv.weight` as OIHW), minus BatchNorm's unused
`num_batches_tracked` counters. It is checked against the Flax network before
it is written, so a wrong file fails here rather than at evaluation time.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

from pegasus_jax.evaluation import fid_weights


def convert(pth: str | os.PathLike[str], out: str | os.PathLike[str]) -> int:
    """Writes `out` (.npz) from pytorch-fid's `pth`; returns the number of arrays."""
    state_dict = {
        name: value
        for name, value in fid_weights.read_torch_state_dict(pth).items()
        if not name.endswith(".num_batches_tracked")
    }
    fid_weights.state_dict_to_variables(state_dict)  # strict check; raises ValueError
    with open(out, "wb") as f:  # a file object keeps np.savez from renaming `out`
        np.savez(f, **state_dict)
    return len(state_dict)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pth", required=True, help=f"path to {fid_weights.FID_WEIGHTS_FILENAME}")
    parser.add_argument("--out", required=True, help="path of the .npz to write")
    args = parser.parse_args(argv)
    count = convert(args.pth, args.out)
    print(f"wrote {count} arrays to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
