"""GNeRF on the embedded 100x100 lego from no pose at all: the training
split's poses are withheld (`pose_init="identity"`: every camera at the
origin), only the prior range is known (the upper hemisphere at the
cameras' radius 4.0311, looking at the origin). The dataset's poses score
the learned ones after alignment (eval.py's metrics.json, as BARF's), and
each test view's pose is fitted before scoring (`test_time_*`).

The hash-grid backbone (CPU speed) with a small grid; four real and four
generated 16x16 patches a step, their pixels 6 apart (each patch a coarse
view of 91 of the 100 pixels: the reference's patches at the largest
scale). Phase A (GAN and inversion) for the first half, A and B together
to three quarters, then B alone. What it reaches is in docs/BENCHMARKS.md
(rows GN1..).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "gnerf", "blender", "data/lego_100", "runs/gnerf_demo",
      backbone="hashgrid", hash_log2_size=15, hash_max_resolution=256,
      occupancy_resolution=64, occupancy_update_fraction=0.5,
      march_steps=256, samples_budget=2**15, render_samples_per_ray=48,
      # Sized for about 25 minutes on 2 busy CPU cores (0.5 s a step):
      # the reference's 12000 / 20000 steps of 12 images on a GPU are far
      # beyond it.
      gan_phase_a_steps=1500, gan_phase_ab_steps=2250, max_steps=3000,
      # The field's rate below Instant-NGP's 1e-2 (a generator against a
      # discriminator at 2e-4); the inversion network's above the
      # reference's 1e-4, for its few steps.
      lr_init=5e-3, lr_final=5e-4, disc_lr_init=2e-4, disc_lr_final=1e-4,
      inversion_lr_init=1e-3, inversion_lr_final=1e-4,
      pose_lr_init=1e-3, pose_lr_final=1e-5,
      metrics_every=250, save_every=1000, render_every=0, print_every=50,
      chunk=4096, test_time_batch_size=1024)
