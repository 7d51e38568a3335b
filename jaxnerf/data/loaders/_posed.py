"""What the loaders of real captures share (nerfstudio, colmap, nerfies):
posed images in the capture's own frame -> a normalised Dataset.

A loader reads its format into `PosedImages` (poses, intrinsics and image
paths of every image, optional sparse points) and calls `build`, which
normalises the scene (jaxnerf/data/normalization.py, config.orientation_method,
center_method, auto_scale_poses, scene_scale), takes near/far from the
points, picks the split, reads the split's images at config.factor and
scales the intrinsics to them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

import numpy as np

from jaxnerf.core import cameras as cameras_lib
from jaxnerf.data import normalization
from jaxnerf.data.dataset import Dataset, brief
from jaxnerf.errors import DatasetError
from jaxnerf.data.images import read_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass
class PosedImages:
  """Every image of a capture with its pose and intrinsics.

  Attributes:
    names: [N] names of the images (outputs are named after them).
    camtoworlds: [N, 3, 4] camera-to-world, OpenGL axes, capture frame.
    fx, fy, cx, cy: [N] intrinsics in pixels at size width x height.
    width, height: [N] image size the intrinsics refer to.
    distortion: [N, 4] OpenCV k1, k2, p1, p2.
    points: optional [P, 3] sparse points (capture frame).
    colours: optional [P, 3] the points' colours in [0, 1] (None: the
      source has none).
    visible: optional per image, indices into `points` it observes.
    bounds: optional [N, 2] near/far depths (capture units), used when
      there are no points.
    source: the file the poses come from (for messages).
  """

  names: list[str]
  camtoworlds: np.ndarray
  fx: np.ndarray
  fy: np.ndarray
  cx: np.ndarray
  cy: np.ndarray
  width: np.ndarray
  height: np.ndarray
  distortion: np.ndarray
  points: Optional[np.ndarray] = None
  colours: Optional[np.ndarray] = None
  visible: Optional[list[np.ndarray]] = None
  bounds: Optional[np.ndarray] = None
  source: str = ""

  def __len__(self) -> int:
    return len(self.names)


def check_posed(posed: PosedImages) -> None:
  """Raises DatasetError, naming `posed.source` and the image, for values
  the normalisation and the rays cannot use: a NaN or infinite pose,
  intrinsic, distortion, bound or point, or a non-positive focal length or
  size. (Each format's reader checks its own fields; this is the net under
  all of them.)"""
  fields = {"camtoworld": posed.camtoworlds, "fx": posed.fx, "fy": posed.fy,
            "cx": posed.cx, "cy": posed.cy, "width": posed.width,
            "height": posed.height, "distortion": posed.distortion}
  if posed.bounds is not None:
    fields["bounds"] = posed.bounds
  for field, values in fields.items():
    values = np.asarray(values, np.float64).reshape(len(posed), -1)
    bad = ~np.all(np.isfinite(values), axis=1)
    if field in ("fx", "fy", "width", "height", "bounds"):
      bad |= ~np.all(values > 0, axis=1)
    if np.any(bad):
      i = int(np.argmax(bad))
      rule = ("finite" if field in ("camtoworld", "cx", "cy", "distortion")
              else "finite and positive")
      raise DatasetError(f"{posed.source}: image {posed.names[i]!r} has "
                         f"{field} {brief(values[i].tolist(), 60)}; it must "
                         f"be {rule}")
  if posed.points is not None and not np.all(np.isfinite(posed.points)):
    raise DatasetError(f"{posed.source}: the sparse points have NaN or "
                       "infinite coordinates")
  if posed.colours is not None and (
      posed.points is None or np.shape(posed.colours) != np.shape(
          posed.points)):
    raise DatasetError(f"{posed.source}: {len(posed.colours)} point colours "
                       f"for {0 if posed.points is None else len(posed.points)}"
                       " sparse points")


def holdout_split(n: int, split: str, llffhold: int,
                  train_fraction: float) -> np.ndarray:
  """Indices of `split` among n images without a listed split.

  train_fraction > 0: nerfstudio's split (that fraction of the images,
  evenly spaced, train; the rest eval); else every llffhold-th image
  (i % llffhold == 0) is held out, as LLFF.
  """
  if split not in ("train", "val", "test"):
    raise DatasetError(f"split: unknown split {split!r}; expected 'train', "
                       "'val' or 'test'")
  if train_fraction > 0:
    if not train_fraction <= 1:
      raise DatasetError("config.train_split_fraction: must be in (0, 1], got"
                         f" {train_fraction}")
    count = max(1, int(np.ceil(n * train_fraction)))
    train = np.unique(np.linspace(0, n - 1, count, dtype=int))  # nerfstudio
  else:
    if llffhold <= 0:
      raise DatasetError(f"config.llffhold: must be positive, got {llffhold}")
    train = np.array([i for i in range(n) if i % llffhold != 0], int)
  if split == "train":
    return train
  return np.setdiff1d(np.arange(n), train)


def with_extension(path: str) -> str:
  """`path` if it exists, else the first of path + .png/.jpg/.jpeg (either
  case) that does (transforms.json may omit the extension)."""
  if os.path.isfile(path):
    return path
  for ext in IMAGE_EXTENSIONS:
    for candidate in (path + ext, path + ext.upper()):
      if os.path.isfile(candidate):
        return candidate
  raise DatasetError(f"{path}: image file not found" + (
      "" if os.path.splitext(path)[1] else
      f" (nor with {', '.join(IMAGE_EXTENSIONS)} added)"))


def downscaled_path(path: str, factor: int) -> str:
  """The copy of `path` in the sibling folder `<folder>_<factor>`
  (nerfstudio's images_2/4/8 next to images/); `path` for factor <= 1."""
  if factor <= 1:
    return path
  folder, name = os.path.split(path)
  scaled_folder = f"{folder.rstrip(os.sep)}_{factor}"
  if not os.path.isdir(scaled_folder):
    parent = os.path.dirname(scaled_folder) or "."
    base = os.path.basename(folder.rstrip(os.sep))
    present = sorted(d for d in os.listdir(parent)
                     if d.startswith(base + "_") and d[len(base) + 1:].isdigit())
    raise DatasetError(
        f"{scaled_folder}: folder not found for config.factor={factor}"
        + (f"; present: {', '.join(present)}" if present else
           "; make it with process_data.py or set config.factor=1"))
  stem = os.path.splitext(name)[0]
  candidate = os.path.join(scaled_folder, name)
  if os.path.isfile(candidate):
    return candidate
  return with_extension(os.path.join(scaled_folder, stem))


def read_rgb(path: str, white_bkgd: bool) -> np.ndarray:
  """An image as [H, W, 3] float32; RGBA is composited on white or black."""
  image = read_image(path)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, -1)
  if image.ndim != 3 or image.shape[-1] not in (3, 4):
    raise DatasetError(f"{path}: expected an RGB image, got shape "
                       f"{image.shape}")
  if image.shape[-1] == 4:
    rgb, alpha = image[..., :3], image[..., 3:]
    image = rgb * alpha + (1.0 - alpha) * float(white_bkgd)
  return image.astype(np.float32)


