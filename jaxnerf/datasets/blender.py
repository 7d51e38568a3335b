"""Blender-synthetic scenes: transforms_{split}.json plus RGBA PNGs."""

from __future__ import annotations

import json
import os
from typing import Optional

import imageio.v3 as iio
import numpy as np

from jaxnerf import cameras
from jaxnerf.datasets.base import (Dataset, DatasetError, check_same_size,
                                   register)


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


def read_image(path: str) -> np.ndarray:
  """Reads an 8- or 16-bit PNG as float32 in [0, 1]."""
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: image file not found")
  try:
    image = iio.imread(path)
  except Exception as e:  # imageio raises many types for corrupt files
    raise DatasetError(f"{path}: cannot read image ({e})") from None
  scale = 65535.0 if image.dtype == np.uint16 else 255.0
  return image.astype(np.float32) / scale


def read_transforms(path: str) -> dict:
  """Reads and validates a transforms_{split}.json."""
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: file not found")
  try:
    with open(path) as f:
      meta = json.load(f)
  except json.JSONDecodeError as e:
    raise DatasetError(f"{path}: malformed JSON ({e})") from None
  if not isinstance(meta, dict):
    raise DatasetError(f"{path}: expected a JSON object at the top level")
  if "camera_angle_x" not in meta:
    raise DatasetError(f"{path}: missing field 'camera_angle_x'")
  if not isinstance(meta.get("frames"), list) or not meta["frames"]:
    raise DatasetError(f"{path}: missing or empty field 'frames'")
  for i, frame in enumerate(meta["frames"]):
    for field in ("file_path", "transform_matrix"):
      if field not in frame:
        raise DatasetError(f"{path}: frames[{i}] lacks field '{field}'")
    matrix = np.asarray(frame["transform_matrix"], dtype=object)
    if matrix.shape not in ((4, 4), (3, 4)):
      raise DatasetError(f"{path}: frames[{i}].transform_matrix must be 4x4 "
                         f"or 3x4, got shape {matrix.shape}")
  return meta


def depth_png_to_distance(depth_png: np.ndarray) -> np.ndarray:
  """Blender depth PNG (channel 0, in [0, 1]) to camera-z depth; 0 = none.

  NeRF's blender script maps camera depth d through Blender's Map Value node
  (offset -0.7, size 1/8? see README) and inverts it; background pixels
  are 0. See `DEPTH_PNG_SCALE`/`DEPTH_PNG_OFFSET`.
  """
  v = depth_png
  valid = v > 0
  return np.where(valid, DEPTH_PNG_OFFSET + (1.0 - v) * DEPTH_PNG_SCALE, 0.0)


# Filled in from the geometry check in tests/test_blender.py; see README.
DEPTH_PNG_OFFSET = 0.0
DEPTH_PNG_SCALE = 1.0


@register("blender")
def load_blender(config, split: str,
                 max_images: Optional[int] = None) -> Dataset:
  data_dir = config.data_dir
  if not os.path.isdir(data_dir):
    raise DatasetError(f"config.data_dir: {data_dir!r} is not a directory")
  path = os.path.join(data_dir, f"transforms_{split}.json")
  meta = read_transforms(path)
  factor = max(int(config.factor), 1)
  images, paths, poses, names, depths = [], [], [], [], []
  for frame in meta["frames"][:max_images]:
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
    if os.path.isfile(depth_path):
      depths.append(read_image(depth_path))
  check_same_size(images, paths)
  images = [composite_rgba(downsample(im, factor), config.white_bkgd)
            for im in images]
  height, width = images[0].shape[:2]
  focal = cameras.focal_from_fov(width, float(meta["camera_angle_x"]))
  camtoworlds = np.stack(poses)
  rays = cameras.pinhole_rays(camtoworlds, height, width, focal, config.near,
                              config.far)
  depth_list = None
  if len(depths) == len(images):
    depth_list = [depth_png_to_distance(
        downsample(d[..., :1] if d.ndim == 3 else d[..., None], factor)[..., 0])
                  for d in depths]
  return Dataset(
      images=[im.astype(np.float32) for im in images],
      rays=[r for r in _split_rays(rays)], names=names,
      camtoworlds=camtoworlds, focal=focal, height=height, width=width,
      near=config.near, far=config.far, depths=depth_list)


def _split_rays(rays):
  import jax
  n = rays.origins.shape[0]
  return [jax.tree.map(lambda x, i=i: x[i], rays) for i in range(n)]
