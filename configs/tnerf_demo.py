"""T-NeRF (time as an input of the field, no deformation) on the embedded
dynamic lego: the baseline of configs/dnerf_demo.py, as that otherwise."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "dnerf_demo", train_dir="runs/tnerf_demo", deformation=False,
      # No deformation MLP: a step costs about half of dnerf_demo's, so
      # more steps fit the same budget (docs/BENCHMARKS.md, row D2).
      max_steps=2100)
