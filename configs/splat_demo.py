"""3D Gaussian splats on the embedded 100x100 lego, for a budget of 15
minutes on 2 CPU cores: 3DGS-MCMC's fixed count, random initial means in
the scene box, one 96x96 crop of a training image a step (the L1 + D-SSIM
loss reads it as an image)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "splat", "blender", "data/lego_100", "runs/splat_demo",
      splat_count=20_000, patch_size=96, batch_size=96 * 96,
      max_steps=6000, max_time_minutes=15.0, splat_relocate_stop=5000,
      splat_sh_interval=500, save_every=500, render_every=0)
