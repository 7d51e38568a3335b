"""A small NeRF on the embedded 100x100 lego: the quick start, sized for
about 10 minutes on 2 CPU cores (docs/BENCHMARKS.md, row N1)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "nerf", "blender", "data/lego_100", "runs/demo",
      batch_size=1024, num_coarse_samples=32, num_fine_samples=64,
      netdepth=4, netwidth=128, netwidth_condition=64, skip_layer=0,
      # Ten minutes is far from convergence, where a high learning rate
      # still pays: decaying to 1e-4 within the budget scored lower than
      # keeping the rate high (docs/BENCHMARKS.md, "NeRF demo").
      lr_init=2e-3, lr_final=5e-4,
      max_steps=1600, save_every=500, render_every=500, chunk=4096)
