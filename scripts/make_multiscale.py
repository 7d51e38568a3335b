"""Converts a Blender scene into mip-NeRF's multiscale layout (4 scales).

  python scripts/make_multiscale.py ../shared/data/nerf_synthetic/lego \
      data/nerf_multiscale/lego
  python scripts/make_multiscale.py data/lego_100 /tmp/lego_100_multiscale

See jaxnerf/data/loaders/multiscale.py for the layout and the procedure.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxnerf.data.loaders.multiscale import make_multiscale


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("blender_dir")
  parser.add_argument("out_dir")
  parser.add_argument("--splits", default="train,val,test",
                      help="comma-separated; missing splits are skipped")
  parser.add_argument("--num_scales", type=int, default=4)
  parser.add_argument("--max_images", type=int, default=None,
                      help="keep only the first views of each split")
  args = parser.parse_args()
  meta = make_multiscale(args.blender_dir, args.out_dir,
                         args.splits.split(","), args.num_scales,
                         max_images=args.max_images)
  for split, entry in meta.items():
    sizes = sorted({(w, h) for w, h in zip(entry["width"], entry["height"])},
                   reverse=True)
    print(f"{split}: {len(entry['file_path'])} images, sizes "
          + ", ".join(f"{w}x{h}" for w, h in sizes))
  print(f"wrote {os.path.join(args.out_dir, 'metadata.json')}")


if __name__ == "__main__":
  main()
