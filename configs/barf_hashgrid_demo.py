"""BARF's pose refinement on the hash-grid field, on the embedded 100x100
lego with the paper's pose noise (se(3) std 0.15 per coordinate, in the
world frame as BARF's code).

The hash grid instant_ngp_demo had before issue #14 changed it: finest
level 512, the occupancy grid and marcher, 8192 rays a step in a 2^16-
sample budget (not today's instant_ngp_demo, which has a finest level of
256 and the proposal sampler). Coarse to fine over the grid levels
(`jaxnerf/methods/barf_hashgrid.py`). 2800 steps: sized for issue #11's 30
minutes on 2 CPU cores, and the poses stop moving well before the end
(docs/BENCHMARKS.md, rows B8 and B9). From the true poses
(`--config.pose_noise=0`) it is also the field of SCNeRF's intrinsics run
(row B13).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("barf_hashgrid")
  config_lib.scene(c, "blender", "data/lego_100", "runs/barf_hashgrid_demo")
  c.pose_noise = 0.15
  c.hash_log2_size = 17
  c.hash_max_resolution = 512
  c.occupancy_resolution = 64
  c.occupancy_update_fraction = 0.5
  c.march_steps = 384
  c.batch_size = 8192
  c.samples_budget = 2**16
  c.render_samples_per_ray = 48
  c.pose_lr_init, c.pose_lr_final = 3e-3, 1e-5
  c.max_steps = 2800
  c.metrics_every = 100
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  c.test_time_batch_size = 1024
  return c
