"""NeRF-A (per-image appearance codes, nerfw without transients) on the
embedded relighting set, as nrf_demo otherwise: the relighting methods'
baseline of the issue. A test view's code is fitted on its left half and
it is scored on its right half (NeRF-W's protocol): a code can take a
global change of brightness and colour, not a light that moves."""

from jaxnerf.engine import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  return nerfw.variant(config_lib.variant(
      "nrf_demo", method="nerfw", backbone="hashgrid",
      train_dir="runs/relight_nerfa_demo"), "a")
