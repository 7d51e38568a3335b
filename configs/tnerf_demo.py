"""T-NeRF (time as an input of the field, no deformation) on the embedded
dynamic lego: the baseline of configs/dnerf_demo.py, as that otherwise."""

from jaxnerf import config as config_lib


def get_config():
  c = config_lib.load_config("dnerf_demo")
  c.unlock()
  c.train_dir = "runs/tnerf_demo"
  c.deformation = False
  # No deformation MLP: a step costs about as much as instant_ngp_demo's
  # (0.5 s with the proposal sampler); 2100 steps took 17 of the 20
  # minutes on the benchmark machine (24.49 dB, docs/BENCHMARKS.md).
  c.max_steps = 2100
  return c
