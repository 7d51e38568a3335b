"""DeRF (jaxnerf/methods/derf.py) on the embedded 100x100 lego: the NeRF
demo's sampling, schedule and network size (configs/demo.py: 4 layers of
128, colour 64), split into 8 Voronoi heads with the same total
parameters (each head 4 layers of 39, colour 20), for a budget of 10
minutes on 2 CPU cores (the schedules, and the Voronoi sharpness, follow
the time: schedule_clock "time"). --config.derf_heads=1 is the one network
of those parameters (docs/BENCHMARKS.md, rows DR1-DR3)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "derf", "blender", "data/lego_100", "runs/derf_demo",
      derf_heads=8,
      batch_size=1024, num_coarse_samples=32, num_fine_samples=64,
      netdepth=4, netwidth=128, netwidth_condition=64, skip_layer=0,
      lr_init=2e-3, lr_final=5e-4,
      max_steps=1600, max_time_minutes=10.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=4096)
