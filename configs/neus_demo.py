"""NeuS on the embedded 100x100 lego (white background, the Blender box
[-1.5, 1.5]^3), on the SDF backbone's hash grid, for a budget of 20 minutes
on 2 CPU cores (issue #36; docs/methods/neus.md, docs/BENCHMARKS.md
"Surfaces").

The grid is instant_ngp_demo's (finest level 256 over the box: about as
fine as 100-pixel views supervise)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "neus", "blender", "data/lego_100", "runs/neus_demo",
      hash_log2_size=17, hash_max_resolution=256,
      # 1024 rays x (32 + 16) samples a step, each with its gradient: in
      # 20 busy minutes 803 steps, Chamfer (seen) 0.027, 3 components, the
      # largest 99.98 %; 512 x (48 + 24) made 431 steps, 0.032, 25
      # components, 98.8 % (docs/BENCHMARKS.md, rows U1 and U3).
      batch_size=1024, field_samples=32, importance_samples=16,
      # The schedules (learning rate, the slope annealing) follow the time
      # budget, so a run on a busy machine still ends annealed.
      max_steps=5000, max_time_minutes=20.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=2048)
