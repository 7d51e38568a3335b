"""3D Gaussian splats on an LLFF forward-facing scene (the fern at factor 8,
504x378), in the recentred frame with pinhole cameras (no NDC), initial
means along the training cameras' rays between the depth bounds (the
LLFF release has no sparse points). Patches of 128 pixels.

Pool, initial scale and tile capacity (docs/BENCHMARKS.md, row G62): with
100 000 Gaussians at the frustum's mean spacing and 256 a tile, the tiles
overflowed and the fern scored 9.08 dB after 2000 steps (blocks of a
tile's size in the pictures); splat_capture's pool of 20 000, a quarter of
that spacing (splat_demo's) and 2048 a tile (splat_demo's) give 18.09 dB.
The means' rate in units of the training cameras' extent (the default).

  python train.py --config=splat_llff \
      --config.data_dir=/path/to/nerf_llff_data/fern --config.train_dir=runs/fern_splat
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "splat", "llff", "data/nerf_llff_data/fern", "runs/splat_llff",
      factor=8, llff_ndc=False, splat_init="frustum", splat_count=20_000,
      splat_init_count=5000, splat_init_scale=0.25, splat_capacity=2048,
      patch_size=128, batch_size=128 * 128,
      max_steps=10_000, save_every=1000, render_every=0)
