"""BARF's pose refinement on the hash-grid field, on the embedded 100x100
lego with the paper's pose noise (se(3) std 0.15 per coordinate, in the
world frame as BARF's code).

The hash grid instant_ngp_demo had before issue #14 changed it: finest
level 512, the occupancy grid and marcher, 8192 rays a step in a 2^16-
sample budget (not today's instant_ngp_demo, which has a finest level of
256 and the proposal sampler). Coarse to fine over the grid levels
(jaxnerf/methods/barf.py on the hash-grid backbone). 2800 steps: sized for issue #11's 30
minutes on 2 CPU cores, and the poses stop moving well before the end
(docs/BENCHMARKS.md, rows B8 and B9). From the true poses
(`--config.pose_noise=0`) it is also the field of SCNeRF's intrinsics run
(row B13).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "barf", "blender", "data/lego_100", "runs/barf_hashgrid_demo",
      backbone="hashgrid", pose_noise=0.15, hash_log2_size=17, hash_max_resolution=512,
      occupancy_resolution=64, occupancy_update_fraction=0.5,
      march_steps=384, batch_size=8192, samples_budget=2**16,
      render_samples_per_ray=48, pose_lr_init=3e-3, pose_lr_final=1e-5,
      max_steps=2800, metrics_every=100, save_every=1000, render_every=0,
      chunk=4096, test_time_batch_size=1024)
