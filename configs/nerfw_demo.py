"""NeRF-W (appearance codes + transient head) on the embedded lego in the
wild (data/lego_wild_100: per-image colour gain/offset and coloured
occluders in the training images, clean test images), NeRF's MLP at the
demo's size. nerfa_demo / nerfu_demo are its NeRF-A / NeRF-U ablations."""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  # The demo's NeRF (configs/demo.py), so the two compare at equal size.
  return nerfw.variant(config_lib.variant(
      "demo", method="nerfw", data_dir="data/lego_wild_100",
      train_dir="runs/nerfw_demo"), "w")
