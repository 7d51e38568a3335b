"""nerf-pytorch's full Blender config, for side-by-side timing.

8 layers of 256 with a skip at layer 4, 64 coarse + 128 fine samples, 1024
rays, view directions. The two timings and the CPU each was measured on:
docs/BENCHMARKS.md, rows S2 and S4.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  # NeRF's defaults: the full MLP.
  return config_lib.new("nerf", "blender", "data/lego_100", "runs/peer_full",
                        batch_size=1024, lr_init=5e-4, lr_final=5e-5,
                        max_steps=200_000, chunk=4096)
