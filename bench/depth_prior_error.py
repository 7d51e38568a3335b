"""NerfingMVS's depth prior against ground-truth depth: for each view of
config.eval_split with depth, the centre of every pixel's prior range (the
rays' near/far that jaxnerf/data/depth_prior.py sets) against the true
depth, where there is one; and how often the true depth lies inside the
range (where it does not, the field cannot put the surface there).

  python bench/depth_prior_error.py --config=nerfingmvs_llff \\
      --config.dataset_type=blender --config.data_dir=data/lego_100 ...

(docs/BENCHMARKS.md row NM10). Metric rays only: in NDC the centre of a
range is not the prior's depth.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from jaxnerf.engine import cli


def flags():
  return cli.FlagParser(prog="bench/depth_prior_error.py",
                        description=__doc__.split("\n")[0])


def range_errors(bounds: list, depths: list) -> dict:
  """MAE and RMSE of the ranges' centres against the depths [H, W] (0: no
  truth), and the share of true depths inside [near, far]."""
  err, inside = [], []
  for b, d in zip(bounds, depths):
    valid = d > 0
    centre = 0.5 * (b[..., 0] + b[..., 1])[valid]
    err.append(centre - d[valid])
    inside.append((d[valid] >= b[..., 0][valid]) &
                  (d[valid] <= b[..., 1][valid]))
  err, inside = np.concatenate(err), np.concatenate(inside)
  return {"prior_depth_mae": float(np.mean(np.abs(err))),
          "prior_depth_rmse": float(np.sqrt(np.mean(err**2))),
          "truth_inside_range": float(np.mean(inside)),
          "pixels": int(err.size)}


def job(config, args):
  del args
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.errors import ConfigError, DatasetError
  if "depth_prior_topk" not in config:
    raise ConfigError(f"config.method: {config.method} has no depth prior "
                      "(use nerfingmvs)")
  data = load_dataset(config, config.eval_split)
  if data.depths is None:
    raise DatasetError(f"config.data_dir: {config.data_dir}: the "
                       f"{config.eval_split} split carries no depth maps")
  if data.ndc:
    raise ConfigError("config.dataset_type: NDC rays; the ranges' centres "
                      "are depths on metric rays only")
  if data.ray_bounds is None:
    raise DatasetError(f"config.data_dir: {config.data_dir}: no depth "
                       "prior (no sparse model)")
  scores = range_errors(data.ray_bounds, data.depths)
  scores["views"] = len(data)
  print(json.dumps(scores, indent=1), flush=True)


def main(argv=None) -> int:
  return cli.main("bench/depth_prior_error.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
