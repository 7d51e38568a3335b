"""A small NeRF on the embedded 100x100 lego: the quick start, sized for
about 10 minutes on 2 CPU cores (docs/BENCHMARKS.md, row N1)."""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "blender", "data/lego_100", "runs/demo")
  c.batch_size = 1024
  c.num_coarse_samples = 32
  c.num_fine_samples = 64
  c.netdepth = 4
  c.netwidth = 128
  c.netwidth_condition = 64
  c.skip_layer = 0
  # Ten minutes is far from convergence, where a high learning rate still
  # pays: decaying to 1e-4 within the budget scored lower than keeping the
  # rate high (docs/BENCHMARKS.md, "NeRF demo").
  c.lr_init, c.lr_final = 2e-3, 5e-4
  c.max_steps = 1600
  c.save_every = 500
  c.render_every = 500
  c.chunk = 4096
  return c
