"""T-NeRF (time as an input of the field, no deformation) on the embedded
dynamic lego: the baseline of configs/dnerf_demo.py, as that otherwise."""

from jaxnerf import config as config_lib


def get_config():
  c = config_lib.load_config("dnerf_demo")
  c.unlock()
  c.train_dir = "runs/tnerf_demo"
  c.deformation = False
  # No deformation MLP: 2900 steps fitted the same 20 minutes (measured
  # before dnerf_demo took ray_jitter and 256 cells; not rerun since).
  c.max_steps = 2800
  return c
