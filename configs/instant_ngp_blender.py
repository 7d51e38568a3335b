"""Instant-NGP (hash grid + occupancy grid) on an 800x800 Blender scene."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new("instant_ngp", "blender", "data/nerf_synthetic/lego",
                        "runs/instant_ngp_blender_lego", save_every=5_000)
