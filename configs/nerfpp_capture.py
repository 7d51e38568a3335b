"""NeRF++ on your own capture (process_data.py output): the foreground NeRF
inside the sphere of radius 2 around the focus of the cameras (which the
loader scales into [-1, 1]^3), the background NeRF on the inverted sphere
beyond it. A CPU-sized MLP (4 x 128, 32 + 64 samples per half) as
configs/demo.py; the paper's is 8 x 256 with 64 + 128.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "demo", method="nerfpp", layout="nerfstudio", data_dir="data/capture",
      train_dir="runs/nerfpp_capture", center_method="focus",
      sphere_radius=2.0, num_bg_coarse_samples=32, num_bg_fine_samples=64,
      lr_final=1e-4, max_steps=20_000, save_every=1_000, render_every=0)
