"""Neural Reflectance Fields on the embedded relighting set (100x100,
data/relight_100: trained under a flash at the camera, tested under point
lights elsewhere and environments): instant_ngp_demo's hash grid with the
occupancy grid and marcher (the shading reads each sample; the proposal
sampler serves the field's own colour) and 4096 rays a step."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "instant_ngp_demo", method="nrf", data_dir="data/relight_100",
      train_dir="runs/nrf_demo", sampler="occupancy", batch_size=4096,
      max_steps=3000)
