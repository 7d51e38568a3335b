"""3D Gaussian splats on the embedded 100x100 lego, for a budget of 5
minutes on 2 CPU cores (docs/BENCHMARKS.md, rows G12 and G13; G1-G8 are
what led here): 3DGS-MCMC's fixed count (20 k slots, 5 k in use at
the start, 5 % more at every relocation), random initial means in the
scene box at opacity 0.5 and a quarter of their spacing, one 96x96 crop of
a training image a step (the L1 + D-SSIM loss reads it as an image), tiles
of 8 pixels listing at most 2048 Gaussians each, the lists made a row of
12 tiles at a time (two levels: the row's Gaussians, then each tile's),
and Mip-Splatting's 2D filter in place of inria's dilation (at 100x100
the lego's detail is smaller than a pixel: rows G43-G45). The means'
rate is 3DGS-MCMC's 1.6e-4 times 4.4, the scale every splat_demo row was
measured with (the lego cameras' extent by 3DGS's rule is 5.2; the
configs for other scenes take their own cameras' extent).
The learning rates follow
the time budget (schedule_clock "time"), so a shorter
--config.max_time_minutes ends its schedule too.

Why these settings: docs/BENCHMARKS.md, section "Gaussian splats".
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "splat", "blender", "data/lego_100", "runs/splat_demo",
      splat_count=20_000, splat_init_count=5000, splat_init_opacity=0.5,
      splat_init_scale=0.25, render_tile=8, splat_capacity=2048,
      splat_tiles_per_step=12,
      patch_size=96, batch_size=96 * 96, max_steps=100_000,
      max_time_minutes=5.0, schedule_clock="time",
      splat_relocate_stop=10**9, splat_sh_interval=500, save_every=500,
      render_every=0, splat_low_pass=0.1, splat_antialias=True,
      means_lr_scale=4.4)
