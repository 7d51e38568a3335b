"""The fast field on the embedded 100x100 lego: a few minutes on 2 CPU cores."""

from jaxnerf import fast


def get_config():
  c = fast.default_config()
  c.dataset_type = "blender"
  c.data_dir = "data/lego_100"
  c.train_dir = "runs/fast_demo"
  c.white_bkgd = True
  c.near, c.far = 2.0, 6.0
  c.scene_bound = 1.5  # Blender scenes fit in [-1.5, 1.5]^3
  # 100x100 images: pixels are about 3 / 100 scene units at the object, so
  # finer grids than ~512 cells per axis only add memory traffic.
  c.hash_levels = 16
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
  c.max_steps = 3000
  c.print_every = 100
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  return c
