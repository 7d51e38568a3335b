"""mip-NeRF on an LLFF forward-facing scene (the paper's llff.gin).

In NDC the rays are nearly parallel, so the cones become cylinders
(`ray_shape = "cylinder"`, radii from the NDC origin spacing).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "mipnerf", "llff", "data/nerf_llff_data/fern", "runs/mipnerf_llff_fern",
      ray_shape="cylinder", noise_std=1.0)  # noise: mip-NeRF's density_noise
