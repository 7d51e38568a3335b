"""Evaluates the latest checkpoint of a run on config.eval_split.

Runs jaxnerf/commands/eval.py from a checkout; `python eval.py --help`
gives its usage.
"""

import sys

from jaxnerf.commands import eval

if __name__ == "__main__":
  sys.exit(eval.main())
