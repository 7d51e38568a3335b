"""The contract between the engine and a method (a paper).

A method is a module `jaxnerf/methods/<name>.py` (or any importable module,
named in full in `config.method`) that ends with one `METHOD = Method(...)`.
The training and evaluation loops know only this contract:

* `fields()`: the method's own config fields with their defaults, and
  `engine_defaults`: engine fields it sets differently (learning rate,
  batch size, ...). `config.method_config(name)` merges them; an override of
  a field the method does not have is an error.
* `build_model(config, scene)`: a Flax module with
  - `__call__(rays, key, randomized, progress) -> list[dict]`: render
    outputs per level, coarsest first; the last level is the result. Each
    level holds at least the keys of `outputs` ([N, ...] per ray) and may
    hold `loss_mask` [N] (rays to leave out of the loss), `weights` and `t`
    ([N, S]) and, in the last level, `stats` (scalars for the training log).
  - `density(points, progress=None) -> [M]` and
    `radiance(points, viewdirs, progress=None) -> [M, 3]`: the field
    interface that exports and baking use, for any method.
  - optionally `refine_cameras(cameras) -> cameras` (with `casts_rays`:
    learned pose or intrinsics corrections) and `update_state(step, key)`
    with a `state_update_every` attribute (non-parameter state such as an
    occupancy grid, refreshed by the train step).
* `loss_terms(config, outputs, rays, rgb, params) -> dict[str, scalar]`:
  the named terms the train step sums and logs.
* `param_groups`: which parameters each optimiser (schedule) updates.
* `outputs`: the per-ray maps the renderer returns and eval.py writes.
* `casts_rays`: the batch is pixels and camera indices, and rays are cast
  inside the step from (possibly refined) cameras.
* `test_time`: an optional per-image optimisation that eval.py runs before
  scoring (e.g. a test view's pose, or its appearance code).
* `seen_camera_outputs`: outputs eval.py writes only for training views.
* `eval_metrics(context) -> dict`: optional metrics of the trained model
  beyond the images' (e.g. pose errors against the true poses): eval.py
  adds them to metrics.json, and train.py logs the scalar ones to
  TensorBoard every `config.metrics_every` steps.
* `eval_cameras(context, cameras) -> cameras`: optional; the cameras of an
  evaluated split (other than "train") moved into the model's frame (e.g.
  a similarity aligning the optimised training poses with the true ones).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core.cameras import Cameras
from jaxnerf.core.rays import Rays

# Kinds of per-ray output maps, for how eval.py writes them.
# rgb: a colour image; depth: expected depth (needs "acc"; colour-mapped);
# disparity: drawn instead of depth in NDC scenes; opacity and scalar: grey
# images of values in [0, 1]; heatmap: any non-negative values, colour-mapped
# over their 1st-99th percentiles.
OUTPUT_KINDS = ("rgb", "depth", "disparity", "opacity", "scalar", "heatmap")


@flax.struct.dataclass
class Progress:
  """How far training has come: the model sees this on every call.

  step: [] int32 updates applied so far. fraction: [] float32 step /
  max_steps in [0, 1] (coarse-to-fine schedules).
  """

  step: jax.Array
  fraction: jax.Array

  @classmethod
  def at(cls, step, max_steps: int) -> "Progress":
    step = jnp.asarray(step, jnp.int32)
    return cls(step=step, fraction=jnp.clip(
        step.astype(jnp.float32) / max(max_steps, 1), 0.0, 1.0))


@dataclasses.dataclass(frozen=True)
class SceneInfo:
  """What the model may need to know about the training scene.

  num_cameras: cameras (images) of the training split: the leading size of
    per-camera parameters.
  world_from_scene: the training Dataset's `world_from_scene` as a 4x4
    nested tuple (None: the scene is in its own frame); for exports.
  """

  num_cameras: int = 1
  world_from_scene: Optional[tuple[tuple[float, ...], ...]] = None


def match_all(path: tuple[str, ...]) -> bool:
  del path
  return True


def match_prefix(*prefixes: str) -> Callable[[tuple[str, ...]], bool]:
  """Matches parameters whose path starts with one of the module names."""
  return lambda path: bool(path) and path[0] in prefixes


@dataclasses.dataclass(frozen=True)
class ParamGroup:
  """Parameters updated by one Adam with its own learning-rate schedule.

  Attributes:
    name: for logs (`lr/<name>`).
    prefix: the schedule is read from config fields `<prefix>lr_init`,
      `<prefix>lr_final`, `<prefix>lr_delay_steps`, `<prefix>lr_delay_mult`
      ("" for the engine's own lr_* fields).
    match: on a parameter's path (module names, then the parameter name);
      groups are tried in order and the first match wins.
    per_camera: every leaf is [num_cameras, ...], row i belonging to camera i
      (pose corrections, appearance codes). Views of other splits get a
      row from `eval_init`.
    eval_init: "zeros" or "mean" (of the trained rows): the row a camera
      outside the training split starts from.
    transferable: (per_camera) its rows describe an image, not a camera's
      geometry (appearance codes): eval.py may render any view with another
      camera's rows (`config.eval_rows_of`) or a blend of two cameras' rows
      (`config.path_rows_from` / `path_rows_to`). Pose corrections are not.
  """

  name: str
  prefix: str = ""
  match: Callable[[tuple[str, ...]], bool] = match_all
  per_camera: bool = False
  eval_init: str = "zeros"
  transferable: bool = False

  def __post_init__(self):
    if self.eval_init not in ("zeros", "mean"):
      raise ValueError(f"parameter group {self.name}: eval_init must be "
                       f"'zeros' or 'mean', got {self.eval_init!r}")


FIELD_GROUP = ParamGroup("field")


def per_camera_param(module, name: str, num_cameras: int, init_fn,
                     row_shape: tuple[int, ...]):
  """A [num_cameras, *row_shape] parameter of a per_camera group, made in
  `module` (in setup or a compact method); read it as `.value`.

  Its number of rows is not fixed: to render cameras outside the training
  split the engine hands the model a table with one row per such camera
  (`training.unseen_camera_params`), which `self.param` would reject.

  Args:
    init_fn: (key, shape) -> array, as Flax initialisers.
  """
  return module.variable(
      "params", name,
      lambda: init_fn(module.make_rng("params"),
                      (num_cameras,) + tuple(row_shape)))


@dataclasses.dataclass(frozen=True)
class TestTime:
  """Per-image optimisation of the per-camera groups before scoring.

  For each evaluated image, its per-camera rows start from the groups'
  `eval_init` and take `<prefix>steps` Adam steps at `<prefix>lr` on
  `<prefix>batch_size` random pixels of the `fit` region, the rest of the
  model frozen; metrics are computed on the `score` region.

  Attributes:
    prefix: of the config fields steps, lr, batch_size.
    fit, score: "all", "left_half" or "right_half" of the image.
    loss: optional (config, outputs, rays, rgb, params) -> dict of terms
      minimised by the fit (default: the method's `loss_terms`); e.g. NeRF-W
      fits the static render only, leaving its transient head out.
  """

  prefix: str = "test_time_"
  fit: str = "all"
  score: str = "all"
  loss: Optional[Callable[[Any, list, Rays, jax.Array, Any], dict]] = None


REGIONS = ("all", "left_half", "right_half")


def region_columns(region: str, width: int) -> slice:
  """Image columns of a region."""
  if region == "left_half":
    return slice(0, width // 2)
  if region == "right_half":
    return slice(width // 2, width)
  return slice(0, width)


@dataclasses.dataclass(frozen=True)
class EvalContext:
  """What `eval_metrics` and `eval_cameras` know about a trained run.

  Attributes:
    model: the method's Flax module.
    variables: its trained variables (host arrays; per-camera rows of the
      training cameras).
    config: the run's config.
    step: the training step of `variables`.
    train_cameras: the training split's Cameras as training saw them (host
      numpy; corrupted by config.pose_noise / pose_init if set).
    true_camtoworlds: [C, 3, 4] the training cameras' true poses.
    train_names: the training images' names.
  """

  model: Any
  variables: Any
  config: Any
  step: int
  train_cameras: Cameras
  true_camtoworlds: Any
  train_names: tuple[str, ...]


# The maps every volume renderer in this library produces.
STANDARD_OUTPUTS = {"rgb": "rgb", "depth": "depth", "disp": "disparity",
                    "acc": "opacity"}


@dataclasses.dataclass(frozen=True)
class Method:
  """One method's declaration (see the module docstring)."""

  name: str
  fields: Callable[[], ml_collections.ConfigDict]
  build_model: Callable[[Any, SceneInfo], Any]
  loss_terms: Callable[[Any, list, Rays, jax.Array, Any], dict]
  engine_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  param_groups: tuple[ParamGroup, ...] = (FIELD_GROUP,)
  outputs: Mapping[str, str] = dataclasses.field(
      default_factory=lambda: dict(STANDARD_OUTPUTS))
  casts_rays: bool = False
  test_time: Optional[TestTime] = None
  # Outputs meaningful only for views of the training split, whose
  # per-camera rows were learned (NeRF-W's transient objects and
  # uncertainty): eval.py writes them only when it renders that split.
  seen_camera_outputs: tuple[str, ...] = ()
  eval_metrics: Optional[Callable[[EvalContext], dict]] = None
  eval_cameras: Optional[Callable[[EvalContext, Cameras], Cameras]] = None

  def __post_init__(self):
    for name, kind in self.outputs.items():
      if kind not in OUTPUT_KINDS:
        raise ValueError(f"method {self.name}: output {name!r} has unknown "
                         f"kind {kind!r}; known: {OUTPUT_KINDS}")
    for name in self.seen_camera_outputs:
      if name not in self.outputs or name == "rgb":
        raise ValueError(f"method {self.name}: seen_camera_outputs names "
                         f"{name!r}, which is not a declared output other "
                         "than 'rgb'")
    if "rgb" not in self.outputs:
      raise ValueError(f"method {self.name}: outputs must include 'rgb'")
    if self.test_time is not None:
      if not any(g.per_camera for g in self.param_groups):
        raise ValueError(f"method {self.name}: test_time needs a per_camera "
                         "parameter group")
      for region in (self.test_time.fit, self.test_time.score):
        if region not in REGIONS:
          raise ValueError(f"method {self.name}: unknown region {region!r}")
