"""D-NeRF's dynamic Blender scenes: transforms_{train,val,test}.json whose
frames carry a capture `time` in [0, 1], plus the images (RGBA, or RGB
already on a background).

Everything but the time is the Blender layout (`jaxnerf.data.loaders.blender`);
the time of each frame becomes its camera's `time`, which every ray of the
image carries.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Optional

import numpy as np

from jaxnerf.data.loaders import blender
from jaxnerf.data.dataset import Dataset
from jaxnerf.errors import DatasetError


def read_times(meta: dict, path: str) -> np.ndarray:
  """The `time` of every frame of a transforms file: [num_frames] float64.

  Raises:
    DatasetError: a frame without a time, or a time that is not a number in
      [0, 1] (naming the file and the frame).
  """
  times = []
  for i, frame in enumerate(meta["frames"]):
    where = f"{path}: frames[{i}] ({frame.get('file_path', '?')})"
    if "time" not in frame:
      raise DatasetError(f"{where} has no 'time'; every frame of a dnerf "
                         "scene needs a time in [0, 1]")
    time = frame["time"]
    if isinstance(time, bool) or not isinstance(time, numbers.Real):
      raise DatasetError(f"{where}: time {time!r} is not a number")
    if not math.isfinite(time):
      raise DatasetError(f"{where}: time is {float(time)}; it must be finite")
    if not 0.0 <= float(time) <= 1.0:
      raise DatasetError(f"{where}: time {time} is outside [0, 1]")
    times.append(float(time))
  return np.asarray(times, np.float64)


def load(config, split: str, max_images: Optional[int] = None) -> Dataset:
  if not os.path.isdir(config.data_dir):
    raise DatasetError(f"config.data_dir: {config.data_dir!r} is not a "
                       "directory")
  path = os.path.join(config.data_dir, f"transforms_{split}.json")
  times = read_times(blender.read_transforms(path), path)[:max_images]
  dataset = blender.load(config, split, max_images=max_images)
  dataset.cameras = dataset.cameras.replace(time=times)
  return dataset
