"""Scores of evaluated runs on a relighting set, by the kind of light of
each test view (point lights elsewhere, environments): relit PSNR and
SSIM, and the albedo PSNR and normal error where the method renders them
(eval.py's metrics.json of each run; the lights from the data's
transforms_test.json).

  python bench/relight_table.py --data data/relight_100 \\
      RUN_DIR/eval_test_STEP [...]

Prints one markdown row per run and kind of light.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def light_kinds(data_dir: str) -> dict:
  """{image name: 'point' | 'environment' | 'collocated'}."""
  with open(os.path.join(data_dir, "transforms_test.json")) as f:
    frames = json.load(f)["frames"]
  kinds = {}
  for frame in frames:
    name = os.path.basename(frame["file_path"])
    types = {light["type"] for light in frame.get("lights", [])}
    kinds[name] = ("environment" if "environment" in types else
                   "collocated" if "collocated" in types else "point")
  return kinds


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data", required=True)
  parser.add_argument("evals", nargs="+")
  args = parser.parse_args(argv)
  try:
    kinds = light_kinds(args.data)
  except (OSError, KeyError, ValueError) as e:
    print(f"error: --data: {e}", file=sys.stderr)
    return 1
  print("| run | lights | views | PSNR | SSIM | albedo PSNR | normal error "
        "(deg) |")
  print("|---|---|---|---|---|---|---|")
  for folder in args.evals:
    path = os.path.join(folder, "metrics.json")
    try:
      with open(path) as f:
        images = json.load(f)["images"]
    except (OSError, KeyError, ValueError) as e:
      print(f"error: {path}: {e}", file=sys.stderr)
      return 1
    for kind in ("point", "environment", "collocated"):
      rows = [r for r in images if kinds.get(r["name"]) == kind]
      if not rows:
        continue
      mean = lambda k: (f"{np.mean([r[k] for r in rows]):.2f}"
                        if all(k in r for r in rows) else "-")
      print(f"| {folder} | {kind} | {len(rows)} | {mean('psnr')} | "
            f"{mean('ssim')} | {mean('albedo_psnr')} | "
            f"{mean('normal_deg')} |")
  return 0


if __name__ == "__main__":
  sys.exit(main())
