"""Multiscale Blender scenes (mip-NeRF sec. 5): one folder, four scales.

Layout, as mip-NeRF's scripts/convert_blender_data.py writes it:
  metadata.json   {split: {file_path, cam2world, width, height, focal,
                           lossmult, near, far, label: one entry per image}}
  images_<split>/<view:03d>_d<scale>.png   straight-alpha RGBA
Every view appears at full, 1/2, 1/4 and 1/8 resolution (box-filtered), with
a per-pixel loss weight `lossmult` equal to its area in full-resolution
pixels, so every scale weighs the same in the loss.

`make_multiscale` converts a Blender scene (transforms_<split>.json) into
that layout; `scripts/make_multiscale.py` is its command line.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import imageio.v3 as iio
import numpy as np

from jaxnerf.core import cameras
from jaxnerf.data.dataset import (Dataset, brief, integer, matrix, number,
                                  read_json)
from jaxnerf.data.loaders.blender import composite_rgba, read_transforms
from jaxnerf.errors import DatasetError
from jaxnerf.data.images import read_image

METADATA_FIELDS = ("file_path", "cam2world", "width", "height", "focal",
                   "lossmult", "near", "far")


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
  """[n_out, n_in] weights averaging the input pixels each output covers.

  Output pixel k spans [k, k + 1) * n_in / n_out in input pixels; each
  input pixel contributes the length of its overlap. For n_in = f * n_out
  this is the f-tap box filter.
  """
  edges = np.arange(n_out + 1) * (n_in / n_out)
  lo, hi = edges[:-1, None], edges[1:, None]
  pix = np.arange(n_in)[None, :]
  overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0, None)
  return overlap / overlap.sum(axis=1, keepdims=True)


def area_downsample(image: np.ndarray, height: int,
                    width: int) -> np.ndarray:
  """Box-filters [H, W, C] to [height, width] by exact pixel-area averaging.

  Each output pixel is the mean over the input area it covers, so a
  non-integer factor (25 -> 12) keeps the field of view exactly, unlike
  cropping; for integer factors it equals `blender.downsample`.
  """
  rows = _area_matrix(image.shape[0], height)
  cols = _area_matrix(image.shape[1], width)
  image = np.tensordot(rows, image.astype(np.float64), axes=(1, 0))
  return np.einsum("hwc,jw->hjc", image, cols)


def scale_sizes(height: int, width: int,
                num_scales: int) -> list[tuple[int, int]]:
  """(height, width) of each scale: halved, rounded down, per scale."""
  return [(max(height // 2**j, 1), max(width // 2**j, 1))
          for j in range(num_scales)]


def make_multiscale(blender_dir: str, out_dir: str,
                    splits: Sequence[str] = ("train", "test"),
                    num_scales: int = 4, near: float = 2.0, far: float = 6.0,
                    max_images: Optional[int] = None) -> dict:
  """Writes the multiscale version of a Blender scene (mip-NeRF's procedure).

  Each RGBA image is box-filtered from full resolution to every scale (the
  alpha channel too; background compositing happens at load time, as in
  mip-NeRF). Scale j has focal `focal * width_j / width`, and `lossmult`
  equal to the full-resolution pixels per pixel, (W H) / (W_j H_j) (4^j
  when the sizes halve exactly).

  Args:
    blender_dir: folder with transforms_<split>.json and the images.
    out_dir: created if missing.
    splits: splits to convert (those without a transforms file are skipped).
    max_images: keep only the first views of each split.
  Returns:
    The metadata dict written to out_dir/metadata.json.
  """
  os.makedirs(out_dir, exist_ok=True)
  metadata = {}
  for split in splits:
    path = os.path.join(blender_dir, f"transforms_{split}.json")
    if not os.path.isfile(path):
      continue
    meta = read_transforms(path)
    entry = {k: [] for k in METADATA_FIELDS + ("label",)}
    image_dir = f"images_{split}"
    os.makedirs(os.path.join(out_dir, image_dir), exist_ok=True)
    for i, frame in enumerate(meta["frames"][:max_images]):
      stem = os.path.normpath(os.path.join(blender_dir, frame["file_path"]))
      rgba = read_image(stem if stem.endswith(".png") else stem + ".png")
      h0, w0 = rgba.shape[:2]
      focal0 = cameras.focal_from_fov(w0, float(meta["camera_angle_x"]))
      for j, (h, w) in enumerate(scale_sizes(h0, w0, num_scales)):
        image = rgba if j == 0 else area_downsample(rgba, h, w)
        name = f"{image_dir}/{i:03d}_d{j}.png"
        iio.imwrite(os.path.join(out_dir, name),
                    np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
        entry["file_path"].append(name)
        entry["cam2world"].append(
            np.asarray(frame["transform_matrix"], np.float64)[:3, :4].tolist())
        entry["width"].append(w)
        entry["height"].append(h)
        entry["focal"].append(focal0 * w / w0)
        entry["lossmult"].append((w0 * h0) / (w * h))
        entry["near"].append(near)
        entry["far"].append(far)
        entry["label"].append(j)
    metadata[split] = entry
  with open(os.path.join(out_dir, "metadata.json"), "w") as f:
    json.dump(metadata, f, indent=1)
  return metadata


def read_metadata(path: str, split: str) -> dict:
  """Reads and validates one split of a multiscale metadata.json.

  Returns:
    The split's entry: per-image lists of equal length, checked: file_path
    names, cam2world finite 3x4 (or 4x4), width and height positive whole
    numbers, focal and lossmult positive, near >= 0, far > near, label (if
    present) whole numbers >= 0.
  Raises:
    DatasetError: naming the file, the field and the image's index.
  """
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: file not found (a multiscale scene needs "
                       "metadata.json; see scripts/make_multiscale.py)")
  meta = read_json(path)
  if not isinstance(meta, dict) or split not in meta:
    known = sorted(meta) if isinstance(meta, dict) else []
    raise DatasetError(f"{path}: no split {split!r}; splits present: {known}")
  entry = meta[split]
  if not isinstance(entry, dict):
    raise DatasetError(f"{path}: {split} must be an object of per-image "
                       f"lists, got {brief(entry)}")
  missing = [k for k in METADATA_FIELDS if k not in entry]
  if missing:
    raise DatasetError(f"{path}: split {split!r} lacks fields {missing}")
  fields = [k for k in METADATA_FIELDS + ("label",) if k in entry]
  for k in fields:
    if not isinstance(entry[k], list):
      raise DatasetError(f"{path}: {split}.{k} must be a list (one entry "
                         f"per image), got {brief(entry[k])}")
  n = len(entry["file_path"])
  if n == 0:
    raise DatasetError(f"{path}: {split}.file_path is empty (no images)")
  for k in fields:
    if len(entry[k]) != n:
      raise DatasetError(f"{path}: {split}.{k} has {len(entry[k])} entries "
                         f"but file_path has {n}")
  for i in range(n):
    field = lambda k: f"{split}.{k}[{i}]"
    if not isinstance(entry["file_path"][i], str) or not entry["file_path"][i]:
      raise DatasetError(f"{path}: {field('file_path')} must be a file name,"
                         f" got {brief(entry['file_path'][i])}")
    matrix(entry["cam2world"][i], path, field("cam2world"), ((3, 4), (4, 4)))
    for k in ("width", "height"):
      integer(entry[k][i], path, field(k), 1)
    for k in ("focal", "lossmult"):
      number(entry[k][i], path, field(k), 0.0, strict=True)
    near = number(entry["near"][i], path, field("near"), 0.0)
    far = number(entry["far"][i], path, field("far"))
    if not far > near:
      raise DatasetError(f"{path}: {field('far')} = {far:g} must exceed near"
                         f" = {near:g}")
    if "label" in entry:
      integer(entry["label"][i], path, field("label"), 0)
  return entry


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of the multiscale scene in `config.data_dir`.

  Near/far and focal come per image from metadata.json (config.near/far and
  config.factor are ignored). Rays carry `lossmult` (area weight) and radii
  from each image's own pixel spacing. `extras["scale"]` holds each image's
  scale index (metadata `label`, else log4 of lossmult).
  `max_images` keeps the first images (views x scales, view-major).
  """
  data_dir = config.data_dir
  if not os.path.isdir(data_dir):
    raise DatasetError(f"config.data_dir: {data_dir!r} is not a directory")
  path = os.path.join(data_dir, "metadata.json")
  meta = read_metadata(path, split)
  n = len(meta["file_path"])
  if max_images is not None:
    n = min(n, max_images)
  images, names, poses, scales = [], [], [], []
  for i in range(n):
    image_path = os.path.join(data_dir, meta["file_path"][i])
    rgba = read_image(image_path)
    h, w = int(meta["height"][i]), int(meta["width"][i])
    if rgba.ndim != 3 or rgba.shape[:2] != (h, w) or rgba.shape[-1] not in (
        3, 4):
      raise DatasetError(f"{image_path}: expected a {w}x{h} RGB(A) image, got "
                         f"shape {rgba.shape}")
    images.append(composite_rgba(rgba, config.white_bkgd).astype(np.float32))
    poses.append(np.asarray(meta["cam2world"][i], np.float32)[:3, :4])
    names.append(os.path.splitext(os.path.basename(meta["file_path"][i]))[0])
    if "label" in meta:
      scales.append(int(meta["label"][i]))
    else:
      scales.append(int(round(np.log(meta["lossmult"][i]) / np.log(4.0))))
  cams = cameras.Cameras.create(
      np.stack(poses), np.asarray(meta["focal"][:n]),
      np.asarray(meta["width"][:n]), np.asarray(meta["height"][:n]),
      np.asarray(meta["near"][:n]), np.asarray(meta["far"][:n]))
  return Dataset(
      images=images, cameras=cams, names=names,
      near=float(np.min(meta["near"][:n])),
      far=float(np.max(meta["far"][:n])),
      lossmult=np.asarray(meta["lossmult"][:n], np.float32),
      extras={"scale": scales})
