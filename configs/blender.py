"""NeRF on a Blender-synthetic scene, as JaxNeRF's configs/blender.yaml."""

from jaxnerf.engine import config as config_lib


def get_config():
  # JaxNeRF's blender.yaml batches rays from one image at a time
  # (batching: single_image).
  return config_lib.new("nerf", "blender", "data/nerf_synthetic/lego",
                        "runs/blender_lego", image_batching=True)
