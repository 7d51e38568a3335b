"""NeRF-W on the hash-grid field (nerfw on backbone "hashgrid") for a
phototourism scene: a COLMAP model and internet photos of one landmark
(different cameras, days, skies, exposures and passers-by). Made for the 40
Statue of Liberty photos the developers test with; any NeRF-W phototourism scene
(images/ + sparse/0, e.g. its `dense/` folder) loads the same way.

  python scripts/downscale_images.py data/liberty40/images --factors 4
  python train.py --config=nerfw_liberty --config.data_dir=data/liberty40
  python eval.py  --config=nerfw_liberty --config.data_dir=data/liberty40 \
      --config.render_path=true

Every 8th photo (5 of 40) is held out; eval.py fits each held-out photo's
appearance code on its left half and scores the right half (the paper's
protocol). The scene is unbounded (sky, water, skyline): the cameras are
centred on the focus of their optical axes and scaled into [-1, 1]^3, and
the grid is instant_ngp_capture's, contracted (hashgrid.
unbounded_capture), sampled by proposal fields in nerfacto's disparity
spacing: with the occupancy grid and marcher the contracted grid stayed
mostly occupied, so the sample budget held few of the batch's rays and
the run did not train; the proposal sampler has no budget
(docs/BENCHMARKS.md, row W4 and "NeRF-W on liberty40"). No masks: the
transient head is what takes passers-by and boats out of the static scene.
"""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  return nerfw.variant(config_lib.variant(
      "instant_ngp_capture", method="nerfw", backbone="hashgrid",
      layout="colmap",
      data_dir="data/liberty40", train_dir="runs/nerfw_liberty", factor=4,
      sampler="proposal",
      batch_size=2048,  # x 32 field intervals: 2^16 samples a step
      max_steps=4000,  # not run as written (row W4 ran 12 minutes)
      render_path_frames=60), "w")
