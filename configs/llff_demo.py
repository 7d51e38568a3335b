"""A small LLFF NeRF on the embedded data/fern_small (252x189): minutes on CPU.

The LLFF setup of configs/llff.py (NDC, density noise, llffhold 8) with
configs/demo.py's NeRF: a 4 x 128 MLP, 32 + 64 samples and 1024 rays per
step.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "demo", layout="llff", data_dir="data/fern_small",
      train_dir="runs/llff_demo", factor=16, noise_std=1.0, lr_final=1e-4,
      max_steps=2000, render_every=1000)
