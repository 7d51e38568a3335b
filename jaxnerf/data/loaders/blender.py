"""Blender-synthetic scenes: transforms_{split}.json plus RGBA PNGs."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from jaxnerf.core import cameras, lighting
from jaxnerf.data.dataset import (Dataset, brief, check_same_size, matrix,
                                  number, read_json)
from jaxnerf.data import labels as label_lib
from jaxnerf.errors import DatasetError
from jaxnerf.data.images import read_image
from jaxnerf.synthetic import ground_truth


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
  """Box-filters [H, W, C] by an integer factor (crops the remainder)."""
  if factor <= 1:
    return image
  h, w = image.shape[0] // factor, image.shape[1] // factor
  image = image[:h * factor, :w * factor]
  return image.reshape(h, factor, w, factor, -1).mean(axis=(1, 3))


def composite_rgba(rgba: np.ndarray, white_bkgd: bool) -> np.ndarray:
  """[H, W, 4] straight-alpha RGBA in [0, 1] to [H, W, 3]."""
  if rgba.shape[-1] == 3:
    return rgba
  rgb, alpha = rgba[..., :3], rgba[..., 3:]
  return rgb * alpha + (1.0 - alpha) if white_bkgd else rgb * alpha


def read_transforms(path: str) -> dict:
  """Reads and validates a transforms_{split}.json: camera_angle_x in
  (0, pi) and frames with a file_path and a finite 4x4 (or 3x4)
  transform_matrix.

  Raises:
    DatasetError: a missing, unreadable or malformed file, or a missing or
      bad field (named, with the frame's index).
  """
  meta = read_json(path)
  if not isinstance(meta, dict):
    raise DatasetError(f"{path}: expected a JSON object at the top level")
  if "camera_angle_x" not in meta:
    raise DatasetError(f"{path}: missing field 'camera_angle_x'")
  angle = number(meta["camera_angle_x"], path, "camera_angle_x", 0.0,
                 strict=True)
  if not angle < np.pi:
    raise DatasetError(f"{path}: camera_angle_x must be below pi (a field of"
                       f" view in radians), got {angle:g}")
  if not isinstance(meta.get("frames"), list) or not meta["frames"]:
    raise DatasetError(f"{path}: missing or empty field 'frames'")
  for i, frame in enumerate(meta["frames"]):
    if not isinstance(frame, dict):
      raise DatasetError(f"{path}: frames[{i}] is not an object")
    for field in ("file_path", "transform_matrix"):
      if field not in frame:
        raise DatasetError(f"{path}: frames[{i}] lacks field '{field}'")
    if not isinstance(frame["file_path"], str) or not frame["file_path"]:
      raise DatasetError(f"{path}: frames[{i}].file_path must be a file name,"
                         f" got {brief(frame['file_path'])}")
    matrix(frame["transform_matrix"], path, f"frames[{i}].transform_matrix",
           ((4, 4), (3, 4)))
  return meta


# The NeRF-synthetic test depths (`test/r_*_depth_0001.png`, 8-bit, channel
# 0; the other channels repeat it) store v = 1 - d / 8, 0 for background,
# where d is Cycles' Depth pass. Before Blender 3.0 (the data was rendered
# with 2.82) that pass is the Euclidean distance from the camera centre to
# the surface, i.e. along the ray, not camera z (Cycles' camera_distance()).
# Nearer is brighter; a remap clamped at 0 also explains the background
# (depth 1e10) being 0. This is *not* the Map Value node of NeRF's published
# 360_view.py (offset -0.7, size 1.4, min 0, no invert), which would put
# every lego surface about 1 unit from cameras 4 units from the origin. The
# constants come from multi-view consistency on lego's test views: view A's
# depth back-projected and reprojected into view B agrees with B's depth
# best, over scale and offset, at d = 8.00 (1 - v) + 0.00 (to about 0.01),
# and clearly worse read as camera z. The numbers are in the docstring of
# tests/test_blender.py.
DEPTH_PNG_OFFSET = 0.0
DEPTH_PNG_SCALE = 8.0


def depth_png_to_distance(depth_png: np.ndarray) -> np.ndarray:
  """Blender depth PNG (channel 0, in [0, 1]) to distance along the ray.

  distance = DEPTH_PNG_OFFSET + (1 - v) * DEPTH_PNG_SCALE = 8 (1 - v): the
  Euclidean distance from the camera centre to the surface (not camera z;
  see `distance_to_z_depth`). Pixels with v = 0 have no surface and map to 0.
  """
  v = np.asarray(depth_png, np.float64)
  valid = v > 0
  return np.where(valid, DEPTH_PNG_OFFSET + (1.0 - v) * DEPTH_PNG_SCALE, 0.0)


def distance_to_png(distance: np.ndarray) -> np.ndarray:
  """Inverse of `depth_png_to_distance`: ray distance (0 = none) to v."""
  distance = np.asarray(distance, np.float64)
  v = 1.0 - (distance - DEPTH_PNG_OFFSET) / DEPTH_PNG_SCALE
  return np.where(distance > 0, np.clip(v, 0.0, 1.0), 0.0)


def distance_to_z_depth(distance: np.ndarray, focal: float) -> np.ndarray:
  """[H, W] distance along each pixel-centre ray to depth along camera -z.

  The ray through pixel centre (x, y) has camera direction
  ((x - W/2) / f, -(y - H/2) / f, -1) (`cameras.camera_directions`), so z is
  the distance divided by that vector's length; 0 (no surface) stays 0.
  """
  h, w = distance.shape
  norm = np.linalg.norm(cameras.camera_directions(h, w, focal), axis=-1)
  return distance / norm


def z_depth_to_distance(depth: np.ndarray, focal: float) -> np.ndarray:
  """Inverse of `distance_to_z_depth`."""
  h, w = depth.shape
  return depth * np.linalg.norm(cameras.camera_directions(h, w, focal),
                                axis=-1)


def downsample_depth(depth: np.ndarray, factor: int,
                     min_valid: float = 0.5) -> np.ndarray:
  """Box-filters [H, W] depth (0 = no surface) over valid pixels only.

  Averaging in the zeros of the background would pull silhouette pixels
  towards the camera, so each factor x factor block averages its valid
  pixels, and is valid itself (else 0) if at least `min_valid` of them are.
  """
  if factor <= 1:
    return depth
  valid = (depth > 0).astype(np.float64)
  total = downsample(np.where(depth > 0, depth, 0.0)[..., None], factor)
  frac = downsample(valid[..., None], factor)
  mean = total / np.maximum(frac, 1e-12)
  return np.where(frac >= min_valid, mean, 0.0)[..., 0]


def read_ground_truth(path: str) -> dict:
  """A generated view's ground-truth maps (jaxnerf.synthetic)."""
  try:
    return ground_truth.read(path)
  except (OSError, ValueError) as e:
    raise DatasetError(f"{path}: not a readable ground-truth file ({e})"
                       ) from None


def material_extras(maps: list, factor: int) -> dict:
  """extras 'albedo' [H, W, 3], 'normal' [H, W, 3] (unit) and 'surface'
  [H, W] bool per image at the loaded resolution: a downsampled pixel is
  surface where every pixel of its block is."""
  out = {"albedo": [], "normal": [], "surface": []}
  for m in maps:
    hit = (m["index"] > 0).astype(np.float64)[..., None]
    out["surface"].append(downsample(hit, factor)[..., 0] > 1.0 - 1e-9)
    out["albedo"].append(downsample(m["albedo"].astype(np.float64),
                                    factor).astype(np.float32))
    n = downsample(m["normal"].astype(np.float64), factor)
    out["normal"].append((n / np.maximum(np.linalg.norm(
        n, axis=-1, keepdims=True), 1e-12)).astype(np.float32))
  return out


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  data_dir = config.data_dir
  if not os.path.isdir(data_dir):
    raise DatasetError(f"config.data_dir: {data_dir!r} is not a directory")
  path = os.path.join(data_dir, f"transforms_{split}.json")
  if not os.path.exists(path):
    have = sorted(name[len("transforms_"):-len(".json")]
                  for name in os.listdir(data_dir)
                  if name.startswith("transforms_") and name.endswith(".json"))
    raise DatasetError(f"{path}: file not found: {data_dir!r} has no split "
                       f"{split!r} (config.eval_split chooses the evaluated "
                       f"one; this folder has: {', '.join(have) or 'none'})")
  meta = read_transforms(path)
  factor = max(int(config.factor), 1)
  images, paths, poses, names, depths, depth_paths = [], [], [], [], [], []
  truths = []
  frames = meta["frames"][:max_images]
  lit = [i for i, frame in enumerate(frames) if "lights" in frame]
  if lit and len(lit) < len(frames):
    bare = next(i for i in range(len(frames)) if i not in lit)
    raise DatasetError(f"{path}: frames[{bare}] names no 'lights' but "
                       f"frames[{lit[0]}] does (a relighting split names "
                       "every image's light)")
  light = None
  if lit:
    try:
      light = np.stack([lighting.encode(
          frame["lights"] if isinstance(frame["lights"], list) else [None],
          np.asarray(frame["transform_matrix"], float)[:3, 3],
          f"frames[{i}].lights") for i, frame in enumerate(frames)])
    except ValueError as e:
      raise DatasetError(f"{path}: {e}") from None
  for frame in frames:
    stem = os.path.normpath(os.path.join(data_dir, frame["file_path"]))
    image_path = stem if stem.endswith(".png") else stem + ".png"
    rgba = read_image(image_path)
    if rgba.ndim != 3 or rgba.shape[-1] not in (3, 4):
      raise DatasetError(f"{image_path}: expected an RGB or RGBA image, got "
                         f"shape {rgba.shape}")
    images.append(rgba)
    paths.append(image_path)
    poses.append(np.asarray(frame["transform_matrix"], np.float32)[:3, :4])
    names.append(os.path.basename(stem))
    depth_path = stem + "_depth_0001.png"
    if isinstance(frame.get("ground_truth"), str):
      # The generator's float camera-z depth (jaxnerf/synthetic).
      depth_path = os.path.normpath(os.path.join(data_dir,
                                                 frame["ground_truth"]))
      truths.append(read_ground_truth(depth_path))
      depths.append(("z", truths[-1]["depth"].astype(np.float32)))
      depth_paths.append(depth_path)
    elif os.path.isfile(depth_path):
      depths.append(("png", read_image(depth_path)))
      depth_paths.append(depth_path)
  check_same_size(images, paths)
  full_height, full_width = images[0].shape[:2]
  camera_angle_x = float(meta["camera_angle_x"])
  # Composite before filtering: box-filtering straight-alpha RGBA would
  # bleed the (arbitrary) colour of transparent pixels into the edges.
  images = [downsample(composite_rgba(im, config.white_bkgd), factor)
            for im in images]
  height, width = images[0].shape[:2]
  focal = cameras.focal_from_fov(width, camera_angle_x)
  cams = cameras.Cameras.create(np.stack(poses), focal, width, height,
                                config.near, config.far, light=light)
  depth_list = None
  if len(depths) == len(images):
    full_focal = cameras.focal_from_fov(full_width, camera_angle_x)
    depth_list = []
    for (kind, d), depth_path in zip(depths, depth_paths):
      if kind == "png":
        d = d[..., 0] if d.ndim == 3 else d
      if d.shape != (full_height, full_width):
        raise DatasetError(f"{depth_path}: depth map is {d.shape[1]}x"
                           f"{d.shape[0]} but the images are {full_width}x"
                           f"{full_height}")
      # Convert at full resolution (exact per-pixel ray lengths), then
      # average camera-z over the valid pixels of each block.
      z = (distance_to_z_depth(depth_png_to_distance(d), full_focal)
           if kind == "png" else d)
      depth_list.append(downsample_depth(z, factor).astype(np.float32))
  extras = (material_extras(truths, factor) if len(truths) == len(images)
            else {})
  labels = None
  if "num_classes" in config and truths and len(truths) == len(images):
    # The generator's object ids (`index`) are the class labels.
    labels = [label_lib.downsample_nearest(label_lib.check_ids(
        m["index"], config.num_classes, p), factor)
              for m, p in zip(truths, depth_paths)]
  return Dataset(images=[im.astype(np.float32) for im in images],
                 cameras=cams, names=names, near=config.near, far=config.far,
                 depths=depth_list, extras=extras, labels=labels)
