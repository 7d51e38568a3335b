"""mip-NeRF on an LLFF forward-facing scene (the paper's llff.gin).

In NDC the rays are nearly parallel, so the cones become cylinders
(`ray_shape = "cylinder"`, radii from the NDC origin spacing).
"""

from jaxnerf import mipnerf
from jaxnerf.config import base_config


def get_config():
  c = mipnerf.add_config_fields(base_config())
  c.dataset_type = "llff"
  c.data_dir = "data/nerf_llff_data/fern"
  c.train_dir = "runs/mipnerf_llff_fern"
  c.white_bkgd = False
  c.near, c.far = 0.0, 1.0
  c.factor = 4
  c.llffhold = 8
  c.ray_shape = "cylinder"
  c.noise_std = 1.0  # mip-NeRF's density_noise
  c.batch_size = 4096
  c.max_steps = 1_000_000
  c.chunk = 8192
  return c
