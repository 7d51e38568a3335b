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

import json
import os
from typing import Optional

import numpy as np

from jaxnerf.datasets import _posed
from jaxnerf.datasets.base import Dataset
from jaxnerf.errors import DatasetError


def _read_json(path: str):
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: file not found")
  try:
    with open(path) as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise DatasetError(f"{path}: malformed JSON ({e})") from None


def read_camera(path: str) -> dict:
  """One camera json -> camtoworld [3, 4] (OpenGL) and intrinsics."""
  cam = _read_json(path)
  try:
    rotation = np.asarray(cam["orientation"], np.float64)
    position = np.asarray(cam["position"], np.float64)
    focal = float(cam["focal_length"])
    aspect = float(cam.get("pixel_aspect_ratio", 1.0))
    cx, cy = (float(v) for v in cam["principal_point"])
    width, height = (int(v) for v in cam["image_size"])
    radial = list(cam.get("radial_distortion", [0.0, 0.0, 0.0])) + [0.0] * 3
    tangential = list(cam.get("tangential_distortion", [0.0, 0.0]))
  except KeyError as e:
    raise DatasetError(f"{path}: missing field {e}") from None
  except (TypeError, ValueError) as e:
    raise DatasetError(f"{path}: malformed camera ({e})") from None
  if rotation.shape != (3, 3) or position.shape != (3,):
    raise DatasetError(f"{path}: orientation must be 3x3 and position 3")
  if float(cam.get("skew", 0.0)) != 0.0:
    raise DatasetError(f"{path}: skew {cam['skew']} is not supported")
  if radial[2] != 0.0:
    raise DatasetError(f"{path}: radial_distortion k3 = {radial[2]} is not "
                       "supported (only k1, k2, p1, p2)")
  c2w = np.concatenate([rotation.T, position[:, None]], axis=1)
  c2w[:, 1:3] *= -1.0  # OpenCV axes -> OpenGL
  return dict(camtoworld=c2w, fx=focal, fy=focal * aspect, cx=cx, cy=cy,
              width=width, height=height,
              distortion=np.array(radial[:2] + tangential[:2], np.float64))


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of the Nerfies capture in config.data_dir (see the
  module docstring; normalisation as jaxnerf.datasets._posed.build)."""
  data_dir = config.data_dir
  if not os.path.isdir(data_dir):
    raise DatasetError(f"config.data_dir: {data_dir!r} is not a directory")
  dataset_path = os.path.join(data_dir, "dataset.json")
  meta = _read_json(dataset_path)
  key = {"train": "train_ids", "val": "val_ids", "test": "val_ids"}.get(split)
  if key is None:
    raise DatasetError(f"split: unknown split {split!r}; expected 'train', "
                       "'val' or 'test'")
  ids = list(meta.get("ids") or (meta.get("train_ids", []) +
                                 meta.get("val_ids", [])))
  if key not in meta:
    raise DatasetError(f"{dataset_path}: missing field {key!r}")
  cams = [read_camera(os.path.join(data_dir, "camera", f"{i}.json"))
          for i in ids]
  bounds = None
  scene_path = os.path.join(data_dir, "scene.json")
  if os.path.isfile(scene_path):
    scene = _read_json(scene_path)
    if all(k in scene for k in ("scale", "near", "far")):
      scale = float(scene["scale"])
      bounds = np.tile([float(scene["near"]) / scale,
                        float(scene["far"]) / scale], (len(ids), 1))
  stack = lambda k: np.array([c[k] for c in cams], np.float64)
  posed = _posed.PosedImages(
      names=list(ids), camtoworlds=np.stack([c["camtoworld"] for c in cams]),
      fx=stack("fx"), fy=stack("fy"), cx=stack("cx"), cy=stack("cy"),
      width=stack("width"), height=stack("height"),
      distortion=np.stack([c["distortion"] for c in cams]), bounds=bounds,
      source=os.path.join(data_dir, "camera"))
  position = {name: i for i, name in enumerate(ids)}
  missing = [i for i in meta[key] if i not in position]
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
