"""Evaluates the latest checkpoint of a run on config.eval_split.

  python eval.py --config=demo
  python eval.py --config=blender --config.data_dir=/data/lego \
      --config.train_dir=runs/lego

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
