"""mip-NeRF on a single-scale Blender scene (the paper's blender.gin)."""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("mipnerf")
  config_lib.scene(c, "blender", "data/nerf_synthetic/lego",
                   "runs/mipnerf_blender_lego")
  c.image_batching = True  # mip-NeRF's batching = 'single_image'
  return c
