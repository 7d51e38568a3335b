"""Serves a local web page to look around a trained scene.

Runs jaxnerf/commands/view.py from a checkout; `python view.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import view

if __name__ == "__main__":
  sys.exit(view.main())
