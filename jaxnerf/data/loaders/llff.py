"""LLFF forward-facing scenes: poses_bounds.npy plus images_<factor>/.

Follows JaxNeRF's `LLFF` dataset (itself NeRF's load_llff.py): reorder the
rotation from LLFF's [down, right, back] to OpenGL's [right, up, back],
rescale so the nearest bound is 1 / 0.75, recentre on the average pose,
optionally spherify (360-degree captures), hold out every llffhold-th image,
and warp rays into NDC unless spherified. Where the scene has the COLMAP
model its poses came from (`sparse/0`, as the NeRF authors' release), its
points come too, moved into the loaded frame (initialisers: splats' "sfm").
"""

from __future__ import annotations

import os
import re
import tokenize
from typing import Optional

import numpy as np

from jaxnerf.core import cameras
from jaxnerf.data import colmap_model
from jaxnerf.data import images as images_lib
from jaxnerf.data.dataset import Dataset, check_same_size, one_line
from jaxnerf.errors import DatasetError
from jaxnerf.data.images import read_image

BD_FACTOR = 0.75  # the nearest bound becomes 1 / BD_FACTOR
ROTATION_TOLERANCE = 1e-3
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
NPY_MAGIC = b"\x93NUMPY"
# What np.load raises for a corrupt .npy that starts with the magic, found by
# truncating and bit-flipping one: ValueError (short reads, bad headers,
# object arrays), EOFError (a short header), SyntaxError and
# tokenize.TokenError (a garbled header dict), OSError (unreadable).
NPY_ERRORS = (ValueError, EOFError, SyntaxError, tokenize.TokenError,
              OSError)


def read_poses_bounds(path: str) -> tuple[np.ndarray, np.ndarray]:
  """Reads and validates an LLFF poses_bounds.npy.

  Returns:
    poses: [N, 3, 5] float64, LLFF's [down, right, back, position, hwf]
      columns, hwf = (height, width, focal) of the original images.
    bounds: [N, 2] float64 near/far depths.
  """
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: file not found")
  # np.load would take other bytes for a pickle (and suggest loading it
  # unsafely) or a zip (.npz): check the .npy magic first.
  try:
    with open(path, "rb") as f:
      magic = f.read(len(NPY_MAGIC))
    arr = np.load(path, allow_pickle=False) if magic == NPY_MAGIC else None
  except NPY_ERRORS as e:
    raise DatasetError(f"{path}: cannot read ({one_line(e)})") from None
  if arr is None:
    raise DatasetError(f"{path}: cannot read (not a .npy file: it does not "
                       "start with the NumPy magic bytes)")
  if arr.ndim != 2 or arr.shape[1] != 17 or arr.shape[0] == 0:
    raise DatasetError(f"{path}: expected shape [N, 17] (a 3x5 pose and "
                       f"near/far bounds per image), got {arr.shape}")
  if not (np.issubdtype(arr.dtype, np.floating) or
          np.issubdtype(arr.dtype, np.integer)):
    raise DatasetError(f"{path}: expected numbers, got dtype {arr.dtype}")
  arr = arr.astype(np.float64)
  if not np.all(np.isfinite(arr)):
    raise DatasetError(f"{path}: contains NaN or infinite values")
  poses = arr[:, :15].reshape(-1, 3, 5)
  bounds = arr[:, 15:]
  if np.any(bounds <= 0):
    raise DatasetError(f"{path}: near/far bounds must be positive, got min "
                       f"{bounds.min()}")
  if np.any(poses[:, :, 4] <= 0):
    raise DatasetError(f"{path}: the hwf column (height, width, focal) must "
                       "be positive")
  rotations = poses[:, :, :3]
  error = np.abs(np.einsum("nji,njk->nik", rotations, rotations) -
                 np.eye(3)).max(axis=(1, 2))
  # COLMAP's (imgs2poses) are orthonormal to ~1e-15; 1e-3 allows float32.
  if np.any(error > ROTATION_TOLERANCE):
    i = int(np.argmax(error > ROTATION_TOLERANCE))
    raise DatasetError(f"{path}: pose {i}'s rotation columns are not "
                       f"orthonormal (|R^T R - I| = {error[i]:.3g})")
  return poses, bounds


