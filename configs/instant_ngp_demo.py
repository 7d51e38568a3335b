"""Instant-NGP on the embedded 100x100 lego: 1000 steps, about 6 minutes on 2
CPU cores (6:25 for the whole train.py run on the Intel Xeon of
docs/BENCHMARKS.md, 28.20 dB on the test views). The 3000 steps it had
took about 15 minutes and scored lower on held-out views (issue #14)."""

from jaxnerf import config as config_lib


def get_config():
  c = config_lib.method_config("instant_ngp")
  config_lib.scene(c, "blender", "data/lego_100", "runs/instant_ngp_demo")
  # 100x100 images: pixels are about 3 / 100 scene units at the object, so
  # finer grids than ~512 cells per axis only add memory traffic.
  c.hash_log2_size = 17
  c.hash_max_resolution = 512
  c.occupancy_resolution = 64
  c.occupancy_update_fraction = 0.5
  c.march_steps = 384
  # Rays drawn per step; those whose samples do not fit the budget are left
  # out of the loss, so more rays than the budget usually holds keeps it full
  # (padding samples cost as much as real ones).
  c.batch_size = 8192
  c.samples_budget = 2**16
  c.render_samples_per_ray = 48
  c.max_steps = 1000
  c.save_every = 500
  c.render_every = 0
  c.chunk = 4096
  return c
