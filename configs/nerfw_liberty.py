"""NeRF-W on the hash-grid field (nerfw_ngp) for a phototourism scene: a
COLMAP model and internet photos of one landmark (different cameras, days,
skies, exposures and passers-by). Made for the 40 Statue of Liberty photos
the developers test with; any NeRF-W phototourism scene (images/ +
sparse/0, e.g. its `dense/` folder) loads the same way.

  python scripts/downscale_images.py data/liberty40/images --factors 4
  python train.py --config=nerfw_liberty --config.data_dir=data/liberty40
  python eval.py  --config=nerfw_liberty --config.data_dir=data/liberty40 \
      --config.render_path=true

Every 8th photo (5 of 40) is held out; eval.py fits each held-out photo's
appearance code on its left half and scores the right half (the paper's
protocol). The scene is unbounded (sky, water, skyline): the cameras are
centred on the focus of their optical axes and scaled into [-1, 1]^3, and
mip-NeRF 360's contraction maps the world beyond radius 2 into the shell
out to scene_bound = 4 (as instant_ngp_capture). No masks: the transient
head is what takes passers-by and boats out of the static scene.
"""

from jaxnerf import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  c = config_lib.method_config("nerfw_ngp")
  config_lib.scene(c, "colmap", "data/liberty40", "runs/nerfw_liberty",
                   center_method="focus", factor=4)
  c.contraction = "mipnerf360"
  c.scene_bound = 4.0
  c.hash_log2_size = 19
  c.hash_max_resolution = 4096  # over the box [-4, 4]^3
  c.occupancy_resolution = 128
  c.march_steps = 1024  # sets the step: 2 sqrt(3) scene_bound / 1024
  c.batch_size = 8192
  c.samples_budget = 2**17
  c.render_samples_per_ray = 64
  c.max_steps = 4000
  c.save_every = 1000
  c.render_every = 0
  c.chunk = 4096
  c.render_path_frames = 60
  return nerfw.variant(c, "w")
