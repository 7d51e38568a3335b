"""images_<factor>/ copies next to a folder of photos, as process_data.py
writes them, for a scene posed elsewhere (a COLMAP model, NeRF-W's
phototourism scenes) that a config reads at config.factor.

  python scripts/downscale_images.py data/liberty40/images --factors 4 8

A copy folder that exists is kept; the photos are only read. Photos may
differ in size (each is scaled by the factor; intrinsics scale with it).
"""

from __future__ import annotations

import os
import sys

from jaxnerf.posing import capture
from jaxnerf.engine import cli
from jaxnerf.errors import DatasetError

EXTENSIONS = (".jpg", ".jpeg", ".png")


def main(argv):
  p = cli.FlagParser(prog="downscale_images.py",
                     description="images_<factor>/ copies of photos")
  p.add_argument("images", help="the folder of photos")
  p.add_argument("--factors", type=int, nargs="+", default=[2, 4, 8])
  args = p.parse_args(argv[1:])
  if not os.path.isdir(args.images):
    raise DatasetError(f"{args.images}: not a folder")
  if any(f < 2 for f in args.factors):
    raise DatasetError(f"--factors: each must be 2 or more, got "
                       f"{args.factors}")
  names = sorted(f for f in os.listdir(args.images)
                 if f.lower().endswith(EXTENSIONS) and not f.startswith("."))
  if not names:
    raise DatasetError(f"{args.images}: no PNG or JPG photos")
  parent = os.path.dirname(os.path.abspath(args.images))
  base = os.path.basename(os.path.abspath(args.images))
  todo = [f for f in args.factors
          if not os.path.isdir(os.path.join(parent, f"{base}_{f}"))]
  log = capture.Log(stream=sys.stdout)
  if todo:
    capture.write_downscaled(args.images, names, todo, log)
  log(f"{len(names)} photos; {', '.join(f'{base}_{f}' for f in args.factors)}"
      f" in {parent}")


if __name__ == "__main__":
  sys.exit(cli.guarded(main, sys.argv))