def image_dir(data_dir: str, factor: int) -> str:
  """`images_<factor>/` (`images/` for factor 0 or 1), which must exist."""
  name = "images" if factor <= 1 else f"images_{factor}"
  path = os.path.join(data_dir, name)
  if not os.path.isdir(path):
    found = sorted((d for d in os.listdir(data_dir)
                    if re.fullmatch(r"images(_\d+)?", d)
                    and os.path.isdir(os.path.join(data_dir, d))),
                   key=lambda d: int(d[7:] or 1))
    factors = [d[7:] or "1" for d in found]
    raise DatasetError(
        f"{path}: image folder not found for config.factor={factor}; "
        + (f"folders present: {', '.join(found)} (config.factor "
           f"{', '.join(factors)})" if found else f"{data_dir} has no images "
           "or images_<factor> folder"))
  return path


def list_images(folder: str) -> list[str]:
  """PNG/JPG files of `folder`, sorted by name."""
  return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
          if f.lower().endswith(IMAGE_EXTENSIONS)
          and not f.startswith(".")]


def image_size(path: str) -> tuple[int, int]:
  """(height, width) of an image file, from its header."""
  return images_lib.image_size(path)


def reorder_poses(poses: np.ndarray) -> np.ndarray:
  """LLFF [down, right, back] rotation columns to OpenGL [right, up, back].

  Args:
    poses: [N, 3, >=3]; columns past the third are kept.
  Returns:
    Same shape: columns (right = col1, up = -col0, back = col2, ...).
  """
  return np.concatenate([poses[:, :, 1:2], -poses[:, :, 0:1], poses[:, :, 2:]],
                        axis=2)


def recenter_poses(poses: np.ndarray) -> np.ndarray:
  """Maps the average pose to the identity (NeRF's `recenter_poses`).

  Args:
    poses: [N, 3, 4].
  Returns:
    [N, 3, 4] float64: inv(average_pose) @ pose.
  """
  bottom = np.array([[0.0, 0.0, 0.0, 1.0]])
  c2w = np.concatenate([cameras.average_pose(poses), bottom], axis=0)
  poses44 = np.concatenate(
      [poses[:, :3, :4], np.broadcast_to(bottom, (len(poses), 1, 4))], axis=1)
  return (np.linalg.inv(c2w) @ poses44)[:, :3, :4]