def in_view(camtoworld: np.ndarray, fx: float, fy: float, cx: float,
            cy: float, width: int, height: int,
            points: np.ndarray) -> np.ndarray:
  """Indices of the points [P, 3] in front of a pinhole camera and inside
  its image (distortion ignored: this only picks points for bounds)."""
  local = (points - camtoworld[:3, 3]) @ camtoworld[:3, :3]
  z = -local[:, 2]
  safe = np.where(z > 0, z, 1.0)
  u = fx * local[:, 0] / safe + cx
  v = -fy * local[:, 1] / safe + cy
  return np.nonzero((z > 0) & (u >= 0) & (u <= width) & (v >= 0) &
                    (v <= height))[0]


def scene_bounds(posed: PosedImages, transform: np.ndarray,
                 camtoworlds: np.ndarray, config) -> tuple[np.ndarray,
                                                           np.ndarray]:
  """Per-image near/far in the normalised scene: from the sparse points,
  else the capture's bounds, else config.near/far."""
  scale = float(np.cbrt(np.linalg.det(transform[:3, :3])))
  n = len(posed)
  if posed.points is not None and len(posed.points):
    points = normalization.apply_to_points(transform, posed.points)
    visible = posed.visible
    if visible is None:
      visible = [in_view(camtoworlds[i], posed.fx[i], posed.fy[i],
                         posed.cx[i], posed.cy[i], posed.width[i],
                         posed.height[i], points) for i in range(n)]
    try:
      return normalization.depth_bounds(camtoworlds, points, visible)
    except ValueError:
      raise DatasetError(f"{posed.source}: no sparse point lies in front of "
                         "any camera; the poses and points disagree") from None
  if posed.bounds is not None:
    return posed.bounds[:, 0] * scale, posed.bounds[:, 1] * scale
  return np.full(n, float(config.near)), np.full(n, float(config.far))


