"""mip-NeRF on multiscale Blender (the paper's multiblender.gin).

Make the data first:
  python scripts/make_multiscale.py ../shared/data/nerf_synthetic/lego \
      data/nerf_multiscale/lego
Near/far and focal come from metadata.json; `lossmult` weights every scale
equally. eval.py reports PSNR/SSIM per scale (metrics.json: per_scale).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("mipnerf")
  config_lib.scene(c, "multiscale", "data/nerf_multiscale/lego",
                   "runs/mipnerf_multiscale_lego")
  # The trainer pools images of mixed sizes into one set of rays, so
  # per-image batching would not mean one image here; draw from all.
  c.image_batching = False
  c.save_video = False  # views alternate between four sizes
  return c
