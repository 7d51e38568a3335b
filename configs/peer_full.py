"""nerf-pytorch's full Blender config, for side-by-side timing.

8 layers of 256 with a skip at layer 4, 64 coarse + 128 fine samples, 1024
rays, view directions. The two timings and the CPU each was measured on:
docs/BENCHMARKS.md, rows S2 and S4.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("nerf")  # NeRF's defaults: the full MLP
  config_lib.scene(c, "blender", "data/lego_100", "runs/peer_full")
  c.batch_size = 1024
  c.lr_init, c.lr_final = 5e-4, 5e-5
  c.max_steps = 200_000
  c.chunk = 4096
  return c
