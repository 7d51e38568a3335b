"""NeRF on a Blender-synthetic scene, as JaxNeRF's configs/blender.yaml."""

from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "blender", "data/nerf_synthetic/lego",
                   "runs/blender_lego")
  # JaxNeRF's blender.yaml batches rays from one image at a time
  # (batching: single_image).
  c.image_batching = True
  return c
