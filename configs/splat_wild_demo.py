"""Gaussian splats with per-image appearance codes (splat_wild) on the
embedded "lego in the wild" (lego_wild_100: lego_100's training views with
per-image colour gains and offsets and occluder stripes; clean test
views), NeRF-W's lego ablation; splats as splat_demo. Test views fit their
code on 48x48 patches of the left half; the right half is scored."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "splat_wild", "blender", "data/lego_wild_100", "runs/splat_wild_demo",
      splat_count=20_000, patch_size=96, batch_size=96 * 96, max_steps=6000,
      max_time_minutes=15.0, splat_relocate_stop=5000, splat_sh_interval=500,
      appearance_dim=16, appearance_lr_init=1e-2, appearance_lr_final=1e-3,
      test_time_batch_size=48 * 48, save_every=500, render_every=0)
