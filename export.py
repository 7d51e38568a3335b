"""Exports a trained run: a coloured mesh, a point cloud, or a static web
page that ray-marches the baked scene with WebGL.

Runs jaxnerf/commands/export.py from a checkout; `python export.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import export

if __name__ == "__main__":
  sys.exit(export.main())
