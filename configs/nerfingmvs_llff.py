"""NerfingMVS on the LLFF fern at factor 8 (504x378): the demo's small NeRF
(a 4 x 128 MLP, 1024 rays a step) sampling each ray only in the depth
prior's range, with 8 + 16 samples instead of the demo's 32 + 64.

The prior needs the scene's COLMAP model: the LLFF release's sparse/0 under
data_dir is found by itself; otherwise run process_data.py on the images
and point config.depth_prior_model at its colmap/sparse/0, e.g.

  python process_data.py --images data/nerf_llff_data/fern/images_8 \\
      --output data/fern_sfm
  python train.py --config=nerfingmvs_llff \\
      --config.depth_prior_model=data/fern_sfm/colmap/sparse/0

docs/BENCHMARKS.md rows NM1-NM3 (Surfaces) compare it with the plain
sampler at equal time.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "demo", method="nerfingmvs", layout="llff",
      data_dir="data/nerf_llff_data/fern", train_dir="runs/nerfingmvs_fern",
      factor=8, noise_std=1.0, num_coarse_samples=8, num_fine_samples=16,
      max_steps=100_000, max_time_minutes=10.0, schedule_clock="time",
      render_every=0, save_every=2000)
