"""NeRD on the embedded image collection (100x100, data/collection_100:
60 training photos of one object, each under its own environment; 15
test photos under others): nrf_demo's hash grid and material head, each
photo's SH environment learned (none is given to the model), the test
photos' fitted on their left halves and scored on their right halves."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "nrf_demo", method="nerd", data_dir="data/collection_100",
      train_dir="runs/nerd_demo")
