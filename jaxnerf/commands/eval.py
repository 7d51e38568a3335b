"""Evaluates the latest checkpoint of a run on config.eval_split.

  python eval.py --config=demo
  python eval.py --config=runs/lego  # the run's recorded config

A run folder as --config loads the config train.py recorded there, so
none of the run's overrides need repeating (as for view.py, bake.py,
export.py and localize.py).

Multi-host: as train.py (JAXNERF_* environment variables).
"""

import sys

from jaxnerf.engine import cli


def job(config):
  from jaxnerf.engine import evaluator
  evaluator.evaluate(config)


def main(argv=None) -> int:
  return cli.main("eval.py", job, argv=argv)


if __name__ == "__main__":
  sys.exit(main())
