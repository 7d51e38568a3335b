"""NeRV on the embedded relighting set: nrf_demo (the same data, grid,
background, warm-up and steps) with the visibility of environments
learned, so the test views under environments are lit with occlusion."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant("nrf_demo", method="nerv",
                            train_dir="runs/nerv_demo")
