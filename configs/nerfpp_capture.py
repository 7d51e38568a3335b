"""NeRF++ on your own capture (process_data.py output): the foreground NeRF
inside the sphere of radius 2 around the focus of the cameras (which the
loader scales into [-1, 1]^3), the background NeRF on the inverted sphere
beyond it. A CPU-sized MLP (4 x 128, 32 + 64 samples per half) as
configs/demo.py; the paper's is 8 x 256 with 64 + 128.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("nerfpp")
  config_lib.scene(c, "nerfstudio", "data/capture", "runs/nerfpp_capture",
                   center_method="focus")
  c.sphere_radius = 2.0
  c.batch_size = 1024
  c.num_coarse_samples = c.num_bg_coarse_samples = 32
  c.num_fine_samples = c.num_bg_fine_samples = 64
  c.netdepth, c.netwidth, c.netwidth_condition = 4, 128, 64
  c.skip_layer = 0
  c.lr_init, c.lr_final = 2e-3, 1e-4
  c.max_steps = 20_000
  c.save_every = 1_000
  c.render_every = 0
  c.chunk = 4096
  return c
