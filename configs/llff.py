"""NeRF on an LLFF forward-facing scene, as JaxNeRF's configs/llff.yaml.

Factor 4, NDC rays (near 0, far 1), 64 + 128 samples, 4096 rays per step,
density noise 1.0, every 8th image held out. JaxNeRF's llff.yaml draws each
batch from all images (`batching: all_images`); here that is
`image_batching = False` (True means one image per batch).
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new("nerf", "llff", "data/nerf_llff_data/fern",
                        "runs/llff_fern", noise_std=1.0)
