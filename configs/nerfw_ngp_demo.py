"""NeRF-W on the hash-grid field (nerfw_ngp) on the embedded lego in the
wild; the grid, marcher and budget of configs/instant_ngp_demo.py.
nerfa_ngp_demo / nerfu_ngp_demo are its NeRF-A / NeRF-U ablations."""

from jaxnerf import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  c = config_lib.method_config("nerfw_ngp")
  config_lib.scene(c, "blender", "data/lego_wild_100", "runs/nerfw_ngp_demo")
  # As instant_ngp_demo (100x100 images).
  c.hash_log2_size = 17
  c.hash_max_resolution = 512
  c.occupancy_resolution = 64
  c.occupancy_update_fraction = 0.5
  c.march_steps = 384
  c.batch_size = 8192
  c.samples_budget = 2**16
  c.render_samples_per_ray = 48
  c.max_steps = 3000
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  return nerfw.variant(c, "w")
