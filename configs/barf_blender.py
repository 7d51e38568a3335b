"""BARF on a Blender-synthetic scene, as the paper (Lin et al. 2021, Sec. 4.1).

400x400 images (factor 2 of the 800x800 scenes), the training poses moved by
se(3) noise of std 0.15 per coordinate (world frame, as BARF's code), one
level of 128 samples (no hierarchical sampling), 1024 rays per step from
all images, 200k steps;
Adam 5e-4 -> 1e-4 for the field and 1e-3 -> 1e-5 for the poses (the
method's defaults), coarse-to-fine c2f = [0.1, 0.5]. The paper's NeRF is
8 x 256 (NeRF's MLP) with softplus density.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new("barf", "blender", "data/nerf_synthetic/lego",
                        "runs/barf_lego", factor=2, pose_noise=0.15)
