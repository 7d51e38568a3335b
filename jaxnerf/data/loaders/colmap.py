"""A COLMAP sparse model and its photos, read directly (no conversion).

config.data_dir holds `images/` and the model in `sparse/0/`, `sparse/` or
`colmap/sparse/0/` (binary or text; jaxnerf/data/colmap_model.py), as COLMAP,
NeRF-W's phototourism scenes and process_data.py lay them out. Every image
keeps its own camera (intrinsics and OpenCV distortion: rays are
distortion-aware), so photos from different cameras and of different sizes
load together; a camera whose size differs from its image's (a model made
on downscaled copies) is scaled to the image when the aspect ratios agree.
Images are sorted by name; near/far per image come from the points it
observes; the split is every config.llffhold-th image (or
config.train_split_fraction); config.factor reads `images_<factor>/`.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from jaxnerf.data import colmap_model
from jaxnerf.data.loaders import _posed
from jaxnerf.data.dataset import Dataset
from jaxnerf.errors import DatasetError

MODEL_DIRS = (os.path.join("sparse", "0"), "sparse",
              os.path.join("colmap", "sparse", "0"))


def model_dir(data_dir: str) -> str:
  for sub in MODEL_DIRS:
    folder = os.path.join(data_dir, sub)
    if colmap_model.find_model(folder) == folder:
      return folder
  raise DatasetError(
      f"config.data_dir: {data_dir} has no COLMAP model (looked for "
      f"cameras.bin/.txt in {', '.join(MODEL_DIRS)})")


def read_posed(data_dir: str) -> tuple[_posed.PosedImages, list[str]]:
  """Every registered image of the model, sorted by name, with its path."""
  folder = model_dir(data_dir)
  model = colmap_model.read_model(folder)
  if not model.images:
    raise DatasetError(f"{folder}: the model has no registered images")
  image_dir = os.path.join(data_dir, "images")
  if not os.path.isdir(image_dir):
    raise DatasetError(f"config.data_dir: {image_dir} not found (the photos "
                       f"of the model in {folder})")
  images = sorted(model.images.values(), key=lambda im: im.name)
  index_of_point = {int(pid): i for i, pid in enumerate(model.point_ids)}
  names, paths, poses, visible = [], [], [], []
  intr = {k: [] for k in ("fx", "fy", "cx", "cy", "width", "height",
                          "distortion")}
  for image in images:
    path = os.path.join(image_dir, image.name)
    if not os.path.isfile(path):
      raise DatasetError(f"{path}: image file not found (named in "
                         f"{folder}/images)")
    paths.append(path)
    names.append(os.path.splitext(image.name)[0].replace(os.sep, "_"))
    poses.append(colmap_model.camtoworld_opengl(image))
    camera = model.cameras[image.camera_id]
    k = colmap_model.camera_intrinsics(camera, folder)
    for key in ("fx", "fy", "cx", "cy", "distortion"):
      intr[key].append(k[key])
    intr["width"].append(camera.width)
    intr["height"].append(camera.height)
    ids = image.point3d_ids[image.point3d_ids >= 0]
    visible.append(np.array([index_of_point[int(p)] for p in ids
                             if int(p) in index_of_point], int))
  posed = _posed.PosedImages(
      names=names, camtoworlds=np.stack(poses), fx=np.array(intr["fx"]),
      fy=np.array(intr["fy"]), cx=np.array(intr["cx"]),
      cy=np.array(intr["cy"]), width=np.array(intr["width"], np.float64),
      height=np.array(intr["height"], np.float64),
      distortion=np.stack(intr["distortion"]),
      points=model.points if len(model.points) else None,
      colours=model.colors / 255.0 if len(model.points) else None,
      visible=visible if len(model.points) else None, source=folder)
  return posed, paths


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of the COLMAP scene in config.data_dir (see the module
  docstring; normalisation as jaxnerf.data.loaders._posed.build)."""
  if not os.path.isdir(config.data_dir):
    raise DatasetError(f"config.data_dir: {config.data_dir!r} is not a "
                       "directory")
  posed, paths = read_posed(config.data_dir)
  indices = _posed.holdout_split(len(posed), split, int(config.llffhold),
                                 float(config.train_split_fraction))
  return _posed.build(
      config, posed, split, indices,
      lambda i, factor: _posed.downscaled_path(paths[i], factor), max_images)
