"""mip-NeRF on a single-scale Blender scene (the paper's blender.gin)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "mipnerf", "blender", "data/nerf_synthetic/lego",
      "runs/mipnerf_blender_lego",
      image_batching=True)  # mip-NeRF's batching = 'single_image'
