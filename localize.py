"""Localises a photo in a trained scene (iNeRF): its camera-to-world pose by
gradient descent on the photometric loss through the frozen field.

Runs jaxnerf/commands/localize.py from a checkout; `python localize.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import localize

if __name__ == "__main__":
  sys.exit(localize.main())
