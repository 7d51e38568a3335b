"""The Nerfies capture layout (a phone capture posed by its own pipeline).

config.data_dir holds `rgb/<k>x/<id>.png` (k = 1, 2, 4, 8: config.factor
picks the folder; 1x is the size the cameras refer to), `camera/<id>.json`
per image, `dataset.json` (`train_ids`, `val_ids`) and optionally
`scene.json` (`center`, `scale`, `near`, `far` in Nerfies' scaled units:
the fallback bounds when there are no points).

A camera json has `orientation` (3x3 world-to-camera rotation, OpenCV axes:
x right, y down, z forward), `position` (the centre), `focal_length`,
`pixel_aspect_ratio`, `principal_point`, `skew` (must be 0),
`radial_distortion` (k1, k2, k3; k3 must be 0), `tangential_distortion`
(p1, p2) and `image_size` (w, h): OpenCV's model, so rays are
distortion-aware. Split "train" is `train_ids`, "val" and "test" are
`val_ids`.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from jaxnerf.data.loaders import _posed
from jaxnerf.data.dataset import (Dataset, brief, integer, matrix, number,
                                  read_json)
from jaxnerf.errors import DatasetError


def read_camera(path: str) -> dict:
  """One camera json -> camtoworld [3, 4] (OpenGL) and intrinsics.

  Raises:
    DatasetError: a missing or malformed file, or a missing, non-numeric,
      non-finite or out-of-range field (named).
  """
  cam = read_json(path)
  if not isinstance(cam, dict):
    raise DatasetError(f"{path}: expected a JSON object at the top level")
  for key in ("orientation", "position", "focal_length", "principal_point",
              "image_size"):
    if key not in cam:
      raise DatasetError(f"{path}: missing field {key!r}")
  rotation = matrix(cam["orientation"], path, "orientation", ((3, 3),))
  position = matrix(cam["position"], path, "position", ((3,),))
  focal = number(cam["focal_length"], path, "focal_length", 0.0, strict=True)
  aspect = number(cam.get("pixel_aspect_ratio", 1.0), path,
                  "pixel_aspect_ratio", 0.0, strict=True)
  cx, cy = matrix(cam["principal_point"], path, "principal_point", ((2,),))
  size = cam["image_size"]
  if not isinstance(size, list) or len(size) != 2:
    raise DatasetError(f"{path}: image_size must be [width, height], got "
                       f"{brief(size)}")
  width, height = (integer(v, path, f"image_size[{k}]", 1)
                   for k, v in enumerate(size))
  radial = matrix(cam.get("radial_distortion", [0.0, 0.0, 0.0]), path,
                  "radial_distortion", ((1,), (2,), (3,)))
  radial = np.pad(radial, (0, 3 - len(radial)))  # missing terms are 0
  tangential = matrix(cam.get("tangential_distortion", [0.0, 0.0]), path,
                      "tangential_distortion", ((2,),))
  skew = number(cam.get("skew", 0.0), path, "skew")
  if skew != 0.0:
    raise DatasetError(f"{path}: skew {skew:g} is not supported")
  if radial[2] != 0.0:
    raise DatasetError(f"{path}: radial_distortion k3 = {radial[2]:g} is not "
                       "supported (only k1, k2, p1, p2)")
  c2w = np.concatenate([rotation.T, position[:, None]], axis=1)
  c2w[:, 1:3] *= -1.0  # OpenCV axes -> OpenGL
  return dict(camtoworld=c2w, fx=focal, fy=focal * aspect, cx=float(cx),
              cy=float(cy), width=width, height=height,
              distortion=np.concatenate([radial[:2], tangential]))


def _ids(meta: dict, path: str, key: str) -> list[str]:
  """dataset.json's list `key` of image ids (strings)."""
  ids = meta.get(key, [])
  if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
    raise DatasetError(f"{path}: {key} must be a list of image ids "
                       f"(strings), got {brief(ids)}")
  return ids


def read_scene_bounds(path: str, n: int) -> Optional[np.ndarray]:
  """[n, 2] near/far from scene.json (scaled units / scale), or None when
  it lacks scale, near or far."""
  scene = read_json(path)
  if not isinstance(scene, dict):
    raise DatasetError(f"{path}: expected a JSON object at the top level")
  if not all(k in scene for k in ("scale", "near", "far")):
    return None
  scale = number(scene["scale"], path, "scale", 0.0, strict=True)
  near = number(scene["near"], path, "near", 0.0)
  far = number(scene["far"], path, "far")
  if not far > near:
    raise DatasetError(f"{path}: far = {far:g} must exceed near = {near:g}")
  return np.tile([near / scale, far / scale], (n, 1))


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of the Nerfies capture in config.data_dir (see the
  module docstring; normalisation as jaxnerf.data.loaders._posed.build)."""
  data_dir = config.data_dir
  if not os.path.isdir(data_dir):
    raise DatasetError(f"config.data_dir: {data_dir!r} is not a directory")
  dataset_path = os.path.join(data_dir, "dataset.json")
  meta = read_json(dataset_path)
  if not isinstance(meta, dict):
    raise DatasetError(f"{dataset_path}: expected a JSON object at the top "
                       "level")
  key = {"train": "train_ids", "val": "val_ids", "test": "val_ids"}.get(split)
  if key is None:
    raise DatasetError(f"split: unknown split {split!r}; expected 'train', "
                       "'val' or 'test'")
  ids = list(_ids(meta, dataset_path, "ids") or
             (_ids(meta, dataset_path, "train_ids") +
              _ids(meta, dataset_path, "val_ids")))
  if key not in meta:
    raise DatasetError(f"{dataset_path}: missing field {key!r}")
  if not ids:
    raise DatasetError(f"{dataset_path}: lists no image ids")
  cams = [read_camera(os.path.join(data_dir, "camera", f"{i}.json"))
          for i in ids]
  bounds = None
  scene_path = os.path.join(data_dir, "scene.json")
  if os.path.isfile(scene_path):
    bounds = read_scene_bounds(scene_path, len(ids))
  stack = lambda k: np.array([c[k] for c in cams], np.float64)
  posed = _posed.PosedImages(
      names=list(ids), camtoworlds=np.stack([c["camtoworld"] for c in cams]),
      fx=stack("fx"), fy=stack("fy"), cx=stack("cx"), cy=stack("cy"),
      width=stack("width"), height=stack("height"),
      distortion=np.stack([c["distortion"] for c in cams]), bounds=bounds,
      source=os.path.join(data_dir, "camera"))
  position = {name: i for i, name in enumerate(ids)}
  missing = [i for i in _ids(meta, dataset_path, key) if i not in position]
  if missing:
    raise DatasetError(f"{dataset_path}: {key} has ids not in 'ids': "
                       f"{missing[:5]}")
  indices = np.array([position[i] for i in meta[key]], int)

  def image_path(i: int, factor: int) -> str:
    folder = os.path.join(data_dir, "rgb", f"{factor}x")
    if not os.path.isdir(folder):
      raise DatasetError(f"{folder}: not found for config.factor={factor}")
    return _posed.with_extension(os.path.join(folder, ids[i]))

  return _posed.build(config, posed, split, indices, image_path, max_images)
