"""FastNeRF (jaxnerf/methods/fastnerf.py) on the embedded 100x100 lego: the
factorised hash-grid field (8 components, a small direction MLP), trained
with the occupancy grid and marcher so that its density is zero where the
grid says empty (the cache, `bake.py`, keeps only the blocks training rays
see; the proposal sampler leaves unsupervised density in empty space, which
culling would keep). Settings of issue #39's baked-grid run (BENCHMARKS
K1): 8192 rays a step, finest level 512."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "fastnerf", "blender", "data/lego_100", "runs/fastnerf_demo",
      hash_log2_size=17, hash_max_resolution=512,
      occupancy_resolution=64, occupancy_update_fraction=0.5,
      march_steps=384, samples_budget=2**16, render_samples_per_ray=48,
      sampler="occupancy", batch_size=8192,
      fastnerf_components=8, fastnerf_dir_layers=2, fastnerf_dir_width=32,
      max_steps=1500, max_time_minutes=15.0,
      save_every=500, render_every=0, chunk=4096)
