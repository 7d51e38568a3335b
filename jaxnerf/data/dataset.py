"""The dataset type every loader returns, and the dispatch by type.

A loader is a module `jaxnerf/data/loaders/<dataset_type>.py` with a function
`load(config, split, max_images=None) -> Dataset`; `load_dataset` imports
it by name (so a loader that fails to import shows its own error).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import numbers
import os
import pkgutil
from typing import Optional

import numpy as np

from jaxnerf.core import cameras as cameras_lib, poses
from jaxnerf.core.cameras import Cameras, Pixels
from jaxnerf.data import labels as label_lib
from jaxnerf.errors import ConfigError, DatasetError
from jaxnerf.core.rays import Rays


@dataclasses.dataclass
class Dataset:
  """One split of a scene, held on the host.

  Images may differ in size (multiscale data), so per-image arrays are lists.
  Image i is seen by camera i.

  Attributes:
    images: list of [H_i, W_i, 3] float32 in [0, 1], background composited.
    cameras: Cameras of the images (numpy), one per image.
    names: file stems, used to name rendered outputs.
    near, far: scene bounds of the rays (0, 1 in NDC), for depth maps.
    lossmult: [N] float32 loss weight of each image's pixels (multiscale
      data: the pixel's area in full-resolution pixels; else 1).
    depths: optional list of [H_i, W_i] ground-truth depth (distance along
      the camera z axis) with 0 where there is no surface.
    extras: loader-specific metadata (e.g. per-image scale of multiscale data).
    true_camtoworlds: [N, 3, 4] the scene's poses when `cameras` hold
      corrupted ones (config.pose_noise / pose_init); else None.
    world_from_scene: optional [4, 4] similarity from the coordinates the
      cameras are in (a loader's normalised scene) back to the capture's own
      frame (e.g. its SfM world); None: they are the same. The trainer
      records it with the run (scene.json) for exports and render paths.
    labels: optional list of [H_i, W_i] int32 class ids per pixel, -1 where
      a pixel has no label (jaxnerf.data.labels; loaded where the config
      has `num_classes`): what training fits, corrupted in the training
      split by the config's label_* fields.
    true_labels: the labels before that corruption (what they are scored
      against); None where they were not corrupted.
    ray_bounds: optional list of [H_i, W_i, 2] per-ray (near, far) in the
      rays' t, replacing the cameras' (a depth prior's sampling ranges:
      jaxnerf.data.depth_prior).
  """

  images: list[np.ndarray]
  cameras: Cameras
  names: list[str]
  near: float
  far: float
  lossmult: Optional[np.ndarray] = None
  depths: Optional[list[np.ndarray]] = None
  extras: dict = dataclasses.field(default_factory=dict)
  true_camtoworlds: Optional[np.ndarray] = None
  world_from_scene: Optional[np.ndarray] = None
  labels: Optional[list[np.ndarray]] = None
  true_labels: Optional[list[np.ndarray]] = None
  ray_bounds: Optional[list[np.ndarray]] = None

  def __post_init__(self):
    if self.lossmult is None:
      self.lossmult = np.ones(len(self.images), np.float32)
    if len(self.cameras) != len(self.images):
      raise ValueError(f"{len(self.images)} images but {len(self.cameras)} "
                       "cameras")

  def __len__(self) -> int:
    return len(self.images)

  @property
  def ndc(self) -> bool:
    return self.cameras.ndc

  @property
  def camtoworlds(self) -> np.ndarray:
    """[N, 3, 4] camera-to-world matrices."""
    return self.cameras.camtoworlds

  @property
  def reference_camtoworlds(self) -> np.ndarray:
    """[N, 3, 4] the true poses: what pose estimates are scored against."""
    if self.true_camtoworlds is not None:
      return self.true_camtoworlds
    return self.cameras.camtoworlds

  # The first camera's intrinsics (the full-resolution one in multiscale
  # data) are those of render paths.
  @property
  def height(self) -> int:
    return int(self.cameras.height[0])

  @property
  def width(self) -> int:
    return int(self.cameras.width[0])

  @property
  def focal(self) -> float:
    return float(self.cameras.fx[0])

  def pixels(self, i: int) -> Pixels:
    """Every pixel of image i: Pixels [H_i, W_i]."""
    return cameras_lib.pixel_grid(int(self.cameras.width[i]),
                                  int(self.cameras.height[i]), i,
                                  float(self.lossmult[i]))

  def image_rays(self, i: int) -> Rays:
    """Rays through every pixel of image i: Rays [H_i, W_i] (host)."""
    rays = cameras_lib.image_rays(self.cameras, i, float(self.lossmult[i]))
    if self.ray_bounds is None:
      return rays
    bounds = self.ray_bounds[i]
    return rays.replace(near=bounds[..., :1], far=bounds[..., 1:])

  @property
  def rays(self) -> list[Rays]:
    """Rays [H_i, W_i] of every image (computed on each access)."""
    return [self.image_rays(i) for i in range(len(self))]

  def subset(self, indices) -> "Dataset":
    """The images at `indices`, with their cameras re-indexed from 0."""
    indices = [int(i) for i in indices]
    pick = lambda xs: None if xs is None else [xs[i] for i in indices]
    return dataclasses.replace(
        self, images=pick(self.images),
        cameras=self.cameras.take(np.asarray(indices)),
        names=pick(self.names), lossmult=self.lossmult[indices],
        depths=pick(self.depths), labels=pick(self.labels),
        true_labels=pick(self.true_labels), ray_bounds=pick(self.ray_bounds),
        true_camtoworlds=(None if self.true_camtoworlds is None else
                          self.true_camtoworlds[indices]))


def available() -> list[str]:
  """The dataset types: the loader modules of this package."""
  folder = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "loaders")
  return sorted(m.name for m in pkgutil.iter_modules([folder])
                if not m.name.startswith("_"))


def load_dataset(config, split: str,
                 max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of `config.data_dir` with the loader `config.dataset_type`.

  `max_images` keeps only the first images of the split (for previews).
  """
  name = config.dataset_type
  module_name = f"jaxnerf.data.loaders.{name}"
  if (not name or name.startswith("_") or
      not name.isidentifier() or
      importlib.util.find_spec(module_name) is None):
    raise ConfigError(f"config.dataset_type: unknown dataset type {name!r}; "
                      f"known: {available()}")
  if "num_classes" in config:  # a method with a semantic head
    label_lib.check_fields(config)
  prior = "depth_prior_topk" in config  # NerfingMVS's per-ray ranges
  if prior:
    from jaxnerf.data import depth_prior  # scipy only where it is used
    depth_prior.check(config)
  dataset = importlib.import_module(module_name).load(config, split,
                                                      max_images=max_images)
  if prior:
    dataset = depth_prior.attach(config, split, dataset)
  dataset = miscalibrate(dataset, config.focal_error)
  if split == "train":
    dataset = corrupt_poses(dataset, config.pose_init, config.pose_noise,
                            config.seed, config.pose_noise_frame)
    dataset = corrupt_labels(dataset, config)
  return dataset


def corrupt_labels(dataset: Dataset, config) -> Dataset:
  """The dataset with its labels corrupted by the config's label_* fields
  (jaxnerf.data.labels.corrupt; the clean ones kept as true_labels)."""
  if dataset.labels is None or not label_lib.is_corrupting(config):
    return dataset
  return dataclasses.replace(
      dataset, labels=label_lib.corrupt(dataset.labels, config, config.seed),
      true_labels=dataset.labels)


def miscalibrate(dataset: Dataset, focal_error: float) -> Dataset:
  """The dataset with its focal lengths scaled by 1 + focal_error.

  Raises:
    ConfigError: focal_error <= -1 (no positive focal length).
  """
  if focal_error <= -1:
    raise ConfigError(f"config.focal_error: must be > -1, got {focal_error}")
  if focal_error == 0:
    return dataset
  scale = 1.0 + focal_error
  cameras = dataset.cameras
  return dataclasses.replace(dataset, cameras=cameras.replace(
      fx=cameras.fx * scale, fy=cameras.fy * scale))


POSE_INITS = ("given", "identity")


def corrupt_poses(dataset: Dataset, pose_init: str, pose_noise: float,
                  seed: int, pose_noise_frame: str = "world") -> Dataset:
  """The dataset with the poses a pose-estimation experiment starts from.

  pose_init "identity" puts every camera at the origin looking down -z
  (BARF on LLFF); pose_noise > 0 then moves each camera by BARF's noise
  (`poses.perturb`, seeded, in the world frame as BARF or, with
  pose_noise_frame "camera", in each camera's own). The true poses go to
  `true_camtoworlds`.
  Noise drawn for N cameras is the first N rows of a longer draw, so the
  first images get the same noise with or without `max_images`.

  Raises:
    ConfigError: an unknown pose_init or pose_noise_frame, or a negative
      pose_noise.
  """
  if pose_init not in POSE_INITS:
    raise ConfigError(f"config.pose_init: unknown {pose_init!r}; known: "
                      f"{list(POSE_INITS)}")
  if pose_noise < 0:
    raise ConfigError(f"config.pose_noise: must be >= 0, got {pose_noise}")
  if pose_noise_frame not in poses.FRAMES:
    raise ConfigError(f"config.pose_noise_frame: unknown {pose_noise_frame!r}"
                      f"; known: {list(poses.FRAMES)}")
  if pose_init == "given" and pose_noise == 0:
    return dataset
  true = np.asarray(dataset.camtoworlds, np.float64)
  start = true
  if pose_init == "identity":
    start = np.tile(np.eye(3, 4), (len(dataset), 1, 1))
  if pose_noise > 0:
    start = poses.perturb(start, pose_noise, seed, pose_noise_frame)
  cameras = dataset.cameras.replace(
      camtoworlds=start.astype(dataset.cameras.camtoworlds.dtype))
  return dataclasses.replace(dataset, cameras=cameras,
                             true_camtoworlds=true.astype(np.float32))


def check_same_size(images: list[np.ndarray], paths: list[str]) -> None:
  """Raises DatasetError naming the first image whose size differs."""
  for image, path in zip(images, paths):
    if image.shape[:2] != images[0].shape[:2]:
      raise DatasetError(
          f"{path}: image is {image.shape[1]}x{image.shape[0]} but "
          f"{paths[0]} is {images[0].shape[1]}x{images[0].shape[0]}; all "
          "images of a split must have the same size")


# Reading and checking the fields of metadata files. Every loader reads its
# input through these, so a bad file is one line naming the file and field.


def one_line(error: BaseException) -> str:
  """An exception's message as one line: its first non-empty line (some
  libraries' messages, imageio's say, run over several), else its type."""
  for line in str(error).splitlines():
    if line.strip():
      return line.strip()
  return type(error).__name__


def brief(value, limit: int = 40) -> str:
  """repr(value), cut to `limit` characters (a whole list can be long)."""
  text = repr(value)
  return text if len(text) <= limit else text[:limit - 3] + "..."


def read_json(path: str):
  """The JSON value of the file at `path`.

  Raises:
    DatasetError: the file is missing or unreadable, not UTF-8 (or UTF-16/32
      with a BOM, which json detects), malformed JSON, or nested deeper than
      Python's recursion limit.
  """
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: file not found")
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise DatasetError(f"{path}: cannot read ({one_line(e)})") from None
  try:
    return json.loads(data)
  except UnicodeDecodeError as e:
    raise DatasetError(f"{path}: malformed JSON (not UTF-8 text: "
                       f"{one_line(e)})") from None
  except json.JSONDecodeError as e:
    raise DatasetError(f"{path}: malformed JSON ({one_line(e)})") from None
  except RecursionError:
    raise DatasetError(f"{path}: malformed JSON (nested too deeply)") from None


def number(value, path: str, field: str, minimum: Optional[float] = None,
           strict: bool = False) -> float:
  """A JSON number as a finite float, checked against `minimum` (inclusive,
  or exclusive with strict=True).

  Raises:
    DatasetError: not a number (a string, a bool, null, a list), NaN or
      infinite, or out of range, naming `path` and `field`.
  """
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise DatasetError(f"{path}: {field} must be a number, got "
                       f"{brief(value)}")
  out = float(value)
  if not np.isfinite(out):
    raise DatasetError(f"{path}: {field} is {out}; it must be finite")
  if minimum is not None and (out < minimum or strict and out == minimum):
    raise DatasetError(f"{path}: {field} must be "
                       f"{'>' if strict else '>='} {minimum:g}, got {out:g}")
  return out


def integer(value, path: str, field: str, minimum: int = 0) -> int:
  """A JSON whole number (1 or 1.0) >= minimum, as an int."""
  out = number(value, path, field, minimum)
  if out != int(out):
    raise DatasetError(f"{path}: {field} must be a whole number, got {out:g}")
  return int(out)


def matrix(value, path: str, field: str,
           shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
  """A JSON array of numbers of one of `shapes`, finite, as float64.

  Raises:
    DatasetError: ragged rows, entries that are not numbers, another shape,
      or NaN / infinite entries (null reads as NaN), naming `path`, `field`.
  """
  expected = " or ".join("x".join(map(str, s)) for s in shapes)
  if isinstance(value, str):
    array = None
  else:
    try:
      array = np.asarray(value, np.float64)
    except (TypeError, ValueError):
      array = None
  if array is None:
    raise DatasetError(f"{path}: {field} must be a {expected} array of "
                       f"numbers, got {brief(value)}")
  if array.shape not in shapes:
    raise DatasetError(f"{path}: {field} must be {expected}, got shape "
                       f"{'x'.join(map(str, array.shape)) or 'scalar'}")
  if not np.all(np.isfinite(array)):
    raise DatasetError(f"{path}: {field} has NaN, infinite or null entries")
  return array
