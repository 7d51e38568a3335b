"""Writes the small embedded LLFF scene data/fern_small/ used by the tests.

From NeRF's fern (../shared/data/nerf_llff_data/fern/ by default): copies
poses_bounds.npy and box-filters images_8/ (504x378) by 2 into images_16/
(252x189 PNGs), so `config.factor = 16` loads it.

  python scripts/make_embedded_fern.py [--src DIR] [--dst DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import imageio.v3 as iio
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from jaxnerf.data.loaders.blender import downsample


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--src", default=os.path.join(
      REPO_ROOT, "..", "shared", "data", "nerf_llff_data", "fern"))
  parser.add_argument("--dst", default=os.path.join(REPO_ROOT, "data",
                                                    "fern_small"))
  args = parser.parse_args(argv)
  src_images = os.path.join(args.src, "images_8")
  names = sorted(f for f in os.listdir(src_images)
                 if f.lower().endswith((".png", ".jpg", ".jpeg")))
  poses_bounds = np.load(os.path.join(args.src, "poses_bounds.npy"))
  if len(names) != len(poses_bounds):
    raise SystemExit(f"{src_images}: {len(names)} images but "
                     f"{len(poses_bounds)} poses")
  dst_images = os.path.join(args.dst, "images_16")
  if os.path.isdir(dst_images):
    shutil.rmtree(dst_images)
  os.makedirs(dst_images)
  shutil.copyfile(os.path.join(args.src, "poses_bounds.npy"),
                  os.path.join(args.dst, "poses_bounds.npy"))
  for name in names:
    image = iio.imread(os.path.join(src_images, name))[..., :3]
    small = downsample(image.astype(np.float64), 2)
    small = np.clip(np.round(small), 0, 255).astype(np.uint8)
    out = os.path.join(dst_images, os.path.splitext(name)[0] + ".png")
    iio.imwrite(out, small, optimize=True)
  print(f"wrote {len(names)} images of {small.shape[1]}x{small.shape[0]} to "
        f"{dst_images}")


if __name__ == "__main__":
  main()
