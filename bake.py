"""Bakes a trained run into a block-sparse grid (PlenOctrees / SNeRG) and
optionally fine-tunes the baked values on the training images.

Runs jaxnerf/commands/bake.py from a checkout; `python bake.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import bake

if __name__ == "__main__":
  sys.exit(bake.main())
