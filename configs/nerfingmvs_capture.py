"""NerfingMVS on your own capture (process_data.py's output: its
colmap/sparse/0 under data_dir is the prior's sparse model): the demo's
small NeRF (4 x 128, 1024 rays a step) sampling each ray only in the depth
prior's range, with 8 + 16 samples instead of 32 + 64.

A Nerfies-layout capture with its own COLMAP model (colmap/sparse/0, as
../shared/data/captures/cake) loads with `--config.dataset_type=nerfies`;
docs/BENCHMARKS.md rows NM (Surfaces) ran it so on the cake.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "demo", method="nerfingmvs", layout="nerfstudio", data_dir="data/capture",
      train_dir="runs/nerfingmvs_capture", num_coarse_samples=8,
      num_fine_samples=16, max_steps=100_000, max_time_minutes=10.0,
      schedule_clock="time", render_every=0, save_every=2000)
