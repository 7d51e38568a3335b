"""Instant-NGP's hash grid on your own capture (process_data.py output, a
nerfstudio transforms.json): an unbounded scene, contracted.

  python process_data.py --images photos/ --output data/mine
  python train.py --config=instant_ngp_capture --config.data_dir=data/mine \
      --config.train_dir=runs/mine

The loader orients the cameras' up-vector to +z, centres the scene on the
focus of the optical axes and scales the cameras into [-1, 1]^3; near/far
come from the sparse points. mip-NeRF 360's contraction keeps the ball of
radius scene_bound / 2 = 2 (which holds every camera) as it is and maps the
rest of the world into the shell out to radius 4, where the hash grid and
the occupancy grid end; rays are marched to (almost) infinity.
"""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods.backbones import hashgrid


def get_config():
  return hashgrid.unbounded_capture(config_lib.new(
      "instant_ngp", "nerfstudio", "data/capture", "runs/capture",
      center_method="focus", max_steps=20_000, save_every=1_000,
      render_every=0, chunk=4096))
