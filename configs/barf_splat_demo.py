"""BARF's pose refinement on Gaussian splats (the camera-refinement
component on the splat backbone), on the embedded 100x100 lego with the
paper's pose noise (se(3) std 0.15 per coordinate, in the world frame as
BARF's code). Splats as splat_demo; the test views' poses are fitted on
one 96x96 patch a step before scoring (test_time_batch_size = 96^2)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "barf", "blender", "data/lego_100", "runs/barf_splat_demo",
      backbone="splats", pose_noise=0.15, splat_count=20_000,
      patch_size=96, batch_size=96 * 96, max_steps=6000,
      max_time_minutes=15.0, splat_relocate_stop=5000, splat_sh_interval=500,
      pose_lr_init=3e-3, pose_lr_final=1e-5, test_time_batch_size=96 * 96,
      metrics_every=100, save_every=500, render_every=0)