def spherify_poses(poses: np.ndarray,
                   bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """NeRF's `spherify_poses` without the render path.

  Moves the origin to the point closest to all optical axes, points world z
  from it towards the mean camera centre, and scales so the cameras' RMS
  distance from the origin is 1.

  Args:
    poses: [N, 3, 4]; bounds: [N, 2].
  Returns:
    (poses [N, 3, 4], bounds [N, 2]), rescaled with the same factor.
  """
  rays_d = poses[:, :3, 2:3]
  rays_o = poses[:, :3, 3:4]
  a_i = np.eye(3) - rays_d * np.transpose(rays_d, [0, 2, 1])
  b_i = -a_i @ rays_o
  center = np.squeeze(-np.linalg.inv(
      (np.transpose(a_i, [0, 2, 1]) @ a_i).mean(0)) @ b_i.mean(0))
  vec0 = cameras.normalize((poses[:, :3, 3] - center).mean(0))
  vec1 = cameras.normalize(np.cross([0.1, 0.2, 0.3], vec0))
  vec2 = cameras.normalize(np.cross(vec0, vec1))
  c2w = np.concatenate([np.stack([vec1, vec2, vec0, center], 1),
                        [[0.0, 0.0, 0.0, 1.0]]], axis=0)
  bottom = np.broadcast_to([[0.0, 0.0, 0.0, 1.0]], (len(poses), 1, 4))
  poses = (np.linalg.inv(c2w) @ np.concatenate([poses[:, :3, :4], bottom],
                                               axis=1))[:, :3, :4]
  scale = 1.0 / np.sqrt(np.mean(np.sum(np.square(poses[:, :3, 3]), -1)))
  poses[:, :3, 3] *= scale
  return poses, bounds * scale


def scene_similarity(before: np.ndarray, after: np.ndarray
                     ) -> tuple[float, np.ndarray, np.ndarray]:
  """(s, R [3, 3], t [3]) such that the cameras `after` are `before` moved
  by the similarity x -> s R x + t of the world (the loader's rescale,
  recentre and spherify are such moves): R from the orientations (the
  rotation nearest their mean), s and t from the centres.

  Args:
    before, after: [N, 3, 4] camera-to-world, the same cameras, N >= 2
      at different centres.
  """
  u, _, vt = np.linalg.svd(np.einsum("nij,nkj->ik", after[:, :3, :3],
                                     before[:, :3, :3]))
  rot = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
  spread = lambda c: np.sqrt(np.mean(np.sum(np.square(c - c.mean(0)), -1)))
  c_before, c_after = before[:, :3, 3], after[:, :3, 3]
  scale = float(spread(c_after) / spread(c_before))
  return scale, rot, c_after.mean(0) - scale * rot @ c_before.mean(0)


def sparse_points(data_dir: str, before: np.ndarray, after: np.ndarray
                  ) -> Optional[tuple[np.ndarray, np.ndarray]]:
  """The scene's COLMAP points (`sparse/0` or `sparse`) in the loaded frame:
  ([P, 3] xyz, [P, 3] colours in [0, 1]); None without a model or points.

  poses_bounds.npy holds COLMAP's camera-to-world in COLMAP's world frame
  (LLFF's imgs2poses only permutes the camera axes), so the similarity
  that took those cameras (`before`, axes reordered) to the loaded ones
  (`after`) takes the points there too.

  Raises:
    DatasetError: a malformed model (named), or cameras that share one
      centre (nothing to scale the points by).
  """
  folder = colmap_model.find_model(os.path.join(data_dir, "sparse"))
  if folder is None:
    return None
  model = colmap_model.read_model(folder)
  if not len(model.points):
    return None
  centres = before[:, :3, 3]
  if len(centres) < 2 or not np.ptp(centres, axis=0).max() > 0:
    raise DatasetError(f"{folder}: poses_bounds.npy's cameras share one "
                       "centre, so its points cannot be placed in the "
                       "loaded frame")
  scale, rot, shift = scene_similarity(before, after)
  xyz = scale * np.asarray(model.points, np.float64) @ rot.T + shift
  return (xyz.astype(np.float32),
          (np.asarray(model.colors, np.float32) / 255.0))


def split_indices(n: int, llffhold: int, split: str) -> np.ndarray:
  """Every llffhold-th image (i % llffhold == 0) is test, the rest train."""
  indices = np.arange(n)
  if split == "train":
    return indices[indices % llffhold != 0]
  if split in ("test", "val"):
    return indices[indices % llffhold == 0]
  raise DatasetError(f"split: unknown split {split!r} for LLFF data; "
                     "expected 'train' or 'test'")


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of the LLFF scene in `config.data_dir`.

  Uses config.factor (images_<factor>/), config.llffhold and
  config.spherify; config.near/far and white_bkgd are ignored.
  `max_images` keeps only the first images of the split (for previews).

  Returns:
    A Dataset with NDC rays (near 0, far 1) or, when spherified, ordinary
    rays with near = 0.9 * min bound and far = max bound. `extras` holds
    'poses' [N, 3, 4] and 'bounds' [N, 2] of all N images (recentred and
    rescaled, for `cameras.spiral_path`), 'indices' of this split's images
    within them, 'pose_scale' (world units per poses_bounds.npy unit,
    before spherify) and 'spherify'. (Not 'scale': that key is per image,
    the multiscale datasets' level, which eval.py reports per scale.)
    With a COLMAP model in `sparse/0`: 'points' [P, 3] in the loaded frame
    and 'point_colours' [P, 3] in [0, 1] (`sparse_points`).
  """
  data_dir = config.data_dir
  if not os.path.isdir(data_dir):
    raise DatasetError(f"config.data_dir: {data_dir!r} is not a directory")
  llffhold = int(config.llffhold)
  if llffhold <= 0:
    raise DatasetError(f"config.llffhold: must be positive, got {llffhold}")
  pb_path = os.path.join(data_dir, "poses_bounds.npy")
  poses, bounds = read_poses_bounds(pb_path)
  factor = int(config.factor)
  folder = image_dir(data_dir, factor)
  paths = list_images(folder)
  if len(paths) != len(poses):
    raise DatasetError(
        f"{pb_path}: has {len(poses)} poses but {folder} has {len(paths)} "
        "PNG/JPG images; they must match one to one (in name order)")

  indices = split_indices(len(poses), llffhold, split)
  if len(indices) == 0:
    raise DatasetError(f"config.llffhold: {llffhold} leaves no {split!r} "
                       f"images out of {len(poses)}")
  indices = indices[:max_images]
  # Sizes of all images from their headers (cheap), so that both splits see
  # the same size; then only this split's images are decoded.
  sizes = [image_size(p) for p in paths]
  for p, size in zip(paths, sizes):
    if size != sizes[0]:
      raise DatasetError(
          f"{p}: image is {size[1]}x{size[0]} but {paths[0]} is "
          f"{sizes[0][1]}x{sizes[0][0]}; all images must have the same size")
  images, image_paths = [], []
  for i in indices:
    image = read_image(paths[i])
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
      raise DatasetError(f"{paths[i]}: expected an RGB image, got shape "
                         f"{image.shape}")
    images.append(image[..., :3])
    image_paths.append(paths[i])
  check_same_size(images, image_paths)
  height, width = images[0].shape[:2]

  # The hwf column is for the original images; scale focal to ours.
  hwf = poses[0, :, 4]
  if abs(height - hwf[0] * width / hwf[1]) > 1.0:
    raise DatasetError(
        f"{paths[0]}: image is {width}x{height} but the hwf column of "
        f"{pb_path} says the originals are {hwf[1]:g}x{hwf[0]:g}; the aspect "
        "ratios differ")
  focal = float(hwf[2] * width / hwf[1])

  poses = reorder_poses(poses)[:, :, :4]
  world_poses = poses.copy()
  scale = 1.0 / (bounds.min() * BD_FACTOR)
  poses[:, :, 3] *= scale
  bounds = bounds * scale
  try:
    poses = recenter_poses(poses)
  except np.linalg.LinAlgError:
    raise DatasetError(f"{pb_path}: the average of these poses has no "
                       "orientation (view directions that cancel out, or up "
                       "along the view); cannot recentre") from None
  if config.spherify:
    try:
      poses, bounds = spherify_poses(poses, bounds)
    except np.linalg.LinAlgError:
      raise DatasetError(
          f"{pb_path}: config.spherify needs converging optical axes; these "
          "are parallel (no point closest to all of them)") from None
    near, far, ndc = float(bounds.min() * 0.9), float(bounds.max()), False
  elif not config.get("llff_ndc", True):
    # Pinhole cameras in the recentred frame (rasterisers cannot use NDC).
    near, far, ndc = float(bounds.min() * 0.9), float(bounds.max()), False
  else:
    near, far, ndc = 0.0, 1.0, True
  # Finite inputs can still overflow (bounds near 0 scale by 1 / bound) or
  # average to no direction (cameras facing opposite ways).
  if not (np.all(np.isfinite(poses)) and np.all(np.isfinite(bounds))):
    raise DatasetError(
        f"{pb_path}: rescaling and recentring these poses gives NaN or "
        "infinite cameras (bounds too near 0, or view directions that "
        "average to none)")

  cams = cameras.Cameras.create(poses[indices], focal, width, height, near,
                                far, ndc=ndc)
  extras = {"poses": poses.astype(np.float32),
            "bounds": bounds.astype(np.float32), "indices": indices,
            "pose_scale": float(scale), "spherify": bool(config.spherify)}
  points = sparse_points(data_dir, world_poses, poses)
  if points is not None:
    extras["points"], extras["point_colours"] = points
  return Dataset(
      images=[im.astype(np.float32) for im in images], cameras=cams,
      names=[os.path.splitext(os.path.basename(p))[0] for p in image_paths],
      near=near, far=far, extras=extras)
