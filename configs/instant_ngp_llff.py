"""Instant-NGP's hash-grid field on an LLFF forward-facing scene, in NDC.

NDC maps the camera frustum (near plane to infinity) onto [-1, 1]^3, so the
scene box is that cube (scene_bound 1) and the occupancy grid skips the
empty depth in front of each surface. The fern at factor 8 (504 x 378) has
a pixel footprint of 2 / 504 NDC units across, so the finest hash level
(512 cells over 2 units) is about one pixel. A pixel's rays are parallel in
NDC: jittered training rays shift their origin ("cylinder").

  python train.py --config=instant_ngp_llff --config.factor=8 \
      --config.data_dir=/path/to/nerf_llff_data/fern --config.train_dir=runs/fern_ngp
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "instant_ngp", "llff", "data/nerf_llff_data/fern",
      "runs/instant_ngp_llff", factor=8, scene_bound=1.0,
      hash_max_resolution=512, occupancy_resolution=64,
      occupancy_update_fraction=0.5, march_steps=512, ray_jitter="cylinder",
      batch_size=8192, samples_budget=2**16, render_samples_per_ray=64,
      max_steps=3000, save_every=1000, render_every=0, chunk=4096)
