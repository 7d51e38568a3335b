"""nerf-pytorch's full Blender config, for side-by-side timing.

8 layers of 256 with a skip at layer 4, 64 coarse + 128 fine samples, 1024
rays, view directions (/work/shared/BASELINES.md: PyTorch 10.3 s/step).
"""

from jaxnerf.config import base_config


def get_config():
  c = base_config()
  c.dataset_type = "blender"
  c.data_dir = "data/lego_100"
  c.train_dir = "runs/peer_full"
  c.white_bkgd = True
  c.near, c.far = 2.0, 6.0
  c.batch_size = 1024
  c.num_coarse_samples = 64
  c.num_fine_samples = 128
  c.use_viewdirs = True
  c.netdepth = 8
  c.netwidth = 256
  c.netdepth_condition = 1
  c.netwidth_condition = 128
  c.skip_layer = 4
  c.lr_init, c.lr_final = 5e-4, 5e-5
  c.max_steps = 200_000
  c.chunk = 4096
  return c
