"""Writes the embedded dynamic scene data/dnerf_lego_100/ in D-NeRF's Blender
layout, from the 100 x 100 pack of D-NeRF's lego
(../shared/data/dnerf_tiny/tiny_dnerf_data.npz by default: images (81, 100,
100, 3) float32 on black, poses (81, 4, 4) camera-to-world in the Blender
convention, times (81,) in [0, 1], focal 138.89).

The pack's splits are the index ranges where time restarts at 0 (0-49
train, 50-60 val, 61-80 test). Each split becomes transforms_<split>.json
(camera_angle_x = 2 atan(W / 2 / focal), which gives the loader back the
focal length, and per frame file_path, time and transform_matrix) and
8-bit RGB PNGs <split>/r_<i>.png (no alpha: the images are already on
black, so configs use white_bkgd=False).

  python scripts/make_embedded_dnerf.py [--src NPZ] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import imageio.v3 as iio
import numpy as np


def split_ranges(times: np.ndarray) -> list[tuple[int, int]]:
  """[start, end) of each run of frames; a run starts where time is 0."""
  starts = [i for i, t in enumerate(times) if t == 0.0]
  if not starts or starts[0] != 0:
    raise SystemExit("--src: the first frame's time is not 0; cannot find "
                     "the splits")
  return list(zip(starts, starts[1:] + [len(times)]))


def main(argv=None) -> int:
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--src", default=os.path.join(
      repo, "..", "shared", "data", "dnerf_tiny", "tiny_dnerf_data.npz"))
  parser.add_argument("--out", default=os.path.join(repo, "data",
                                                    "dnerf_lego_100"))
  args = parser.parse_args(argv)
  if not os.path.isfile(args.src):
    raise SystemExit(f"--src: {args.src} not found")
  data = np.load(args.src)
  images, poses, times = data["images"], data["poses"], data["times"]
  focal = float(data["focal"])
  ranges = split_ranges(times)
  if len(ranges) != 3:
    raise SystemExit(f"--src: expected 3 runs of time (train, val, test), "
                     f"found {len(ranges)}")
  width = images.shape[2]
  angle = 2 * math.atan(0.5 * width / focal)
  for split, (start, end) in zip(("train", "val", "test"), ranges):
    os.makedirs(os.path.join(args.out, split), exist_ok=True)
    frames = []
    for j, i in enumerate(range(start, end)):
      name = f"r_{j:03d}"
      rgb = np.round(np.clip(images[i], 0, 1) * 255).astype(np.uint8)
      iio.imwrite(os.path.join(args.out, split, name + ".png"), rgb,
                  plugin="pillow", extension=".png", optimize=True)
      frames.append({"file_path": f"./{split}/{name}",
                     "time": round(float(times[i]), 8),
                     "transform_matrix": np.asarray(
                         poses[i], np.float64).round(8).tolist()})
    with open(os.path.join(args.out, f"transforms_{split}.json"), "w") as f:
      json.dump({"camera_angle_x": angle, "frames": frames}, f, indent=1)
    print(f"{split}: {end - start} frames")
  return 0


if __name__ == "__main__":
  sys.exit(main())
