"""The fast field (Instant-NGP-style) on an 800x800 Blender-synthetic scene."""

from jaxnerf import fast


def get_config():
  c = fast.default_config()
  c.dataset_type = "blender"
  c.data_dir = "data/nerf_synthetic/lego"
  c.train_dir = "runs/fast_blender_lego"
  c.white_bkgd = True
  c.near, c.far = 2.0, 6.0
  c.scene_bound = 1.5  # Blender scenes fit in [-1.5, 1.5]^3
  c.batch_size = 2**14
  c.samples_budget = 2**18
  c.max_steps = 30_000
  c.print_every = 100
  c.save_every = 5_000
  c.render_every = 5_000
  c.chunk = 8192
  return c
