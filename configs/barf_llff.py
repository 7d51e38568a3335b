"""BARF on an LLFF forward-facing scene from identity poses, as the paper
(Lin et al. 2021, Sec. 4.2): every training camera starts at the identity,
poses 3e-3 -> 1e-5, field 1e-3 -> 1e-4, 128 samples, 1024 rays, 200k steps,
c2f = [0.1, 0.5]. The COLMAP poses of poses_bounds.npy are the truth the
pose errors are measured against.

Differences from the paper: the library's LLFF layout (NDC rays, images_8,
every 8th view held out) instead of the paper's 480 x 640 images with
inverse-depth sampling and its own split.
"""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "barf", "llff", "data/nerf_llff_data/fern", "runs/barf_fern", factor=8,
      pose_init="identity", pose_lr_init=3e-3, pose_lr_final=1e-5,
      lr_init=1e-3, lr_final=1e-4,
      white_bkgd=False)  # forward-facing scenes need no background colour
