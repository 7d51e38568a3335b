"""Trains a NeRF-family model.

  python train.py --config=demo
  python train.py --config=blender --config.data_dir=/data/lego \
      --config.train_dir=runs/lego
  python train.py --config=runs/lego --config.max_steps=400000  # resume

Every field, overrides included, is recorded in <train_dir>/config.json
before the first step (earlier versions kept in it): `--config=<train_dir>`
gives every command, and a resume, the same config.

Multi-host: start one process per host with JAXNERF_COORDINATOR=host:port,
JAXNERF_NUM_PROCESSES=N and JAXNERF_PROCESS_ID=i (0 on the coordinator).
"""

import sys

from jaxnerf.engine import cli


def job(config):
  from jaxnerf.engine import runs, trainer
  trainer.train(config, teacher=runs.teacher_loader(config))


def main(argv=None) -> int:
  return cli.main("train.py", job, argv=argv)


if __name__ == "__main__":
  sys.exit(main())
