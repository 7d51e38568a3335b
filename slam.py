"""Runs iMAP over a stream of frames: tracks each frame against a field
map, adds keyframes and trains the map on them, online.

Runs jaxnerf/commands/slam.py from a checkout; `python slam.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import slam

if __name__ == "__main__":
  sys.exit(slam.main())
