"""mip-NeRF on multiscale Blender (the paper's multiblender.gin).

Make the data first:
  python scripts/make_multiscale.py ../shared/data/nerf_synthetic/lego \
      data/nerf_multiscale/lego
Near/far and focal come from metadata.json; `lossmult` weights every scale
equally. eval.py reports PSNR/SSIM per scale (metrics.json: per_scale).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "mipnerf", "multiscale", "data/nerf_multiscale/lego",
      "runs/mipnerf_multiscale_lego",
      # The trainer pools images of mixed sizes into one set of rays, so
      # per-image batching would not mean one image here; draw from all.
      image_batching=False,
      save_video=False)  # views alternate between four sizes
