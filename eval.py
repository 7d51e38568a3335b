"""Evaluates the latest checkpoint of a run on config.eval_split.

  python eval.py --config=demo
  python eval.py --config=blender --config.data_dir=/data/lego \
      --config.train_dir=runs/lego

Multi-host: as train.py (JAXNERF_* environment variables).
"""

import sys

from jaxnerf import cli, host_memory


def main(config):
  from jaxnerf import evaluator
  evaluator.evaluate(config)


if __name__ == "__main__":
  host_memory.reexec_with_huge_pages()  # faster XLA steps on CPU
  sys.exit(cli.run(sys.argv, "eval.py", main))
