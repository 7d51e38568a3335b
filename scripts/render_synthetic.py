"""Renders one of the synthetic datasets (jaxnerf/synthetic/plans.py) with
Blender's Cycles on the CPU: RGBA views in our Blender layout with each
view's light, depth, normals, albedo, roughness, metallic, labels, optical
flow on paths, the environment maps and the scene's exact mesh.

Runs in the generator's own environment (requirements-blender.txt):

  .venv-blender/bin/python scripts/render_synthetic.py \\
      --dataset relight --out data/relight_100 [--size 100] [--seed 0]

--out must not exist; the folder appears complete or not at all.
--splits val renders one split of the plan (the plan, and so every other
split's views, drawn as in a full render): how a split is added to a
committed dataset without rendering the rest again.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from jaxnerf.synthetic import plans  # noqa: E402


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", required=True,
                      help=f"one of {', '.join(plans.NAMES)}")
  parser.add_argument("--out", required=True, help="a new folder")
  parser.add_argument("--size", type=int, default=100,
                      help="width and height in pixels")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--samples", type=int, default=64,
                      help="Cycles samples a pixel of the images")
  parser.add_argument("--views", type=int, default=None,
                      help="at most this many views a split (a quick look)")
  parser.add_argument("--threads", type=int, default=0,
                      help="Cycles threads (0: all cores)")
  parser.add_argument("--splits", default=None,
                      help="render only these splits (comma-separated; "
                           "default all): a split added to a committed "
                           "set, the others' views unchanged")
  args = parser.parse_args(argv)
  if args.dataset not in plans.NAMES:
    parser.exit(1, f"error: --dataset: unknown {args.dataset!r}; one of "
                   f"{', '.join(plans.NAMES)}\n")
  if os.path.lexists(args.out):
    parser.exit(1, f"error: --out: {args.out} exists; give a new folder\n")
  if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
    parser.exit(1, f"error: --out: the folder {os.path.dirname(args.out)!r}"
                   " does not exist\n")
  for flag, low in (("size", 8), ("samples", 1), ("views", 1),
                    ("threads", 0), ("seed", 0)):
    value = getattr(args, flag)
    if value is not None and value < low:
      parser.exit(1, f"error: --{flag}: must be at least {low}, got "
                     f"{value}\n")
  if args.splits is not None:
    known = plans.plan(args.dataset, args.seed, args.size, args.views)[
        "splits"]
    args.splits = args.splits.split(",")
    unknown = [s for s in args.splits if s not in known]
    if unknown or not args.splits:
      parser.exit(1, f"error: --splits: {args.dataset} has the splits "
                     f"{', '.join(known)}, not {', '.join(unknown) or '()'}"
                     "\n")
  return args


def main(argv=None) -> int:
  args = parse(sys.argv[1:] if argv is None else argv)
  try:
    import bpy  # noqa: F401  pylint: disable=import-outside-toplevel
  except ImportError:
    print("error: Blender's Python module (bpy) is not installed in "
          f"{sys.executable}; run this script with the generator's "
          "environment (see requirements-blender.txt)", file=sys.stderr)
    return 1
  from blender import dataset  # pylint: disable=import-outside-toplevel
  plan = plans.plan(args.dataset, args.seed, args.size, args.views)
  command = " ".join(["python", "scripts/render_synthetic.py"] +
                     [shlex.quote(a) for a in (sys.argv[1:] if argv is None
                                               else argv)])
  cost = dataset.render(plan, args.out, args.samples, command,
                         args.threads, log=lambda m: None, only=args.splits)
  print(f"{args.out}: {cost['views']} views in {cost['seconds']} s "
        f"({cost['seconds_per_view']} s a view), {cost['megabytes']} MB")
  return 0


if __name__ == "__main__":
  sys.exit(main())
