"""NerfingMVS's depth prior (Wei et al., ICCV 2021), fitted offline.

NerfingMVS adapts a pretrained monocular depth network to the scene's SfM
sparse depths, checks each view's adapted depth map against its
neighbours' (multi-view consistency: a per-pixel relative error), and lets
NeRF sample each ray only in [D (1 - e), D (1 + e)], D the prior's depth and
e the error clamped to [error_min, error_max] (the authors' code: 0.05 and
0.15, top-4 neighbours). With no pretrained weights here, the prior is the
sparse depths themselves, interpolated per training view (piecewise linear
in disparity over their Delaunay triangulation, nearest outside it): the
consistency error then marks where that interpolation is wrong (occlusion
edges, thin structures) and widens the range there, which is what the paper
relies on to correct its network's mistakes.

Everything here is numpy on the host, at data-loading time: the ranges go
into the rays' per-ray near/far (`Dataset.ray_bounds`), so every backbone
and sampler samples there without knowing. Views of other splits (held-out
views) get the prior of their nearest training view (the authors' choice of
neighbour: rotation and translation ranks), warped into the view (z-buffered
splat; cracks filled from the nearest warped pixel with the widest range),
and its consistency error against the training views.

Sparse depth of a point in a view: its depth along the camera axis, only in
the views of its COLMAP track (a point that projects into a view where it
is occluded is not a depth of that view). The COLMAP model's frame is
mapped onto the dataset's by the similarity between the two sets of camera
centres (Umeyama), so any loader's normalisation (LLFF's recentring and
scale, the capture loaders') is followed.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from typing import Optional

import ml_collections
import numpy as np
from scipy import interpolate, ndimage, spatial

from jaxnerf.core import cameras as cameras_lib, poses
from jaxnerf.data import colmap_model
from jaxnerf.errors import ConfigError, DatasetError

MODEL_DIRS = (os.path.join("sparse", "0"), "sparse",
              os.path.join("colmap", "sparse", "0"))


def fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # A COLMAP sparse model of the scene's images (process_data.py's
  # colmap/sparse/0); "": the first of MODEL_DIRS under config.data_dir.
  c.depth_prior_model = ""
  # 1: a scene without a model is an error; 0: its rays keep the global
  # near/far (the plain sampler) and the depth term must be off.
  c.depth_prior_required = 1
  c.depth_prior_topk = 4  # neighbours averaged in the consistency error
  c.depth_prior_error_min = 0.05  # clamp of e: the narrowest half range
  c.depth_prior_error_max = 0.15  # the widest (and that of unknown pixels)
  # Weight of ((rendered depth - range centre) / half range)^2; 0: the
  # authors' code (ranges only).
  c.depth_loss_weight = 0.0
  return c


def check_fields(config) -> None:
  """Raises ConfigError naming the first out-of-range field."""
  def fail(field, rule):
    raise ConfigError(f"config.{field}: must be {rule}, got "
                      f"{config[field]!r}")
  if config.depth_prior_required not in (0, 1):
    fail("depth_prior_required", "0 or 1")
  if int(config.depth_prior_topk) != config.depth_prior_topk or (
      config.depth_prior_topk < 1):
    fail("depth_prior_topk", "a whole number >= 1")
  if not 0 <= config.depth_prior_error_min < 1:
    fail("depth_prior_error_min", "in [0, 1)")
  if not (config.depth_prior_error_min <= config.depth_prior_error_max
          < 1):
    fail("depth_prior_error_max", "in [depth_prior_error_min, 1)")
  if not config.depth_loss_weight >= 0:
    fail("depth_loss_weight", ">= 0")


def check(config) -> None:
  """Before any data is read: the fields, and the sparse model where one
  is required (DatasetError naming where it was looked for)."""
  check_fields(config)
  if config.depth_prior_required:
    find_model(config)
  elif config.depth_loss_weight > 0:
    try:
      find_model(config)
    except DatasetError:
      raise ConfigError("config.depth_loss_weight: the depth term needs a "
                        "depth prior, and this scene has no sparse model "
                        "(config.depth_prior_required is 0)") from None


# Geometry of the dataset's cameras (OpenGL: x right, y up, looking down
# -z; pixel centres at half-integers, as jaxnerf.core.cameras).


@dataclasses.dataclass(frozen=True)
class Pinhole:
  """One camera: camtoworld [3, 4], focal lengths and principal point in
  pixels, size. Distortion is ignored (it moves pixels, not depths)."""

  camtoworld: np.ndarray
  fx: float
  fy: float
  cx: float
  cy: float
  width: int
  height: int

  @classmethod
  def of(cls, cameras, i: int) -> "Pinhole":
    return cls(np.asarray(cameras.camtoworlds[i], np.float64)[:3],
               float(cameras.fx[i]), float(cameras.fy[i]),
               float(cameras.cx[i]), float(cameras.cy[i]),
               int(cameras.width[i]), int(cameras.height[i]))


def project(cam: Pinhole, points: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
  """World points [..., 3] -> (pixel xy [..., 2], depth along the camera
  axis [...]); xy is meaningless where depth <= 0."""
  return cameras_lib.project_points(cam.camtoworld, cam.fx, cam.fy, cam.cx,
                                    cam.cy, points)


def backproject(cam: Pinhole, depth: np.ndarray) -> np.ndarray:
  """Depth [H, W] along the axis at the pixel centres -> world [H, W, 3]."""
  x, y = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
  local = np.stack([(x - cam.cx) / cam.fx, -(y - cam.cy) / cam.fy,
                    -np.ones_like(x)], -1) * depth[..., None]
  return local @ cam.camtoworld[:, :3].T + cam.camtoworld[:, 3]


def sparse_depths(cam: Pinhole, points: np.ndarray, in_track: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
  """The sparse depths of one view: points [P, 3] (dataset frame) whose
  track holds the view (in_track [P] bool), in front of it and inside it.

  Returns:
    (xy [K, 2] pixel coordinates, depth [K] along the camera axis).
  """
  xy, depth = project(cam, points[in_track])
  keep = ((depth > 0) & (xy[:, 0] >= 0) & (xy[:, 0] < cam.width) &
          (xy[:, 1] >= 0) & (xy[:, 1] < cam.height))
  return xy[keep], depth[keep]


def densify(xy: np.ndarray, depth: np.ndarray, width: int, height: int
            ) -> np.ndarray:
  """A dense [H, W] depth from sparse depths (xy [K, 2], depth [K] > 0):
  linear in disparity over their Delaunay triangles (depth edges are where
  disparity changes, and disparity is what a pinhole image interpolates
  linearly across a plane), nearest sparse depth outside the hull."""
  x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
  grid = np.stack([x.ravel(), y.ravel()], -1)
  disparity = 1.0 / depth
  out = interpolate.NearestNDInterpolator(xy, disparity)(grid)
  if len(xy) >= 3:
    try:
      linear = interpolate.LinearNDInterpolator(xy, disparity)(grid)
      out = np.where(np.isfinite(linear), linear, out)
    except spatial.QhullError:  # collinear points: nearest only
      pass
  return (1.0 / out).reshape(height, width)


def consistency_error(cam: Pinhole, depth: np.ndarray, others: list,
                      other_depths: list, topk: int) -> np.ndarray:
  """NerfingMVS's per-pixel error of a view's depth map [H, W]: its pixels
  back-projected and projected into each other view; the relative error
  |D_j(x_j) - z_j| / z_j of the other view's depth D_j (bilinear) at the
  projection x_j against the projected depth z_j (1 where x_j falls outside
  view j or behind it, as the authors' zero padding gives); the mean of the
  `topk` smallest over the other views.

  Args:
    others: Pinhole cameras of the other views; other_depths: their [H_j,
      W_j] depth maps. The view itself is left out by the caller: its own
      error is 0 and would shrink every training view's mean (the
      authors' code keeps it among the k; held-out views have no self).
  Returns:
    [H, W] float64 >= 0 (the widest error, 1, if there is no other view).
  """
  if not others:
    return np.ones_like(depth, np.float64)
  points = backproject(cam, depth)
  errors = []
  for other, d in zip(others, other_depths):
    xy, z = project(other, points)
    inside = ((z > 0) & (xy[..., 0] >= 0) & (xy[..., 0] <= other.width) &
              (xy[..., 1] >= 0) & (xy[..., 1] <= other.height))
    sampled = ndimage.map_coordinates(
        d, [xy[..., 1] - 0.5, xy[..., 0] - 0.5], order=1, mode="nearest")
    err = np.abs(sampled - z) / np.where(z > 0, z, 1.0)
    errors.append(np.where(inside, err, 1.0))
  errors = np.sort(np.stack(errors), axis=0)
  return errors[:min(topk, len(errors))].mean(0)


def depth_range(depth: np.ndarray, error: np.ndarray, error_min: float,
                error_max: float) -> tuple[np.ndarray, np.ndarray]:
  """NerfingMVS's sampling range: [D (1 - e), D (1 + e)], e the error
  clamped to [error_min, error_max]."""
  e = np.clip(error, error_min, error_max)
  return depth * (1 - e), depth * (1 + e)


def ndc_t(cam: Pinhole, depth: np.ndarray) -> np.ndarray:
  """The NDC ray parameter t in [0, 1] of the points at `depth` [H, W]
  along the camera axis on the pixels' rays (jaxnerf.core.cameras.
  convert_to_ndc with near plane 1: t = 1 + 1 / z, z the point's world z)."""
  x, y = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
  dirs = np.stack([(x - cam.cx) / cam.fx, -(y - cam.cy) / cam.fy,
                   -np.ones_like(x)], -1)
  z = cam.camtoworld[2, 3] + depth * (dirs @ cam.camtoworld[2, :3])
  return np.clip(1.0 + 1.0 / np.minimum(z, -1.0), 0.0, 1.0)


def ray_bounds(cam: Pinhole, depth: np.ndarray, error: np.ndarray,
               near: float, far: float, ndc: bool, error_min: float,
               error_max: float) -> np.ndarray:
  """[H, W, 2] float32 per-ray (near, far) in the rays' t: the prior's
  range inside the camera's [near, far] ([0, 1] in NDC); the camera's own
  bounds where the depth is unknown (not finite or <= 0) or the range
  misses [near, far]."""
  lo, hi = depth_range(depth, error, error_min, error_max)
  if ndc:
    lo, hi = ndc_t(cam, lo), ndc_t(cam, hi)
  lo, hi = np.maximum(lo, near), np.minimum(hi, far)
  known = np.isfinite(depth) & (depth > 0) & (hi > lo)
  return np.stack([np.where(known, lo, near), np.where(known, hi, far)],
                  -1).astype(np.float32)


def nearest_view(cam: Pinhole, train: list) -> int:
  """The training view NerfingMVS warps a held-out view's prior from: the
  least 100 (angle rank + distance rank) + angle rank (the authors'
  cal_neighbor_idx), over the angle between the rotations and the distance
  between the centres."""
  r = cam.camtoworld[:, :3]
  angles = np.array([np.arccos(np.clip((np.trace(r.T @ t.camtoworld[:, :3])
                                        - 1) / 2, -1, 1)) for t in train])
  dists = np.array([np.linalg.norm(cam.camtoworld[:, 3] - t.camtoworld[:, 3])
                    for t in train])
  rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable")
  score = 100 * (rank(angles) + rank(dists)) + rank(angles)
  return int(np.argmin(score))


def warp_depth(source: Pinhole, depth: np.ndarray, target: Pinhole
               ) -> np.ndarray:
  """The source view's depth [H_s, W_s] splatted into the target view
  (nearest surface per pixel); 0 where nothing lands."""
  xy, z = project(target, backproject(source, depth).reshape(-1, 3))
  col, row = np.floor(xy[:, 0]).astype(np.int64), np.floor(
      xy[:, 1]).astype(np.int64)
  ok = ((z > 0) & (col >= 0) & (col < target.width) & (row >= 0) &
        (row < target.height))
  out = np.full(target.width * target.height, np.inf)
  np.minimum.at(out, row[ok] * target.width + col[ok], z[ok])
  out = out.reshape(target.height, target.width)
  return np.where(np.isfinite(out), out, 0.0)


def fill_holes(depth: np.ndarray) -> np.ndarray:
  """Pixels of `depth` that are 0 take their nearest non-zero pixel's
  value (all 0 stays all 0)."""
  holes = depth <= 0
  if not holes.any() or holes.all():
    return depth
  idx = ndimage.distance_transform_edt(holes, return_distances=False,
                                       return_indices=True)
  return depth[tuple(idx)]


# The scene's priors: read the model, fit the training views, warp to others.


@dataclasses.dataclass
class TrainPriors:
  """The training views' priors: names, cameras (Pinhole), depth and error
  maps [H, W], and how many sparse depths each view had."""

  names: list
  cameras: list
  depths: list
  errors: list
  counts: list


def find_model(config) -> str:
  """The COLMAP model folder: config.depth_prior_model, else the first of
  MODEL_DIRS under config.data_dir.

  Raises:
    DatasetError: no model there (naming the folder and points3D file).
  """
  if config.depth_prior_model:
    folder = config.depth_prior_model
    if colmap_model.find_model(folder) != folder:
      raise DatasetError(
          f"config.depth_prior_model: {os.path.join(folder, 'points3D.bin')}"
          " (or .txt): no COLMAP sparse model there (run process_data.py on "
          "the images; its colmap/sparse/0 is one)")
    return folder
  for sub in MODEL_DIRS:
    folder = os.path.join(config.data_dir, sub)
    if colmap_model.find_model(folder) == folder:
      return folder
  raise DatasetError(
      f"config.depth_prior_model: no sparse points for the depth prior: "
      f"{os.path.join(config.data_dir, MODEL_DIRS[0], 'points3D.bin')} not "
      f"found (nor in {', '.join(MODEL_DIRS[1:])}); run process_data.py on "
      "the images and set config.depth_prior_model to its colmap/sparse/0")


def model_points(model, folder: str) -> tuple[np.ndarray, list]:
  """(points [P, 3], per image id the [P] bool of points in its track).

  Raises:
    DatasetError: no points, or a point with an empty track.
  """
  points_file = os.path.join(folder, "points3D.bin")
  if not os.path.isfile(points_file):
    points_file = os.path.join(folder, "points3D.txt")
  if not len(model.points):
    raise DatasetError(f"{points_file}: has no sparse points; the depth "
                       "prior needs some")
  seen = {image_id: np.zeros(len(model.points), bool)
          for image_id in model.images}
  for p, track in enumerate(model.tracks):
    if len(track) == 0:
      raise DatasetError(f"{points_file}: point {int(model.point_ids[p])} "
                         "has an empty track (seen by no image)")
    for image_id in np.asarray(track)[:, 0]:
      if int(image_id) in seen:
        seen[int(image_id)][p] = True
  return np.asarray(model.points, np.float64), seen


def stem(name: str) -> str:
  return os.path.splitext(os.path.basename(name))[0]


def fit_train_priors(config, train) -> TrainPriors:
  """The priors of the training split `train` (a Dataset with the true
  poses) from the config's COLMAP model.

  Raises:
    DatasetError: no model, no points, an empty track, a training image the
      model lacks, fewer than 3 of them to align the frames, or a view with
      no sparse depth.
  """
  folder = find_model(config)
  model = colmap_model.read_model(folder)
  points, seen = model_points(model, folder)
  by_stem = {stem(im.name): im for im in model.images.values()}
  missing = [n for n in train.names if stem(n) not in by_stem]
  if missing:
    raise DatasetError(f"{folder}: has no image named {missing[0]!r} (of "
                       f"{len(missing)} training images it lacks); the depth "
                       "prior needs every training image registered")
  cams = [Pinhole.of(train.cameras, i) for i in range(len(train.names))]
  if len(cams) < 3:
    raise DatasetError(f"{folder}: {len(cams)} training images; aligning "
                       "the model with the dataset's frame needs 3")
  images = [by_stem[stem(n)] for n in train.names]
  scale, rotation, shift = poses.umeyama(
      np.stack([im.center for im in images]),
      np.stack([c.camtoworld[:, 3] for c in cams]), with_scale=True)
  points = scale * points @ rotation.T + shift
  depths, counts = [], []
  for name, cam, im in zip(train.names, cams, images):
    xy, z = sparse_depths(cam, points, seen[im.id])
    if not len(z):
      raise DatasetError(f"{folder}: no sparse point of image {im.name!r} "
                         "lies inside it in front of the camera")
    depths.append(densify(xy, z, cam.width, cam.height))
    counts.append(len(z))
  errors = [consistency_error(
      cams[i], depths[i], cams[:i] + cams[i + 1:],
      depths[:i] + depths[i + 1:], int(config.depth_prior_topk))
            for i in range(len(cams))]
  return TrainPriors(list(train.names), cams, depths, errors, counts)


_CACHE: dict = {}


def train_priors(config) -> Optional[TrainPriors]:
  """The training views' priors of the config's scene (cached per scene:
  eval.py and the trainer load several splits); None where there is no
  model and config.depth_prior_required is 0."""
  key = (config.dataset_type, config.data_dir, config.depth_prior_model,
         int(config.depth_prior_topk), int(config.factor),
         repr(sorted((k, repr(v)) for k, v in config.items()
                     if k in ("llffhold", "spherify", "llff_ndc",
                              "orientation_method", "center_method",
                              "auto_scale_poses", "scene_scale"))))
  if key not in _CACHE:
    try:
      find_model(config)
    except DatasetError:
      if config.depth_prior_required:
        raise
      _CACHE[key] = None
      return None
    loader = importlib.import_module(
        f"jaxnerf.data.loaders.{config.dataset_type}")
    start = time.time()
    priors = fit_train_priors(config, loader.load(config, "train"))
    error = np.concatenate([e.ravel() for e in priors.errors])
    print(f"depth prior: {len(priors.names)} training views, "
          f"{int(np.median(priors.counts))} sparse depths a view (median), "
          f"consistency error median {np.median(error):.3f}, "
          f"{np.mean(error > config.depth_prior_error_max):.0%} of pixels "
          f"at the widest range; {time.time() - start:.0f} s")
    _CACHE[key] = priors
  return _CACHE[key]


def attach(config, split: str, dataset):
  """`dataset` with `ray_bounds`: NerfingMVS's range for every pixel of
  every view (training views: their own prior; others: the nearest
  training view's, warped). Unchanged where the scene has no model and
  config.depth_prior_required is 0."""
  check_fields(config)
  priors = train_priors(config)
  if priors is None:
    return dataset
  position = {n: i for i, n in enumerate(priors.names)}
  emin = float(config.depth_prior_error_min)
  emax = float(config.depth_prior_error_max)
  bounds = []
  for i, name in enumerate(dataset.names):
    cam = Pinhole.of(dataset.cameras, i)
    if split == "train" and name in position:
      k = position[name]
      depth, error = priors.depths[k], priors.errors[k]
    else:
      k = nearest_view(cam, priors.cameras)
      warped = warp_depth(priors.cameras[k], priors.depths[k], cam)
      depth = fill_holes(warped)
      error = consistency_error(cam, depth, priors.cameras, priors.depths,
                                int(config.depth_prior_topk))
      error = np.where(warped > 0, error, emax)
    bounds.append(ray_bounds(cam, depth, error,
                             float(dataset.cameras.near[i]),
                             float(dataset.cameras.far[i]), dataset.ndc,
                             emin, emax))
  return dataclasses.replace(dataset, ray_bounds=bounds)
