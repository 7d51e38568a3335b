"""BARF's pose refinement on the hash-grid field, on the embedded 100x100
lego with the paper's pose noise (se(3) std 0.15 per coordinate, in the
world frame as BARF's code).

The hash-grid settings of instant_ngp_demo; coarse to fine over the grid
levels (`jaxnerf/methods/barf_hashgrid.py`). 2800 steps of 8192 rays:
26.5 minutes for the whole train.py run on 2 Intel Xeon cores (0.55 s a
step); the cameras went from 13.5 degrees / 25 (x100) to 0.26 / 0.94
by step 1000 and 0.23 / 0.77 at the end, under issue #11's 0.5 / 1.0
(docs/BENCHMARKS.md; in the camera frame they had flattened at 7
degrees). From the true poses (`--config.pose_noise=0`) it is also the
field of SCNeRF's intrinsics run.
"""

from jaxnerf import config as config_lib


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
