"""Geometry metrics: Chamfer distance between point sets (a mesh's surface
samples against ground-truth points), points from depth maps, and surface
samples of a triangle mesh.

Chamfer as DTU's and NeuS's evaluation: accuracy is the mean distance from
each predicted point to the nearest true one (is what was made really
there?), completeness the mean distance from each true point to the nearest
predicted one (is everything there covered?), `chamfer` their mean. Both
sets are cropped to the scene box first, so a mesh is not charged for what
the box leaves out of the ground truth. Nearest neighbours by
scipy.spatial.cKDTree.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from jaxnerf.core import cameras


def in_box(points: np.ndarray, bound: float) -> np.ndarray:
  """points [K, 3] -> [K] bool, inside [-bound, bound]^3."""
  return np.all(np.abs(points) <= bound, axis=-1)


def chamfer(pred: np.ndarray, true: np.ndarray,
            bound: Optional[float] = None,
            judged: Optional[np.ndarray] = None) -> dict[str, float]:
  """Accuracy, completeness and their mean (scene units) of points pred
  [P, 3] against true [Q, 3], each cropped to [-bound, bound]^3 (None: not
  cropped).

  judged: optional [P] bool, the predicted points accuracy is measured on
  (e.g. `seen`); completeness reads every predicted point.
  Raises:
    ValueError: a set is empty (after the crop).
  """
  from scipy.spatial import cKDTree
  pred = np.asarray(pred, np.float64).reshape(-1, 3)
  true = np.asarray(true, np.float64).reshape(-1, 3)
  judged = (np.ones(len(pred), bool) if judged is None
            else np.asarray(judged, bool).reshape(-1))
  if bound is not None:
    keep = in_box(pred, bound)
    pred, judged, true = pred[keep], judged[keep], true[in_box(true, bound)]
  for name, points in (("predicted", pred), ("true", true),
                       ("judged predicted", pred[judged])):
    if not len(points):
      raise ValueError(f"no {name} point inside the scene box")
  accuracy = cKDTree(true).query(pred[judged], workers=-1)[0].mean()
  completeness = cKDTree(pred).query(true, workers=-1)[0].mean()
  return {"accuracy": float(accuracy), "completeness": float(completeness),
          "chamfer": float(0.5 * (accuracy + completeness))}


def depth_points(origins: np.ndarray, directions: np.ndarray,
                 depth: np.ndarray) -> np.ndarray:
  """The points [K, 3] where rays hit the surface: origin + depth
  direction, for the rays with depth > 0 (0: no surface).

  Args:
    origins, directions: [..., 3], directions of unit camera z (so depth
      is camera z, as the loaders' ground-truth depth).
    depth: [...].
  """
  depth = np.asarray(depth, np.float64).reshape(-1)
  keep = depth > 0
  o = np.asarray(origins, np.float64).reshape(-1, 3)[keep]
  d = np.asarray(directions, np.float64).reshape(-1, 3)[keep]
  return o + depth[keep, None] * d


def seen(points: np.ndarray, camtoworlds: np.ndarray, fx, fy, cx, cy,
         depths: list, tolerance: float) -> np.ndarray:
  """[K] bool: which points [K, 3] a view with ground-truth depth could
  have judged: inside its image and not hidden behind its true surface,
  i.e. camera z <= the true depth at that pixel + `tolerance`, or the
  pixel has no surface (depth 0: anything there is seen against the
  background). Accuracy against points back-projected from depth charges
  a mesh only for such points (DTU's observation mask, from the views
  themselves): a perfect mesh's unseen underside and insides lie farther
  from any depth point than their true error.

  Args:
    camtoworlds: [C, 3, 4] (OpenGL: the camera looks down -z); fx, fy,
      cx, cy: [C] pinhole intrinsics, pixel (i, j) centred at (i + 0.5,
      j + 0.5); depths: C maps [H, W] of camera z (0: no surface).
  """
  points = np.asarray(points, np.float64).reshape(-1, 3)
  out = np.zeros(len(points), bool)
  for c, depth in enumerate(depths):
    xy, z = cameras.project_points(np.asarray(camtoworlds[c], np.float64),
                                   fx[c], fy[c], cx[c], cy[c], points)
    front = z > 1e-9
    u, v = np.floor(xy).astype(np.int64).T
    h, w = depth.shape
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    truth = np.asarray(depth)[np.clip(v, 0, h - 1), np.clip(u, 0, w - 1)]
    out |= inside & ((truth <= 0) | (z <= truth + tolerance))
  return out


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int,
                   seed: int = 0) -> np.ndarray:
  """count points [count, 3] uniformly on a triangle mesh's surface
  (area-weighted), reproducibly for a seed."""
  import trimesh
  mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
  points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
  return np.asarray(points, np.float64)


def quantisation_floor(step: float) -> dict[str, float]:
  """The depth error of rounding to a grid of `step`, for a depth spread
  over many steps (uniform rounding error in [-step / 2, step / 2]): MAE
  step / 4, RMSE step / sqrt(12)."""
  return {"depth_mae": step / 4.0, "depth_rmse": step / np.sqrt(12.0)}
