"""Neural Reflectance Fields on the embedded relighting set (100x100,
data/relight_100: trained under a flash at the camera, tested under point
lights elsewhere and environments): instant_ngp_demo's hash grid with the
occupancy grid and marcher (the shading reads each sample; the proposal
sampler serves the field's own colour) and 4096 rays a step, 1500 steps.

On black, not white: over a white background a translucent object lets
white through, and shading that cannot yet make a pixel bright enough
learned translucent geometry instead (test normals 35 degrees off, point
lights 14.5 dB; on black 14.2 degrees and 18.4 dB: docs/BENCHMARKS.md, the
relighting rows). The first fifth of training blends from the field's own
colour (geometry first)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "instant_ngp_demo", method="nrf", data_dir="data/relight_100",
      train_dir="runs/nrf_demo", sampler="occupancy", batch_size=4096,
      white_bkgd=False, reflectance_warmup=0.2, max_steps=1500,
      max_time_minutes=45.0)
