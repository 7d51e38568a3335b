"""Gaussian splats with per-image appearance codes (splat_wild) on the
embedded "lego in the wild" (lego_wild_100: lego_100's training views with
per-image colour gains and offsets and occluder stripes; clean test
views), NeRF-W's lego ablation. Splats and rasteriser as splat_demo (tile
lists of 2048), for 15 minutes instead of 5; relocation stops at step
5000. Test views fit their code on 48x48 patches of the left half; the
right half is scored."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "splat_demo", method="splat_wild", data_dir="data/lego_wild_100",
      train_dir="runs/splat_wild_demo", max_time_minutes=15.0,
      splat_relocate_stop=5000, appearance_dim=16, appearance_lr_init=1e-2,
      appearance_lr_final=1e-3, test_time_batch_size=48 * 48)
