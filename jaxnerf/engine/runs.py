"""What bake.py, view.py and export.py share: a trained run's field
(restored as eval.py restores it) and its training rays."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import numpy as np

from jaxnerf.engine import config as config_lib
from jaxnerf.engine import distill, evaluator, parallel, training
from jaxnerf.data.dataset import Dataset, load_dataset
from jaxnerf.errors import CheckpointError, ConfigError
from jaxnerf.core.rays import Rays

# The scene box of methods without a `scene_bound` field: NeRF's Blender
# scenes lie in [-1.5, 1.5]^3.
DEFAULT_BOUND = 1.5


@dataclasses.dataclass
class Field:
  """A trained run's model: `model.apply(variables, ..., method="density")`
  etc.; the per-camera rows are those of an unseen camera."""

  method: Any
  model: Any
  variables: dict
  step: int


def restore_field(config) -> Field:
  """The latest checkpoint of config.train_dir (a one-line CheckpointError
  without one)."""
  mesh = parallel.make_mesh()
  method, model, state = evaluator.restore_latest(config, mesh)
  variables = parallel.to_host(training.variables_of(state))
  variables["params"] = training.unseen_camera_params(
      method, variables["params"], 1)
  return Field(method=method, model=model,
               variables=jax.tree.map(np.asarray, variables),
               step=int(state.step))


def teacher_config(config):
  """The teacher run's config (config.teacher_config, its train_dir
  config.teacher_dir when set), checked: it loads and its run has a
  checkpoint folder. None without a teacher. One-line errors naming
  the field."""
  if not config.teacher_config:
    return None
  try:
    teacher = config_lib.load_config(config.teacher_config)
  except ConfigError as e:
    raise ConfigError(f"config.teacher_config: "
                      f"{str(e).removeprefix('--config: ')}") from None
  if config.teacher_dir:
    teacher.train_dir = config.teacher_dir
  try:
    evaluator.check_checkpoints(teacher)
  except CheckpointError:
    raise CheckpointError(
        f"config.teacher_dir: no checkpoint in {teacher.train_dir}; train "
        f"the teacher ({config.teacher_config}) first") from None
  return teacher


def teacher_loader(config):
  """For train.py: None without a teacher, else a function restoring the
  teacher (`load_teacher`), its config checked now, before any work."""
  teacher = teacher_config(config)
  if teacher is None:
    return None
  return lambda: load_teacher(config, teacher)


def load_teacher(config, teacher_cfg) -> distill.Teacher:
  """The teacher run of `config` (whose config is `teacher_cfg`) as a
  distill.Teacher over the student's scene box, with its occupied cells
  measured."""
  try:
    field = restore_field(teacher_cfg)
  except CheckpointError as e:  # its config builds another model
    raise CheckpointError(f"config.teacher_config ({config.teacher_config})"
                          f": {e}") from None
  model = field.model
  density = lambda v, p: model.apply(v, p, method="density")
  radiance = lambda v, p, d: model.apply(v, p, d, method="radiance")
  variables = jax.tree.map(jax.numpy.asarray, field.variables)
  bound = scene_bound(config)
  cells = distill.occupied_cells(
      jax.jit(lambda p: density(variables, p)),
      config.distill_occupancy_resolution, bound, config.distill_alpha_step,
      config.distill_occupancy_threshold)
  return distill.Teacher(density=density, radiance=radiance,
                         variables=variables, cells=cells,
                         resolution=config.distill_occupancy_resolution,
                         bound=bound, step=field.step)


def scene_bound(config, override: float = 0.0) -> float:
  """The scene box half-size: the flag, else the config's `scene_bound`,
  else DEFAULT_BOUND. NDC (forward-facing) scenes have no bounded box."""
  if config.dataset_type == "llff" and not config.spherify:
    raise ConfigError("config.dataset_type: forward-facing (NDC) scenes "
                      "cannot be baked or exported; use a bounded scene "
                      "(blender, multiscale or llff with spherify)")
  if override > 0:
    return float(override)
  return float(config.get("scene_bound", DEFAULT_BOUND))


def training_rays(config, stride: int = 1) -> tuple[Dataset, Rays,
                                                    np.ndarray]:
  """The training split, every `stride`-th of its rays flattened (host
  Rays [N]) and their colours [N, 3]."""
  dataset = load_dataset(config, "train")
  rays = [dataset.image_rays(i) for i in range(len(dataset))]
  flat = jax.tree.map(lambda *xs: np.concatenate(
      [x.reshape(-1, x.shape[-1]) for x in xs])[::stride], *rays)
  rgb = np.concatenate([im.reshape(-1, 3) for im in dataset.images])
  return dataset, flat, rgb[::stride].astype(np.float32)


# Layouts with a file per split: the split exists when its file does.
SPLIT_FILES = {"blender": "transforms_{split}.json",
               "dnerf": "transforms_{split}.json"}


def split_exists(config, split: str) -> bool:
  """Whether `split` of config.data_dir has views of its own, without
  loading it: for Blender and D-NeRF scenes, its transforms_<split>.json
  exists; for multiscale scenes, metadata.json names it; the other
  layouts (llff, nerfstudio, colmap, nerfies) hold a split out of one list
  of images, so it exists and a failure to load it is a real error."""
  if split == "train":
    return True
  pattern = SPLIT_FILES.get(config.dataset_type)
  if pattern is not None:
    return os.path.isfile(os.path.join(config.data_dir,
                                       pattern.format(split=split)))
  if config.dataset_type == "multiscale":
    path = os.path.join(config.data_dir, "metadata.json")
    try:
      with open(path, "rb") as f:
        meta = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):  # the loader reports it, naming the file
      return True
    return not isinstance(meta, dict) or split in meta
  return True


def named_views(config) -> dict[str, Dataset]:
  """The views a viewer offers by name: the training split, and
  config.eval_split where it exists (`split_exists`; a scene without one
  still has its training views). Errors loading an existing split are
  raised (one-line DatasetErrors)."""
  views = {"train": load_dataset(config, "train")}
  if config.eval_split != "train" and split_exists(config,
                                                   config.eval_split):
    views[config.eval_split] = load_dataset(config, config.eval_split)
  return views
