"""Instant-NGP's hash-grid field on the embedded 100x100 lego, sampled by
proposal fields (mip-NeRF 360 / nerfacto), for a budget of 15 minutes on 2
CPU cores.

Why these settings (issue #14; docs/BENCHMARKS.md, rows I1-I5): in the
ablation the proposal sampler gained most over the occupancy grid and
marcher (every ray of the batch is in the loss, and its samples follow the
density the proposals learn); the other regularisers each gained less and
stay off. bench/generalisation.py then showed the field's content inside a
training pixel's footprint unsupervised, so the finest level is 256, about
as fine as these views supervise, which narrowed the train-test gap."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "instant_ngp", "blender", "data/lego_100", "runs/instant_ngp_demo",
      # 100x100 images: a pixel's footprint at the object is 0.029 units;
      # 256 cells over the 3-unit box (0.4 pixels a cell) is as fine as the
      # views supervise, and finer levels fit detail between the training
      # rays.
      hash_log2_size=17, hash_max_resolution=256,
      # The occupancy grid and marcher, for --config.sampler=occupancy (the
      # ablation's base, with --config.batch_size=8192: more rays than the
      # 2^16-sample budget holds keeps it full; rays that do not fit are
      # left out of the loss).
      occupancy_resolution=64, occupancy_update_fraction=0.5,
      march_steps=384, samples_budget=2**16, render_samples_per_ray=48,
      # Dense samples: batch_size x field_samples intervals per step (2048 x
      # 32 is the occupancy marcher's 2^16 sample budget), every ray in the
      # loss.
      sampler="proposal", batch_size=2048,
      # max_steps is sized so the schedule nearly ends within the 15-minute
      # limit on the benchmark machine (docs/BENCHMARKS.md, row I1); the
      # time limit holds a slower machine to the same budget.
      max_steps=1850, max_time_minutes=15.0,
      save_every=500, render_every=0, chunk=4096)
