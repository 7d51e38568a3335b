"""Trains a NeRF-family model.

  python train.py --config=demo
  python train.py --config=blender --config.data_dir=/data/lego \
      --config.train_dir=runs/lego

Multi-host: start one process per host with JAXNERF_COORDINATOR=host:port,
JAXNERF_NUM_PROCESSES=N and JAXNERF_PROCESS_ID=i (0 on the coordinator).
"""

import sys

USAGE = ("usage: python train.py --config=NAME|PATH [--config.FIELD=VALUE "
         "...]  (NAME resolves to configs/NAME.py)")


def main(argv):
  from jaxnerf import config as config_lib
  from jaxnerf.errors import UserError
  try:
    config = config_lib.parse_args(argv[1:], USAGE)
    from jaxnerf import parallel
    parallel.initialize_distributed()  # multi-host: JAXNERF_* env vars
    from jaxnerf import trainer
    trainer.train(config)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
