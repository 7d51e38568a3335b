"""The dataset type shared by all loaders, and the dispatch by type."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from jaxnerf.errors import DatasetError
from jaxnerf.rays import Rays


@dataclasses.dataclass
class Dataset:
  """One split of a scene, held on the host.

  Images may differ in size (multiscale data), so per-image arrays are lists.

  Attributes:
    images: list of [H_i, W_i, 3] float32 in [0, 1], background composited.
    rays: list of Rays with leading shape [H_i, W_i].
    names: file stems, used to name rendered outputs.
    camtoworlds: [N, 3, 4] float32.
    focal: focal length in pixels of the full-size images.
    height, width: size of the full-size images.
    near, far: scene bounds used for the rays (0, 1 in NDC).
    depths: optional list of [H_i, W_i] ground-truth depth (distance along
      the camera z axis) with 0 where there is no surface.
    extras: loader-specific metadata (e.g. per-image scale of multiscale data).
  """

  images: list[np.ndarray]
  rays: list[Rays]
  names: list[str]
  camtoworlds: np.ndarray
  focal: float
  height: int
  width: int
  near: float
  far: float
  ndc: bool = False
  depths: Optional[list[np.ndarray]] = None
  extras: dict = dataclasses.field(default_factory=dict)

  def __len__(self) -> int:
    return len(self.images)


_LOADERS: dict[str, Callable[..., Dataset]] = {}


def register(name: str):
  def wrap(fn):
    _LOADERS[name] = fn
    return fn
  return wrap


def load_dataset(config, split: str,
                 max_images: Optional[int] = None) -> Dataset:
  """Loads `split` of `config.data_dir` with the loader `config.dataset_type`.

  `max_images` keeps only the first images of the split (for previews).
  """
  # Imported for their registration side effect.
  from jaxnerf.datasets import blender  # noqa: F401
  try:
    from jaxnerf.datasets import llff  # noqa: F401
  except ImportError:
    pass
  try:
    from jaxnerf.datasets import multiscale  # noqa: F401
  except ImportError:
    pass
  if config.dataset_type not in _LOADERS:
    raise DatasetError(
        f"config.dataset_type: unknown dataset type {config.dataset_type!r}; "
        f"known: {sorted(_LOADERS)}")
  return _LOADERS[config.dataset_type](config, split, max_images=max_images)


def check_same_size(images: list[np.ndarray], paths: list[str]) -> None:
  """Raises DatasetError naming the first image whose size differs."""
  for image, path in zip(images, paths):
    if image.shape[:2] != images[0].shape[:2]:
      raise DatasetError(
          f"{path}: image is {image.shape[1]}x{image.shape[0]} but "
          f"{paths[0]} is {images[0].shape[1]}x{images[0].shape[0]}; all "
          "images of a split must have the same size")
