"""mip-NeRF on an LLFF forward-facing scene (the paper's llff.gin).

In NDC the rays are nearly parallel, so the cones become cylinders
(`ray_shape = "cylinder"`, radii from the NDC origin spacing).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("mipnerf")
  config_lib.scene(c, "llff", "data/nerf_llff_data/fern",
                   "runs/mipnerf_llff_fern")
  c.ray_shape = "cylinder"
  c.noise_std = 1.0  # mip-NeRF's density_noise
  return c
