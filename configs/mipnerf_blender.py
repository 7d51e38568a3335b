"""mip-NeRF on a single-scale Blender scene (the paper's blender.gin)."""

from jaxnerf import mipnerf
from jaxnerf.config import base_config


def get_config():
  c = mipnerf.add_config_fields(base_config())
  c.dataset_type = "blender"
  c.data_dir = "data/nerf_synthetic/lego"
  c.train_dir = "runs/mipnerf_blender_lego"
  c.white_bkgd = True
  c.near, c.far = 2.0, 6.0
  c.batch_size = 4096
  c.image_batching = True  # mip-NeRF's batching = 'single_image'
  c.max_steps = 1_000_000
  c.chunk = 8192
  return c
