"""A small LLFF NeRF on the embedded data/fern_small (252x189): minutes on CPU.

The LLFF setup of configs/llff.py (NDC, density noise, llffhold 8) with a
4 x 128 MLP, 32 + 64 samples and 1024 rays per step.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "llff", "data/fern_small", "runs/llff_demo", factor=16)
  c.batch_size = 1024
  c.num_coarse_samples = 32
  c.num_fine_samples = 64
  c.netdepth = 4
  c.netwidth = 128
  c.netwidth_condition = 64
  c.skip_layer = 0
  c.noise_std = 1.0
  c.lr_init, c.lr_final = 2e-3, 1e-4
  c.max_steps = 2000
  c.save_every = 500
  c.render_every = 1000
  c.chunk = 4096
  return c
