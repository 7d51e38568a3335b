"""nerf-pytorch's small benchmark config, for side-by-side timing.

4 layers of 128, 32 coarse + 64 fine samples, 1024 rays, view directions.
The timings and the CPU each was measured on: docs/BENCHMARKS.md, rows S1,
S4 and S5.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "blender", "data/lego_100", "runs/peer_small")
  c.batch_size = 1024
  c.num_coarse_samples = 32
  c.num_fine_samples = 64
  c.netdepth = 4
  c.netwidth = 128
  c.netwidth_condition = 64  # nerf-pytorch: W // 2
  c.skip_layer = 4  # nerf-pytorch skips=[4]: no skip with 4 layers
  c.lr_init, c.lr_final = 5e-4, 5e-5
  c.max_steps = 200_000
  c.chunk = 4096
  return c
