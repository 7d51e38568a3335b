"""Instant-NGP (hash grid + occupancy grid) on an 800x800 Blender scene."""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("instant_ngp")
  config_lib.scene(c, "blender", "data/nerf_synthetic/lego",
                   "runs/instant_ngp_blender_lego")
  c.save_every = 5_000
  return c
