"""BARF's pose refinement on the hash-grid field, on the embedded 100x100
lego with the paper's pose noise (se(3) std 0.15 per coordinate).

The hash-grid settings of instant_ngp_demo; coarse to fine over the grid
levels (`jaxnerf/methods/barf_hashgrid.py`). Measured from that noise
(docs/BENCHMARKS.md, Intel Xeon 2-core, about 1 s a step; noise and
corrections then in the camera frame, the world frame not yet run here):
the poses were at 7.3 degrees and flattening at step 600 of a 2000-step
schedule (stopped there), where barf_demo's MLP was at 3.4 by step 500;
from the true poses (`--config.pose_noise=0`) it is the field of SCNeRF's
intrinsics run.
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
  c.max_steps = 5000
  c.metrics_every = 100
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  c.test_time_batch_size = 1024
  return c
