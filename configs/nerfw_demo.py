"""NeRF-W (appearance codes + transient head) on the embedded lego in the
wild (data/lego_wild_100: per-image colour gain/offset and coloured
occluders in the training images, clean test images), NeRF's MLP at the
demo's size. nerfa_demo / nerfu_demo are its NeRF-A / NeRF-U ablations."""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  c = config_lib.method_config("nerfw")
  config_lib.scene(c, "blender", "data/lego_wild_100", "runs/nerfw_demo")
  # The demo's NeRF (configs/demo.py), so the two compare at equal size.
  c.batch_size = 1024
  c.num_coarse_samples = 32
  c.num_fine_samples = 64
  c.netdepth = 4
  c.netwidth = 128
  c.netwidth_condition = 64
  c.skip_layer = 0
  c.lr_init, c.lr_final = 2e-3, 5e-4
  c.max_steps = 1600
  c.save_every = 500
  c.render_every = 500
  c.chunk = 4096
  return nerfw.variant(c, "w")
