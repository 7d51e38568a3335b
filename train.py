"""Trains a NeRF-family model.

  python train.py --config=demo
  python train.py --config=blender --config.data_dir=/data/lego \
      --config.train_dir=runs/lego

Multi-host: start one process per host with JAXNERF_COORDINATOR=host:port,
JAXNERF_NUM_PROCESSES=N and JAXNERF_PROCESS_ID=i (0 on the coordinator).
"""

import sys

from jaxnerf import cli, host_memory


def main(config):
  from jaxnerf import trainer
  trainer.train(config)


if __name__ == "__main__":
  host_memory.reexec_with_huge_pages()  # faster XLA steps on CPU
  sys.exit(cli.run(sys.argv, "train.py", main))
