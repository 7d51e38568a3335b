"""Poses your own photos or video with Structure-from-Motion (pycolmap).

Runs jaxnerf/commands/process_data.py from a checkout;
`python process_data.py --help` gives its usage.
"""

import sys

from jaxnerf.commands import process_data

if __name__ == "__main__":
  sys.exit(process_data.main())
