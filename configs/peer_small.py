"""nerf-pytorch's small benchmark config, for side-by-side timing.

configs/peer_full.py with 4 layers of 128 and 32 coarse + 64 fine samples
(1024 rays, view directions). The timings and the CPU each was measured
on: docs/BENCHMARKS.md, rows S1, S4 and S5.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  # nerf-pytorch's skips=[4] (NeRF's skip_layer): no skip with 4 layers.
  return config_lib.variant(
      "peer_full", train_dir="runs/peer_small", num_coarse_samples=32,
      num_fine_samples=64, netdepth=4, netwidth=128,
      netwidth_condition=64)  # nerf-pytorch: W // 2
