"""RtS (rasterize then splat) on the embedded 100x100 lego (white
background, the Blender box [-1.5, 1.5]^3), on the SDF backbone's hash grid
as neus_demo (the same grid and budget: 20 minutes on 2 CPU cores), for
issue #36's comparison of surface methods (docs/methods/neus.md,
docs/BENCHMARKS.md "Surfaces").

A step is 3 patches of 20 x 20 pixels (1200 rays, 1452 with the splats'
apron). The first quarter of the time budget renders them by NeuS (32 + 16
samples a ray, neus_demo's); then RtS: per ray 64 points and 8 secant steps
find two surface layers (no gradient), the field is evaluated (with its
gradient) at those two points only, and the points are splatted."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "rts", "blender", "data/lego_100", "runs/rts_demo",
      hash_log2_size=17, hash_max_resolution=256,
      field_samples=32, importance_samples=16,
      max_steps=5000, max_time_minutes=20.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=2000)
