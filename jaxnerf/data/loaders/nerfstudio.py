"""nerfstudio's `transforms.json` (also what process_data.py writes).

Intrinsics are global or per frame (a frame's own fields win): fl_x, fl_y,
cx, cy, w, h, OpenCV distortion k1, k2, p1, p2 (camera_model "OPENCV" or
"PINHOLE"; instant-ngp's camera_angle_x stands in for a missing fl_x).
Frames have `file_path` (relative to the json's folder, with or without an
extension) and a 4x4 camera-to-world `transform_matrix` (OpenGL axes).
Optional: `ply_file_path` (sparse points: near/far per camera come from
them), `train_filenames` / `val_filenames` / `test_filenames` (the split;
else config.train_split_fraction or every config.llffhold-th image).
config.factor reads the copies in `images_<factor>/` next to `images/`.
Rays are distortion-aware (no undistortion of the images).
"""

from __future__ import annotations

import json
import math
import os
from typing import Optional

import numpy as np

from jaxnerf.data import colmap_model
from jaxnerf.data.loaders import _posed
from jaxnerf.data.dataset import Dataset, brief, read_json
from jaxnerf.errors import DatasetError

FILENAME = "transforms.json"
CAMERA_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE")
INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
DISTORTION = ("k1", "k2", "p1", "p2")
UNSUPPORTED_DISTORTION = ("k3", "k4")


def transforms_path(data_dir: str) -> str:
  """data_dir/transforms.json (or data_dir itself if it is a json file)."""
  if os.path.isfile(data_dir) and data_dir.endswith(".json"):
    return data_dir
  return os.path.join(data_dir, FILENAME)


def _number(path, where, key, value) -> float:
  # float() also takes numeric strings ("20.5"), which some writers emit.
  try:
    out = float(value)
  except (TypeError, ValueError):
    raise DatasetError(f"{path}: {where}{key} must be a number, got "
                       f"{brief(value)}") from None
  if not math.isfinite(out):
    raise DatasetError(f"{path}: {where}{key} is not finite")
  return out


def read_transforms(path: str) -> dict:
  """Reads and validates a transforms.json (see the module docstring)."""
  meta = read_json(path)
  if not isinstance(meta, dict):
    raise DatasetError(f"{path}: expected a JSON object at the top level")
  if not isinstance(meta.get("frames"), list) or not meta["frames"]:
    raise DatasetError(f"{path}: missing or empty field 'frames'")
  for i, frame in enumerate(meta["frames"]):
    if not isinstance(frame, dict):
      raise DatasetError(f"{path}: frames[{i}] is not an object")
    for key in ("file_path", "transform_matrix"):
      if key not in frame:
        raise DatasetError(f"{path}: frames[{i}] lacks field '{key}'")
    if not isinstance(frame["file_path"], str) or not frame["file_path"]:
      raise DatasetError(f"{path}: frames[{i}].file_path must be a file name,"
                         f" got {brief(frame['file_path'])}")
    try:
      matrix = np.asarray(frame["transform_matrix"], np.float64)
    except (TypeError, ValueError):
      matrix = np.zeros(0)
    if matrix.shape not in ((4, 4), (3, 4)) or not np.all(
        np.isfinite(matrix)):
      raise DatasetError(f"{path}: frames[{i}].transform_matrix must be a "
                         "finite 4x4 (or 3x4) matrix")
  ply = meta.get("ply_file_path")
  if ply is not None and not isinstance(ply, str):
    raise DatasetError(f"{path}: ply_file_path must be a file name, got "
                       f"{brief(ply)}")
  for key in ("train_filenames", "val_filenames", "test_filenames"):
    names = meta.get(key)
    if key in meta and not (isinstance(names, list) and
                            all(isinstance(n, str) for n in names)):
      raise DatasetError(f"{path}: {key} must be a list of file names, got "
                         f"{brief(names)}")
  return meta


def frame_intrinsics(path: str, meta: dict, i: int) -> dict:
  """The intrinsics of frame i: its own fields, else the global ones."""
  frame = meta["frames"][i]
  get = lambda key: frame.get(key, meta.get(key))
  where = f"frames[{i}]."
  model = get("camera_model") or "OPENCV"
  if model not in CAMERA_MODELS:
    raise DatasetError(
        f"{path}: {where}camera_model {model!r} is not supported (rays here "
        f"handle {', '.join(CAMERA_MODELS)}: OpenCV's k1 k2 p1 p2)")
  for key in UNSUPPORTED_DISTORTION:
    if get(key):
      raise DatasetError(f"{path}: {where}{key} = {get(key)} is not "
                         "supported (only k1, k2, p1, p2)")
  out = {}
  for key in ("w", "h"):
    if get(key) is None:
      raise DatasetError(f"{path}: lacks field '{key}' (image size; global or"
                         f" in frames[{i}])")
    out[key] = _number(path, where, key, get(key))
  if get("fl_x") is None and get("camera_angle_x") is not None:
    angle = _number(path, where, "camera_angle_x", get("camera_angle_x"))
    out["fl_x"] = 0.5 * out["w"] / math.tan(0.5 * angle)
  elif get("fl_x") is None:
    raise DatasetError(f"{path}: lacks field 'fl_x' (focal length in pixels;"
                       f" global or in frames[{i}])")
  else:
    out["fl_x"] = _number(path, where, "fl_x", get("fl_x"))
  out["fl_y"] = (out["fl_x"] if get("fl_y") is None else
                 _number(path, where, "fl_y", get("fl_y")))
  out["cx"] = (out["w"] / 2 if get("cx") is None else
               _number(path, where, "cx", get("cx")))
  out["cy"] = (out["h"] / 2 if get("cy") is None else
               _number(path, where, "cy", get("cy")))
  if out["w"] <= 0 or out["h"] <= 0 or out["fl_x"] <= 0 or out["fl_y"] <= 0:
    raise DatasetError(f"{path}: {where}w, h, fl_x and fl_y must be positive")
  out["distortion"] = np.array(
      [_number(path, where, k, get(k) or 0.0) for k in DISTORTION])
  return out


