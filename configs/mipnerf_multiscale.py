"""mip-NeRF on multiscale Blender (the paper's multiblender.gin).

Make the data first:
  python scripts/make_multiscale.py ../shared/data/nerf_synthetic/lego \
      data/nerf_multiscale/lego
Near/far and focal come from metadata.json; `lossmult` weights every scale
equally. eval.py reports PSNR/SSIM per scale (metrics.json: per_scale).
"""

from jaxnerf import mipnerf
from jaxnerf.config import base_config


def get_config():
  c = mipnerf.add_config_fields(base_config())
  c.dataset_type = "multiscale"
  c.data_dir = "data/nerf_multiscale/lego"
  c.train_dir = "runs/mipnerf_multiscale_lego"
  c.white_bkgd = True
  c.batch_size = 4096
  # The trainer pools images of mixed sizes into one set of rays, so
  # per-image batching would not mean one image here; draw from all.
  c.image_batching = False
  c.max_steps = 1_000_000
  c.chunk = 8192
  c.save_video = False  # views alternate between four sizes
  return c
