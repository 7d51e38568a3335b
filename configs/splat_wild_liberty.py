"""Gaussian splats with per-image appearance codes (splat_wild) on a
phototourism scene: internet photos of one landmark with a COLMAP model
(made for the 40 Statue of Liberty photos the developers test with, as
nerfw_liberty). Initial means at the model's sparse points; cameras
centred on the focus of their optical axes; black background; every 8th
photo held out, its code fitted on 48x48 patches of its left half and its
right half scored (NeRF-W's protocol, as nerfw_liberty). The means' rate
in units of the training cameras' extent (means_lr_scale 0, as
splat_capture), not splat_demo's lego scale.

  python scripts/downscale_images.py data/liberty40/images --factors 4
  python train.py --config=splat_wild_liberty --config.data_dir=data/liberty40
  python eval.py  --config=splat_wild_liberty --config.data_dir=data/liberty40
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "splat_wild_demo", layout="colmap", data_dir="data/liberty40",
      train_dir="runs/splat_wild_liberty", factor=4, center_method="focus",
      splat_init="sfm", splat_init_count=9000, means_lr_scale=0.0)
