"""The plain field on the embedded relighting set: nrf_demo's grid,
sampler, schedule and budget with the hash grid's own view-dependent
colour (no material, no light): the baseline a relighting method beats
on test views under other lights."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant("nrf_demo", method="instant_ngp",
                            backbone="hashgrid",
                            train_dir="runs/relight_ngp_demo")
