"""3D Gaussian splats on your own capture (process_data.py output, a
nerfstudio transforms.json with its sparse points): initial means at the
SfM points, patches of 128 pixels, black background, tiles listing up to
1024 Gaussians (made a row of 8 tiles at a time).

  python process_data.py --images photos/ --output data/mine
  python train.py --config=splat_capture --config.data_dir=data/mine \
      --config.train_dir=runs/mine_splat
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "splat", "nerfstudio", "data/capture", "runs/splat_capture",
      center_method="focus", splat_init="sfm", splat_count=100_000,
      splat_init_count=20_000, patch_size=128, batch_size=128 * 128,
      splat_capacity=1024, splat_tiles_per_step=8,
      max_steps=10_000, save_every=1000, render_every=0)
