"""NeRF on an LLFF forward-facing scene, as JaxNeRF's configs/llff.yaml.

Factor 4, NDC rays (near 0, far 1), 64 + 128 samples, 4096 rays per step,
density noise 1.0, every 8th image held out. JaxNeRF's `image_batching:
true` means "rays of a batch come from all images"; in this repository
that is `image_batching = False` (ours means one image per batch).
"""

from jaxnerf.config import base_config


def get_config():
  c = base_config()
  c.dataset_type = "llff"
  c.data_dir = "data/nerf_llff_data/fern"
  c.train_dir = "runs/llff_fern"
  c.factor = 4
  c.llffhold = 8
  c.white_bkgd = False
  c.near, c.far = 0.0, 1.0  # NDC
  c.batch_size = 4096
  c.image_batching = False  # = JaxNeRF's image_batching: true (all images)
  c.num_coarse_samples = 64
  c.num_fine_samples = 128
  c.use_viewdirs = True
  c.randomized = True
  c.noise_std = 1.0
  c.lr_init, c.lr_final = 5e-4, 5e-6
  c.max_steps = 1_000_000
  c.chunk = 8192
  return c
