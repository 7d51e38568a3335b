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

import json
import os
import sys

import numpy as np

from jaxnerf.engine import cli
from jaxnerf.errors import DatasetError


def light_kinds(data_dir: str) -> dict:
  """{image name: 'point' | 'environment' | 'collocated'}.

  Raises:
    DatasetError: no readable transforms_test.json in `data_dir`.
  """
  path = os.path.join(data_dir, "transforms_test.json")
  try:
    with open(path) as f:
      frames = json.load(f)["frames"]
  except (OSError, KeyError, ValueError) as e:
    raise DatasetError(f"--data: {path}: {e}") from None
  kinds = {}
  for frame in frames:
    name = os.path.basename(frame["file_path"])
    types = {light["type"] for light in frame.get("lights", [])}
    kinds[name] = ("environment" if "environment" in types else
                   "collocated" if "collocated" in types else "point")
  return kinds


def flags():
  p = cli.FlagParser(prog="bench/relight_table.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--data", required=True,
                 help="the relighting set the runs were evaluated on")
  p.add_argument("evals", nargs="+", help="eval.py output folders")
  return p


def job(args):
  kinds = light_kinds(args.data)
  tables = []
  for folder in args.evals:
    path = os.path.join(folder, "metrics.json")
    try:
      with open(path) as f:
        tables.append((folder, json.load(f)["images"]))
    except (OSError, KeyError, ValueError) as e:
      raise DatasetError(f"{path}: {e}") from None
  print("| run | lights | views | PSNR | SSIM | albedo PSNR | normal error "
        "(deg) |")
  print("|---|---|---|---|---|---|---|")
  for folder, images in tables:
    for kind in ("point", "environment", "collocated"):
      rows = [r for r in images if kinds.get(r["name"]) == kind]
      if not rows:
        continue
      mean = lambda k: (f"{np.mean([r[k] for r in rows]):.2f}"
                        if all(k in r for r in rows) else "-")
      print(f"| {folder} | {kind} | {len(rows)} | {mean('psnr')} | "
            f"{mean('ssim')} | {mean('albedo_psnr')} | "
            f"{mean('normal_deg')} |")


def main(argv=None) -> int:
  return cli.main("bench/relight_table.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
