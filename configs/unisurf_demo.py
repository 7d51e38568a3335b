"""UNISURF on the embedded 100x100 lego (white background, the Blender box
[-1.5, 1.5]^3), on the SDF backbone's hash grid as neus_demo (the same
grid, batch and budget: 20 minutes on 2 CPU cores), for issue #36's
comparison of surface methods (docs/methods/neus.md, docs/BENCHMARKS.md
"Surfaces").

Per ray: 64 points find the surface (occupancy only, no gradient), 8
secant steps refine it, 32 samples in the interval around it and 16 in
the free space before it (the paper: 256, 8, 64, 32)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "unisurf", "blender", "data/lego_100", "runs/unisurf_demo",
      hash_log2_size=17, hash_max_resolution=256,
      batch_size=1024, root_samples=64, interval_samples=32, free_samples=16,
      max_steps=5000, max_time_minutes=20.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=2048)
