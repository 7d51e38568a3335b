"""A small LLFF NeRF on the embedded data/fern_small (252x189): minutes on CPU.

The LLFF setup of configs/llff.py (NDC, density noise, llffhold 8) with a
4 x 128 MLP, 32 + 64 samples and 1024 rays per step.
"""

from jaxnerf.config import base_config


def get_config():
  c = base_config()
  c.dataset_type = "llff"
  c.data_dir = "data/fern_small"
  c.train_dir = "runs/llff_demo"
  c.factor = 16
  c.llffhold = 8
  c.white_bkgd = False
  c.near, c.far = 0.0, 1.0  # NDC
  c.batch_size = 1024
  c.image_batching = False  # rays from all training images
  c.num_coarse_samples = 32
  c.num_fine_samples = 64
  c.netdepth = 4
  c.netwidth = 128
  c.netwidth_condition = 64
  c.skip_layer = 0
  c.noise_std = 1.0
  c.lr_init, c.lr_final = 2e-3, 1e-4
  c.max_steps = 2000
  c.print_every = 100
  c.save_every = 500
  c.render_every = 1000
  c.chunk = 4096
  return c
