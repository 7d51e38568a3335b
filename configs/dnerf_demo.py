"""D-NeRF on the embedded dynamic lego (data/dnerf_lego_100: 100x100 on
black, 50 train / 11 val / 20 test frames with a time each), with the fast
variant for CPU budgets: a hash-grid canonical field and a small
deformation MLP (dnerf_ngp). tnerf_demo is its T-NeRF baseline.

  python train.py --config=dnerf_demo
  python eval.py --config=dnerf_demo --config.render_path=true

eval.py's render_path writes path_rgb.mp4 (the orbit at time
render_path_time) and time_rgb.mp4 (the first test camera over time)."""

from jaxnerf import config as config_lib


def get_config():
  c = config_lib.method_config("dnerf_ngp")
  config_lib.scene(c, "dnerf", "data/dnerf_lego_100", "runs/dnerf_demo",
                   white_bkgd=False)
  # The grid, marcher and budget of instant_ngp_demo (100x100 images).
  c.hash_log2_size = 17
  c.hash_max_resolution = 512
  c.occupancy_resolution = 64
  c.occupancy_update_fraction = 0.5
  c.march_steps = 384
  c.batch_size = 8192
  c.samples_budget = 2**16
  c.render_samples_per_ray = 48
  # The budget: 20 minutes of training on 2 CPU cores.
  c.max_steps = 20_000
  c.max_time_minutes = 20.0
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  c.render_path_time = 0.5
  c.render_time_frames = 50
  return c
