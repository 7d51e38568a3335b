"""NeRF-A (NeRF-W's appearance codes only) on the embedded lego in the wild,
as configs/nerfw_demo.py otherwise."""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  return nerfw.variant(
      config_lib.variant("nerfw_demo", train_dir="runs/nerfa_demo"), "a")
