"""NSVF (jaxnerf/methods/nsvf.py) on the embedded 100x100 lego, for a
budget of 15 minutes on 2 CPU cores: voxels of 3/8 units at the start,
three subdivisions to 64^3 voxels of 0.047 units (a training pixel's
footprint at the object is 0.029), self-pruning before each subdivision
and twice after the last, 8 marching steps a voxel (the paper's)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "nsvf", "blender", "data/lego_100", "runs/nsvf_demo",
      nsvf_initial_resolution=8, nsvf_subdivide_steps=(300, 700, 1100),
      nsvf_prune_steps=(288, 688, 1088, 1504, 1808),
      nsvf_embedding_dim=16, nsvf_steps_per_voxel=8,
      samples_budget=2**16, render_samples_per_ray=64,
      batch_size=4096, max_steps=2000, max_time_minutes=15.0,
      save_every=500, render_every=0, chunk=4096)
