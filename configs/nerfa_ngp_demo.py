"""NeRF-A on the hash-grid field (nerfw on backbone "hashgrid") on the
embedded lego in the wild, as configs/nerfw_ngp_demo.py otherwise."""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  return nerfw.variant(
      config_lib.variant("nerfw_ngp_demo", train_dir="runs/nerfa_ngp_demo"),
      "a")
