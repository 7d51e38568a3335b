"""NeRF-W on the hash-grid field (nerfw_ngp) on the embedded lego in the
wild: instant_ngp_demo's grid, proposal sampler, rays and schedule (the
NeRF it is compared with in bench/nerfw_lego_wild.py), with NeRF-W's
appearance and transient codes. nerfa_ngp_demo / nerfu_ngp_demo are its
NeRF-A / NeRF-U ablations."""

from jaxnerf import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  c = config_lib.with_method("instant_ngp_demo", "nerfw_ngp")
  c.data_dir = "data/lego_wild_100"
  c.train_dir = "runs/nerfw_ngp_demo"
  return nerfw.variant(c, "w")
