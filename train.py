"""Trains a NeRF-family model.

Runs jaxnerf/commands/train.py from a checkout; `python train.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import train

if __name__ == "__main__":
  sys.exit(train.main())
