"""3D Gaussian splats on a full Blender scene (800x800; the lego by
default): 3DGS-MCMC with a cap of 300 k Gaussians from 100 k random points
in the scene box, 30 k steps of one 800x800 image each (3DGS's schedule).
Tiles of 16 pixels list up to 2048 Gaussians, made a row of 50 tiles at
a time (two levels; the rows' lists hold 4 x 2048). A GPU run; on a CPU
each step takes seconds; not yet run (no GPU lent)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "splat", "blender", "data/nerf_synthetic/lego",
      "runs/splat_blender",
      splat_count=300_000, splat_init_count=100_000, splat_capacity=2048,
      splat_tiles_per_step=50, patch_size=800, batch_size=800 * 800,
      max_steps=30_000, save_every=5000, render_every=0)