def build(config, posed: PosedImages, split: str, indices: np.ndarray,
          image_path: Callable[[int, int], str],
          max_images: Optional[int] = None) -> Dataset:
  """The Dataset of images `indices` of `posed` (see the module docstring).

  Args:
    indices: the split's images among all of `posed`.
    image_path: (index, factor) -> file of that image at that downscale.
  Returns:
    A Dataset with `world_from_scene` (the inverse of the normalisation)
    and extras 'poses' [N, 3, 4] (all images, normalised), 'indices',
    'points' (normalised sparse points, or absent), 'point_colours'
    (their [P, 3] colours in [0, 1], absent when the source has none).
  """
  if len(indices) == 0:
    raise DatasetError(f"{posed.source}: the {split!r} split is empty "
                       f"({len(posed)} images)")
  check_posed(posed)
  transform = normalization.normalization_transform(
      posed.camtoworlds, config.orientation_method, config.center_method,
      bool(config.auto_scale_poses), float(config.scene_scale))
  c2w = normalization.apply_to_poses(transform, posed.camtoworlds)
  near, far = scene_bounds(posed, transform, c2w, config)
  indices = np.asarray(indices)[:max_images]
  factor = max(int(config.factor), 1)
  images, fx, fy, cx, cy = [], [], [], [], []
  for i in indices:
    path = image_path(int(i), factor)
    image = read_rgb(path, config.white_bkgd)
    h, w = image.shape[:2]
    sx, sy = w / posed.width[i], h / posed.height[i]
    # Downscaled copies round their size; the aspect must still match.
    if abs(sx - sy) * max(posed.width[i], posed.height[i]) > 1.01 * factor:
      raise DatasetError(
          f"{path}: image is {w}x{h} but {posed.source} gives "
          f"{int(posed.width[i])}x{int(posed.height[i])} for it; the aspect "
          "ratios differ")
    images.append(image)
    # Pixel corners at integers: a box downscale maps x to x * s.
    fx.append(posed.fx[i] * sx)
    fy.append(posed.fy[i] * sy)
    cx.append(posed.cx[i] * sx)
    cy.append(posed.cy[i] * sy)
  cams = cameras_lib.Cameras.create(
      c2w[indices], np.array(fx), [im.shape[1] for im in images],
      [im.shape[0] for im in images], near[indices], far[indices],
      fy=np.array(fy), cx=np.array(cx), cy=np.array(cy),
      distortion=posed.distortion[indices])
  extras = {"poses": c2w.astype(np.float32), "indices": indices,
            "bounds": np.stack([near, far], -1).astype(np.float32)}
  if posed.points is not None:
    extras["points"] = normalization.apply_to_points(
        transform, posed.points).astype(np.float32)
    if posed.colours is not None:
      extras["point_colours"] = np.asarray(posed.colours, np.float32)
  return Dataset(images=images, cameras=cams,
                 names=[posed.names[i] for i in indices],
                 near=float(near[indices].min()),
                 far=float(far[indices].max()), extras=extras,
                 world_from_scene=np.linalg.inv(transform))
