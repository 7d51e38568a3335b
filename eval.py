"""Evaluates the latest checkpoint of a run on config.eval_split.

  python eval.py --config=demo
  python eval.py --config=blender --config.data_dir=/data/lego \
      --config.train_dir=runs/lego
"""

import sys

USAGE = ("usage: python eval.py --config=NAME|PATH [--config.FIELD=VALUE "
         "...]  (NAME resolves to configs/NAME.py)")


def main(argv):
  from jaxnerf import config as config_lib
  from jaxnerf.errors import UserError
  try:
    config = config_lib.parse_args(argv[1:], USAGE)
    from jaxnerf import evaluator
    evaluator.evaluate(config)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
