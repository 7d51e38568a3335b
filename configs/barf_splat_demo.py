"""BARF's pose refinement on Gaussian splats (the camera-refinement
component on the splat backbone), on the embedded 100x100 lego with the
paper's pose noise (se(3) std 0.15 per coordinate, in the world frame as
BARF's code). Splats and rasteriser as splat_demo (tile lists of 2048:
with the default 256 the lists overflowed by tens of thousands of entries
a step and the poses stalled, docs/BENCHMARKS.md row G14), for 15 minutes
instead of 5; relocation stops at step 5000. The test views' poses are
fitted on one 96x96 patch a step before scoring (test_time_batch_size =
96^2)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "splat_demo", method="barf", backbone="splats",
      train_dir="runs/barf_splat_demo", pose_noise=0.15,
      max_time_minutes=15.0, splat_relocate_stop=5000,
      pose_lr_init=3e-3, pose_lr_final=1e-5, test_time_batch_size=96 * 96,
      metrics_every=100)
