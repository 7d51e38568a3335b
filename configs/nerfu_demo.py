"""NeRF-U (NeRF-W's transient head only) on the embedded lego in the wild,
as configs/nerfw_demo.py otherwise."""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  c = config_lib.load_config("nerfw_demo")
  c.unlock()
  c.train_dir = "runs/nerfu_demo"
  return nerfw.variant(c, "u")
