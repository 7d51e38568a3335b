"""NeRF on a Blender-synthetic scene, as JaxNeRF's configs/blender.yaml."""

from jaxnerf.config import base_config


def get_config():
  c = base_config()
  c.dataset_type = "blender"
  c.data_dir = "data/nerf_synthetic/lego"
  c.train_dir = "runs/blender_lego"
  c.white_bkgd = True
  c.near, c.far = 2.0, 6.0
  c.batch_size = 4096
  # JaxNeRF's blender.yaml batches rays from one image at a time
  # (batching: single_image).
  c.image_batching = True
  c.num_coarse_samples = 64
  c.num_fine_samples = 128
  c.use_viewdirs = True
  c.randomized = True
  c.lr_init, c.lr_final = 5e-4, 5e-6
  c.max_steps = 1_000_000
  c.chunk = 8192
  return c
