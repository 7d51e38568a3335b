"""A tiny hash-grid field with SH colour on the embedded lego, for the
bake / view / export tests: about 13 s of training on 2 cores (4096-ray
batches took 48 s for 1.5 dB more: the tests need a field, not a good
one)."""

import os

from jaxnerf.engine import config as config_lib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def get_config():
  c = config_lib.method_config("instant_ngp")
  config_lib.scene(c, "blender", os.path.join(REPO_ROOT, "data", "lego_100"),
                   "runs/tiny_ngp_sh")
  c.color_mode = "sh"
  c.sh_degree = 2
  c.hash_levels = 8
  c.hash_log2_size = 14
  c.hash_max_resolution = 128
  c.occupancy_resolution = 32
  c.march_steps = 192
  c.batch_size = 1024
  c.samples_budget = 2**13
  c.render_samples_per_ray = 48
  c.max_steps = 200
  c.print_every = 50
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  c.test_view_limit = 2
  c.save_video = False
  return c