def read_posed(data_dir: str) -> tuple[_posed.PosedImages, dict, list[str]]:
  """All frames of a transforms.json: (PosedImages, the json, image paths
  at full resolution)."""
  path = transforms_path(data_dir)
  meta = read_transforms(path)
  root = os.path.dirname(os.path.abspath(path))
  names, paths, poses = [], [], []
  intr = {k: [] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h",
                          "distortion")}
  for i, frame in enumerate(meta["frames"]):
    image_path = _posed.with_extension(
        os.path.normpath(os.path.join(root, frame["file_path"])))
    paths.append(image_path)
    names.append(os.path.splitext(os.path.basename(image_path))[0])
    poses.append(np.asarray(frame["transform_matrix"], np.float64)[:3, :4])
    for key, value in frame_intrinsics(path, meta, i).items():
      intr[key].append(value)
  if len(set(names)) != len(names):
    names = [os.path.splitext(os.path.relpath(p, root))[0].replace(os.sep, "_")
             for p in paths]
  points = colours = None
  if meta.get("ply_file_path"):
    ply = os.path.join(root, meta["ply_file_path"])
    if not os.path.isfile(ply):
      raise DatasetError(f"{path}: ply_file_path {meta['ply_file_path']!r} "
                         f"not found ({ply})")
    points, colours = colmap_model.read_ply(ply)
  posed = _posed.PosedImages(
      names=names, camtoworlds=np.stack(poses),
      fx=np.array(intr["fl_x"]), fy=np.array(intr["fl_y"]),
      cx=np.array(intr["cx"]), cy=np.array(intr["cy"]),
      width=np.array(intr["w"]), height=np.array(intr["h"]),
      distortion=np.stack(intr["distortion"]), points=points,
      colours=colours, source=path)
  return posed, meta, paths


def split_indices(meta: dict, path: str, paths: list[str], split: str,
                  config) -> np.ndarray:
  """The listed split (train/val/test_filenames), else `_posed.holdout_split`.
  A listed "test" split falls back to "val" (nerfstudio's eval split)."""
  keys = {"train": ["train_filenames"],
          "val": ["val_filenames", "test_filenames"],
          "test": ["test_filenames", "val_filenames"]}.get(split)
  if keys and any(k in meta for k in ("train_filenames", "val_filenames",
                                        "test_filenames")):
    key = next((k for k in keys if k in meta), None)
    if key is None:
      raise DatasetError(f"{path}: lists a split but no {split!r} one "
                         f"({' or '.join(keys)})")
    root = os.path.dirname(os.path.abspath(path))
    by_path = {os.path.normpath(p): i for i, p in enumerate(paths)}
    by_stem = {os.path.splitext(p)[0]: i for p, i in by_path.items()}
    indices = []
    for name in meta[key]:
      full = os.path.normpath(os.path.join(root, name))
      i = by_path.get(full, by_stem.get(os.path.splitext(full)[0]))
      if i is None:
        raise DatasetError(f"{path}: {key} names {name!r}, which is not a "
                           "frame's file_path")
      indices.append(i)
    return np.array(indices, int)
  return _posed.holdout_split(len(paths), split, int(config.llffhold),
                              float(config.train_split_fraction))


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of the transforms.json in config.data_dir (see the module
  docstring; normalisation as jaxnerf.data.loaders._posed.build)."""
  if not os.path.exists(config.data_dir):
    raise DatasetError(f"config.data_dir: {config.data_dir!r} does not exist")
  posed, meta, paths = read_posed(config.data_dir)
  indices = split_indices(meta, posed.source, paths, split, config)
  return _posed.build(
      config, posed, split, indices,
      lambda i, factor: _posed.downscaled_path(paths[i], factor), max_images)


def write_transforms(path: str, file_paths: list[str],
                     camtoworlds: np.ndarray, intrinsics: dict,
                     ply_file_path: Optional[str] = None,
                     extra: Optional[dict] = None) -> None:
  """Writes a transforms.json with global intrinsics.

  Args:
    file_paths: [N] image paths relative to the json's folder.
    camtoworlds: [N, 3|4, 4] camera-to-world, OpenGL axes.
    intrinsics: fl_x, fl_y, cx, cy, w, h, and optionally k1, k2, p1, p2 and
      camera_model ("OPENCV" when any distortion is given, else "PINHOLE").
    extra: further top-level fields (split lists, provenance).
  """
  meta = {}
  distorted = any(intrinsics.get(k, 0.0) for k in DISTORTION)
  meta["camera_model"] = intrinsics.get(
      "camera_model", "OPENCV" if distorted else "PINHOLE")
  for key in INTRINSICS:
    value = intrinsics[key]
    meta[key] = int(value) if key in ("w", "h") else float(value)
  for key in DISTORTION:
    meta[key] = float(intrinsics.get(key, 0.0))
  frames = []
  for file_path, c2w in zip(file_paths, np.asarray(camtoworlds, np.float64)):
    matrix = np.eye(4)
    matrix[:3, :4] = c2w[:3, :4]
    frames.append({"file_path": file_path,
                   "transform_matrix": matrix.tolist()})
  meta["frames"] = frames
  if ply_file_path:
    meta["ply_file_path"] = ply_file_path
  meta.update(extra or {})
  with open(path, "w") as f:
    json.dump(meta, f, indent=2)
