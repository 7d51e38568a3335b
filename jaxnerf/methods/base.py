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
  - optionally `train_outputs(cameras, key, randomized, progress) -> dict`:
    renders the train step makes beyond its batch's (GNeRF's patches at
    poses drawn from a prior; `cameras`: the training cameras, or None
    where the batch is rays), added to the last level's outputs that
    `loss_terms` reads. Only the train step calls it.
* `loss_terms(config, outputs, rays, rgb, params) -> dict[str, scalar]`:
  the named terms the train step sums and logs.
* `param_groups`: which parameters each optimiser (schedule) updates; a
  group's rates are its schedule times `<prefix>lr_scale` where the
  method has that field (1 where it has not).
* `scene_fields(config, scene) -> dict`: optional; fields whose value 0
  means "from the training scene" (e.g. a rate in units of the cameras'
  extent), resolved by train.py before it builds anything and recorded in
  the run's config.json.
* `outputs`: the per-ray maps the renderer returns and eval.py writes.
* `casts_rays`: the batch is pixels and camera indices, and rays are cast
  inside the step from (possibly refined) cameras.
* `image_space`: the model renders pixels of cameras itself, e.g. by
  rasterising: `render_pixels(cameras, pixels, key, randomized, progress)
  -> list[dict]` on Pixels [N] of (refined) Cameras, per-pixel outputs as
  `__call__`'s. The batch is pixels and camera indices (as `casts_rays`);
  with `config.patch_size` > 0 a training batch is square patches of
  whole pixels, [N] = [N / p^2, p, p] row-major, each from one image, so
  a rasteriser renders each patch as a tile and a loss may read the
  patches' structure (e.g. D-SSIM). Evaluation hands it rows of pixels of
  one image in chunks of `config.chunk`.
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

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core.cameras import Cameras
from jaxnerf.core.rays import Rays
from jaxnerf.render import compositing

# Kinds of per-ray output maps, for how eval.py writes them.
# rgb: a colour image; depth: expected depth (needs "acc"; colour-mapped);
# disparity: drawn instead of depth in NDC scenes; opacity and scalar: grey
# images of values in [0, 1]; heatmap: any non-negative values, colour-mapped
# over their 1st-99th percentiles; classes: int class ids, drawn in a
# fixed palette (jaxnerf.data.labels.picture).
OUTPUT_KINDS = ("rgb", "depth", "disparity", "opacity", "scalar", "heatmap",
                "classes")


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


@dataclasses.dataclass(frozen=True, eq=False)
class ScenePoints:
  """The training scene's sparse points (SfM), for initialisers: xyz [P, 3]
  and rgb [P, 3] in [0, 1] (numpy). Compared and hashed by identity."""

  xyz: Any
  rgb: Any = None


@dataclasses.dataclass(frozen=True, eq=False)
class Frustums:
  """The training cameras' viewing volumes between their near and far, for
  initialisers: `cameras`, the training split's host
  jaxnerf.core.cameras.Cameras (their distortion is not used). Compared
  and hashed by identity."""

  cameras: Any

  def sample(self, key: jax.Array, num: int) -> jax.Array:
    """[num, 3] points on random pixels' rays of random cameras, uniform
    in disparity between the camera's near and far."""
    cams = self.cameras
    k_cam, k_xy, k_t = jax.random.split(key, 3)
    cam = jax.random.randint(k_cam, (num,), 0, len(cams.fx))
    at = lambda x: jnp.asarray(x, jnp.float32)[cam]
    u = jax.random.uniform(k_xy, (num, 2))
    x = (u[:, 0] * at(cams.width) - at(cams.cx)) / at(cams.fx)
    y = -(u[:, 1] * at(cams.height) - at(cams.cy)) / at(cams.fy)
    near = jnp.maximum(at(cams.near), 1e-3)
    far = jnp.maximum(at(cams.far), near * 1.001)
    s = jax.random.uniform(k_t, (num,))
    depth = 1.0 / (1.0 / near * (1 - s) + 1.0 / far * s)
    c2w = at(cams.camtoworlds)
    local = jnp.stack([x, y, -jnp.ones_like(x)], -1) * depth[:, None]
    return jnp.einsum("nij,nj->ni", c2w[:, :, :3], local) + c2w[:, :, 3]


@dataclasses.dataclass(frozen=True)
class SceneInfo:
  """What the model may need to know about the training scene.

  num_cameras: cameras (images) of the training split: the leading size of
    per-camera parameters.
  world_from_scene: the training Dataset's `world_from_scene` as a 4x4
    nested tuple (None: the scene is in its own frame); for exports.
  points, frustums: the training scene's sparse points and camera volumes
    (initialisers; None when restoring a trained run).
  training: the info was made from the training data (not read back from
    a run folder): an initialiser that needs what the data lacks may fail.
  """

  num_cameras: int = 1
  world_from_scene: Optional[tuple[tuple[float, ...], ...]] = None
  points: Optional[ScenePoints] = None
  frustum: Optional[Frustums] = None
  training: bool = False


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


def schedule_fields(prefix: str, lr_init: float, lr_final: float,
                    delay_steps: int = 0, delay_mult: float = 1.0) -> dict:
  """A parameter group's schedule fields (`<prefix>lr_init`, ...), for a
  method's or component's `fields`."""
  return {f"{prefix}lr_init": lr_init, f"{prefix}lr_final": lr_final,
          f"{prefix}lr_delay_steps": delay_steps,
          f"{prefix}lr_delay_mult": delay_mult}


def test_time_fields(steps: int, lr: float, batch_size: int) -> dict:
  """A component's fields of its `TestTime` (prefix "test_time_"): Adam
  `steps` at `lr` on `batch_size` random pixels an image."""
  return {"test_time_steps": steps, "test_time_lr": lr,
          "test_time_batch_size": batch_size}


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


def check_integer_fields(config, bounds) -> None:
  """Raises ConfigError naming the first field of `bounds` ((name, low)
  pairs) whose value is not an integer >= low (a bool is not one)."""
  for name, low in bounds:
    value = config[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
      from jaxnerf.errors import ConfigError
      raise ConfigError(f"config.{name}: {value!r} must be an integer >= "
                        f"{low}")


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
  image_space: bool = False
  test_time: Optional[TestTime] = None
  # Outputs meaningful only for views of the training split, whose
  # per-camera rows were learned (NeRF-W's transient objects and
  # uncertainty): eval.py writes them only when it renders that split.
  seen_camera_outputs: tuple[str, ...] = ()
  eval_metrics: Optional[Callable[[EvalContext], dict]] = None
  eval_cameras: Optional[Callable[[EvalContext, Cameras], Cameras]] = None
  # Composed methods (`compose`): the backbone this declaration is on, and
  # the declaration on another backbone by name (None: one backbone only).
  backbone: str = ""
  backbones: tuple[str, ...] = ()
  on_backbone: Optional[Callable[[str], "Method"]] = None
  # Optional (config, params, opt_state, step, key, learning_rate) ->
  # (params, opt_state): an edit after every update (step: updates applied
  # so far, including this one; learning_rate(prefix): a group's rate at
  # this step). Static shapes: e.g. 3DGS-MCMC moving dead Gaussians.
  after_step: Optional[Callable[..., tuple]] = None
  scene_fields: Optional[Callable[[Any, SceneInfo], dict]] = None

  @property
  def pixel_batches(self) -> bool:
    """Whether batches are pixels and camera indices (not rays)."""
    return self.casts_rays or self.image_space

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


# Components over backbones ---------------------------------------------------
#
# A paper is a backbone (the scene representation, its sampler and its
# compositing: NeRF's MLP with coarse and fine levels, the hash grid with an
# occupancy grid or proposals) plus components that any backbone takes
# (camera refinement, per-image appearance, transients, time, ...). A
# component contributes config fields, a Flax submodule, parameter groups,
# loss terms, outputs and evaluation hooks; the backbone's model holds the
# submodules and calls their hooks where its pipeline has the matching step
# (a submodule has only the hooks it needs):
#
#   refine_cameras(cameras) -> cameras        before rays are cast
#   encoding_weights(progress, num_bands)     weights [num_bands] of the
#       -> [num_bands] or None                  encoding's finer bands or
#                                               levels (coarse to fine)
#   warp(points [M, 3], time [M, 1], level)   where the field is read: the
#       -> (points [M, 3], condition          points moved (D-NeRF), a
#           [M, D] or None, stats dict)         per-sample input joining the
#                                               field's position input
#                                               (T-NeRF), and log scalars
#   warp_anytime(points [M, 3], key)          the same at random times: the
#       -> (points, condition)                  occupancy grid's refresh
#   colour_condition(camera [N] or None, n,   a per-ray input [N, D] of the
#       level) -> [N, D] or None                colour branch (appearance
#                                               codes; None camera: the
#                                               field interface's mean)
#   shade(level, features [M, F], t [M],      the samples' colour from a
#       ray_ids [M], rays, SampleLayout,        material under the rays'
#       density [M], density_fn,              light (relighting), instead
#       field_colour, progress)                 of the field's colour; the
#       -> (rgb [M, 3], maps {name: [M, k]})    backbone composites the maps
#       or None                                 into outputs; density_fn:
#                                               world points -> density
#                                               (shadow rays); field_colour:
#                                               () -> the backbone's own
#                                               colour of the samples
#   light(rays) -> [N, LIGHT_DIM] or None     the rays' light as the model
#                                               estimates it (NeRD's per-
#                                               image illumination), in
#                                               place of the data's, for
#                                               the shading component
#   headlight(features [M, F], viewdirs       the field interface's colour
#       [M, 3]) -> rgb [M, 3]                   where a component shades
#   train_outputs(render, cameras, key,       renders of the train step
#       randomized, progress) -> dict           beyond its batch (GNeRF's
#                                               generated patches), added
#                                               to the last level for the
#                                               loss; render(rays, key) ->
#                                               the model's levels
#   render_samples(out, level, SampleLayout,  more maps of a level (whose
#       features [M, F], rgb [M, 3],            outputs so far are `out`)
#       density [M], camera [N], progress)      from its samples (NeRF-W's
#       -> dict of outputs (and "stats")        transient head)
#
# `level` is one of the backbone's level names (its `levels`: "coarse" and
# "fine" on the MLP, "" for the hash grid's one level); the last one is
# the rendered result. A component's `colour_loss` replaces the backbone's
# data term of the last level (NeRF-W's uncertainty-weighted colour).
# `compose` merges the declarations into the Method the engine knows; the
# loops never see a component.


@dataclasses.dataclass(frozen=True)
class SampleLayout:
  """A level's samples of N rays as a component's hooks see them: flat
  [M] per-sample arrays (a dense backbone flattens its [N, S]).

  Attributes:
    num_rays: N.
    to_samples: per-ray [N, ...] -> per-sample [M, ...].
    ray_sum: per-sample [M, ...] -> per-ray sums [N, ...].
    ray_mean: per-sample [M] -> per-ray means over the ray's valid samples.
    transmittance: optical depths [M] -> transmittance before each sample.
    delta: [M] sample lengths along the ray (times the direction's norm).
    valid: [M] bool, or None where every sample is.
  """

  num_rays: int
  to_samples: Callable[[jax.Array], jax.Array]
  ray_sum: Callable[[jax.Array], jax.Array]
  ray_mean: Callable[[jax.Array], jax.Array]
  transmittance: Callable[[jax.Array], jax.Array]
  delta: jax.Array
  valid: Optional[jax.Array] = None

  def masked(self, x: jax.Array) -> jax.Array:
    """x [M] with invalid samples set to 0."""
    return x if self.valid is None else jnp.where(self.valid, x, 0.0)

  def weights(self, density: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(transmittance T_k [M], compositing weights T_k (1 - exp(-sigma_k
    delta_k)) [M]) of the samples' densities [M] (invalid samples: 0)."""
    tau = self.masked(density * self.delta)
    transmittance = self.transmittance(tau)
    return transmittance, transmittance * (1.0 - jnp.exp(-tau))

  @classmethod
  def dense(cls, delta: jax.Array) -> "SampleLayout":
    """The layout of dense samples [N, S] (flattened row-major) whose
    lengths along the ray are delta [N, S]."""
    n, s = delta.shape
    return cls(
        num_rays=n, to_samples=lambda per_ray: jnp.repeat(per_ray, s, 0),
        ray_sum=lambda x: jnp.sum(x.reshape((n, s) + x.shape[1:]), 1),
        ray_mean=lambda x: jnp.mean(x.reshape(n, s), axis=-1),
        transmittance=lambda tau: compositing.transmittance(
            tau.reshape(n, s)).reshape(-1),
        delta=delta.reshape(-1))


@dataclasses.dataclass(frozen=True)
class Component:
  """A part any backbone takes; see the section's comment.

  Attributes:
    name: the submodule's name in the model (and in parameter paths).
    fields: its config fields with their defaults.
    module: (config, scene, levels) -> its Flax submodule; levels: the
      backbone's level names (see the section's comment).
    shared_scope: its variables and submodules sit at the model's top level
      (flax's share_scope), not under `name`: the paths (and so the
      initial values and the checkpoints) the paper's model had before it
      became a component.
    engine_defaults, param_groups, outputs, casts_rays, test_time,
      seen_camera_outputs, eval_metrics, eval_cameras: as Method's; its
      groups are tried before the backbone's field group.
    loss_terms: optional (config, outputs, rays, rgb, params) -> dict,
      added to the backbone's terms.
    colour_loss: optional (config, last level's outputs, rays, rgb) -> dict
      or None: terms that replace the backbone's data term of the last
      level (`rgb_level<last>`), in its place; None keeps it.
  """

  name: str
  fields: Callable[[], ml_collections.ConfigDict]
  module: Callable[[Any, SceneInfo, tuple[str, ...]], Any]
  shared_scope: bool = False
  engine_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  param_groups: tuple[ParamGroup, ...] = ()
  loss_terms: Optional[Callable[[Any, list, Rays, jax.Array, Any],
                                dict]] = None
  colour_loss: Optional[Callable[[Any, dict, Rays, jax.Array],
                                 Optional[dict]]] = None
  outputs: Mapping[str, str] = dataclasses.field(default_factory=dict)
  casts_rays: bool = False
  test_time: Optional[TestTime] = None
  seen_camera_outputs: tuple[str, ...] = ()
  eval_metrics: Optional[Callable[[EvalContext], dict]] = None
  eval_cameras: Optional[Callable[[EvalContext, Cameras], Cameras]] = None


@dataclasses.dataclass(frozen=True)
class Backbone:
  """A scene representation with its sampler and compositing.

  Attributes:
    name: what `config.backbone` names ("mlp", "hashgrid").
    fields: its config fields with their defaults.
    build: (config, scene, components) -> the Flax model (the contract's
      model: __call__, density, radiance, refine_cameras, ...), holding the
      components' submodules and calling their hooks.
    loss_terms: its own terms (colour, weight decay, regularisers).
    engine_defaults, outputs, image_space, after_step, scene_fields: as
      Method's.
    param_groups: its own groups (tried after the components', before the
      engine's `field` group, which takes every other parameter).
  """

  name: str
  fields: Callable[[], ml_collections.ConfigDict]
  build: Callable[[Any, SceneInfo, tuple[Component, ...]], Any]
  loss_terms: Callable[[Any, list, Rays, jax.Array, Any], dict]
  engine_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  outputs: Mapping[str, str] = dataclasses.field(
      default_factory=lambda: dict(STANDARD_OUTPUTS))
  image_space: bool = False
  param_groups: tuple[ParamGroup, ...] = ()
  after_step: Optional[Callable[..., tuple]] = None
  scene_fields: Optional[Callable[[Any, SceneInfo], dict]] = None


def _merged_fields(name: str, parts) -> ml_collections.ConfigDict:
  """The fields of `parts` ((owner, ConfigDict) pairs) in one ConfigDict;
  a field two of them declare is a bug of the method."""
  c, owner = ml_collections.ConfigDict(), {}
  for who, fields in parts:
    for key in fields:
      if key in owner:
        raise ValueError(f"method {name}: field {key!r} of {who} is also "
                         f"one of {owner[key]}")
      owner[key] = who
      c[key] = fields[key]
  return c


def _only_one(name: str, what: str, values):
  values = [v for v in values if v is not None]
  if len(values) > 1:
    raise ValueError(f"method {name}: more than one component has {what}")
  return values[0] if values else None


def _merged_metrics(hooks):
  hooks = [h for h in hooks if h is not None]
  if not hooks:
    return None
  if len(hooks) == 1:
    return hooks[0]
  return lambda context: {k: v for h in hooks for k, v in h(context).items()}


def _replaced(terms: dict, key: str, new: Optional[dict]) -> dict:
  """`terms` with `key` replaced by the terms `new`, in its place (the
  train step sums them in order, so the loss keeps its bits)."""
  if new is None:
    return terms
  out = {}
  for k, v in terms.items():
    if k == key:
      out.update(new)
    else:
      out[k] = v
  return out


def compose(name: str, backbones: Mapping[str, Backbone],
            components: tuple[Component, ...] = (),
            fields: Optional[Callable[[str], Mapping[str, Any]]] = None,
            engine_defaults: Optional[Callable[[str], Mapping[str, Any]]]
            = None) -> Method:
  """A paper as a backbone plus components, on its first backbone; the
  returned Method's `on_backbone(name)` is the same paper on another.

  Args:
    backbones: the backbones the paper runs on, the default first.
    fields: optional backbone name -> {field: value}: the paper's own
      settings of backbone and component fields (e.g. BARF's 128 coarse
      samples on the MLP).
    engine_defaults: optional backbone name -> engine fields the paper sets
      (over the backbone's and components').
  """
  made = {}

  def on(backbone_name: str) -> Method:
    if backbone_name not in backbones:
      from jaxnerf.errors import ConfigError
      raise ConfigError(f"config.backbone: method {name} has no backbone "
                        f"{backbone_name!r}; known: {list(backbones)}")
    if backbone_name in made:
      return made[backbone_name]
    bb = backbones[backbone_name]
    settings = dict(fields(backbone_name)) if fields else {}

    def config_fields():
      c = _merged_fields(name, [(f"backbone {bb.name}", bb.fields())] + [
          (f"component {p.name}", p.fields()) for p in components])
      for key, value in settings.items():
        if key not in c:
          raise ValueError(f"method {name}: sets {key!r}, which neither its "
                           f"backbone {bb.name} nor its components have")
        c[key] = value
      return c

    defaults = dict(bb.engine_defaults)
    for p in components:
      defaults.update(p.engine_defaults)
    if engine_defaults:
      defaults.update(engine_defaults(backbone_name))
    term_fns = [p.loss_terms for p in components if p.loss_terms is not None]
    colour_fns = [p.colour_loss for p in components
                  if p.colour_loss is not None]

    def loss_terms(config, outputs, rays, rgb, params):
      terms = bb.loss_terms(config, outputs, rays, rgb, params)
      for fn in colour_fns:
        terms = _replaced(terms, f"rgb_level{len(outputs) - 1}",
                          fn(config, outputs[-1], rays, rgb))
      for fn in term_fns:
        terms.update(fn(config, outputs, rays, rgb, params))
      return terms

    outputs = dict(bb.outputs)
    for p in components:
      outputs.update(p.outputs)
    made[backbone_name] = Method(
        name=name,
        fields=config_fields,
        build_model=lambda config, scene: bb.build(config, scene,
                                                   tuple(components)),
        loss_terms=loss_terms,
        engine_defaults=defaults,
        param_groups=tuple(g for p in components for g in p.param_groups)
        + bb.param_groups + (FIELD_GROUP,),
        outputs=outputs,
        casts_rays=any(p.casts_rays for p in components),
        image_space=bb.image_space,
        test_time=_only_one(name, "test_time",
                            [p.test_time for p in components]),
        seen_camera_outputs=tuple(o for p in components
                                  for o in p.seen_camera_outputs),
        eval_metrics=_merged_metrics([p.eval_metrics for p in components]),
        eval_cameras=_only_one(name, "eval_cameras",
                               [p.eval_cameras for p in components]),
        backbone=backbone_name,
        backbones=tuple(backbones),
        on_backbone=on,
        after_step=bb.after_step,
        scene_fields=bb.scene_fields)
    return made[backbone_name]

  return on(next(iter(backbones)))


class Composed:
  """Mixin of backbone models (Flax modules with `config`, `scene` and
  `components` attributes and a `levels` tuple of level names): the
  components' submodules and their hooks (see the components section)."""

  def setup_components(self) -> None:
    """Call in setup: each component's submodule under its name."""
    for part in self.components:
      module = part.module(self.config, self.scene, self.levels)
      setattr(self, part.name, module)
      if part.shared_scope:
        module = getattr(self, part.name)
        nn.share_scope(self, module)
        # Set up now, in the components' order: their variables draw from
        # the model's random stream, whose counter is then theirs in order.
        module._try_setup()  # pylint: disable=protected-access

  def refuse_components(self, backbone: str) -> None:
    """Raises ConfigError if components were given to a backbone (named
    `backbone` in the message) that has no hooks for them."""
    if self.components:
      from jaxnerf.errors import ConfigError
      raise ConfigError(f"config.method: the {backbone} backbone takes no "
                        "components")

  def parts_with(self, hook: str) -> list:
    """The components' submodules that have `hook`, in order."""
    return [getattr(self, p.name) for p in self.components
            if hasattr(getattr(self, p.name), hook)]

  def refine_cameras(self, cameras: Cameras) -> Cameras:
    for part in self.parts_with("refine_cameras"):
      cameras = part.refine_cameras(cameras)
    return cameras

  def encoding_weights(self, progress: Optional[Progress],
                       num_bands: int) -> Optional[jax.Array]:
    """[num_bands] weights of an encoding's finer bands at `progress`, the
    product of the components' (None: all on)."""
    weights = None
    for part in self.parts_with("encoding_weights"):
      w = part.encoding_weights(progress, num_bands)
      if w is not None:
        weights = w if weights is None else weights * w
    return weights

  def warp(self, points: jax.Array, time: Optional[jax.Array], level: str
           ) -> tuple[jax.Array, Optional[jax.Array], dict]:
    """(points [M, 3], condition [M, D] or None, stats) where the field is
    read for samples at points [M, 3] of rays at times [M, 1]."""
    condition, stats = None, {}
    for part in self.parts_with("warp"):
      points, extra, more = part.warp(points, time, level)
      condition = joined(condition, extra)
      stats.update(more)
    return points, condition, stats

  def shade(self, level: str, feats, t, ray_ids, rays, layout,
            density, density_fn, field_colour, progress):
    """The shading component's (rgb, maps) of a level's samples, or None
    (the backbone's own colour)."""
    parts = self.parts_with("shade")
    if len(parts) > 1:
      raise ValueError("more than one component shades the samples")
    if not parts:
      return None
    for part in self.parts_with("light"):
      rays = rays.replace(light=part.light(rays))
    return parts[0].shade(level, feats, t, ray_ids, rays, layout, density,
                          density_fn, field_colour, progress)

  def headlight(self, feats, viewdirs):
    """The shading component's field-interface colour, or None."""
    parts = self.parts_with("headlight")
    return parts[0].headlight(feats, viewdirs) if parts else None

  def warp_dense(self, points: jax.Array, time: jax.Array, level: str
                 ) -> tuple[jax.Array, Optional[jax.Array], dict]:
    """`warp` of dense samples: points [N, S, 3] of rays at times [N, 1]
    -> (points [N, S, 3], condition [N, S, D] or None, per-sample stats
    [N * S])."""
    n, s = points.shape[:2]
    points, condition, stats = self.warp(
        points.reshape(n * s, 3), jnp.repeat(time, s, axis=0), level)
    if condition is not None:
      condition = condition.reshape(n, s, -1)
    return points.reshape(n, s, 3), condition, stats

  def render_dense(self, out: dict, level: str, raw: tuple,
                   rgb: jax.Array, density: jax.Array, delta: jax.Array,
                   camera: jax.Array, progress: Optional[Progress]) -> dict:
    """`render_samples` of a dense level: the MLP's outputs `raw` (its
    features third, where a component asked for them), rgb [N, S, 3],
    density and delta [N, S]."""
    if len(raw) < 3:
      return out
    n, s = density.shape
    return self.render_samples(out, level, SampleLayout.dense(delta),
                               raw[2].reshape(n * s, -1),
                               rgb.reshape(n * s, -1), density.reshape(-1),
                               camera, progress)

  def warp_anytime(self, points: jax.Array, key: jax.Array
                   ) -> tuple[jax.Array, Optional[jax.Array]]:
    """`warp` of the last level at random times, for state refreshes."""
    condition = None
    for i, part in enumerate(self.parts_with("warp_anytime")):
      points, extra = part.warp_anytime(
          points, jax.random.fold_in(key, i) if i else key)
      condition = joined(condition, extra)
    return points, condition

  def colour_condition(self, camera: Optional[jax.Array], num_rays: int,
                       level: str) -> Optional[jax.Array]:
    """[N, D] per-ray input of the colour branch, or None."""
    condition = None
    for part in self.parts_with("colour_condition"):
      condition = joined(condition,
                          part.colour_condition(camera, num_rays, level))
    return condition

  def train_outputs(self, cameras: Optional[Cameras], key: jax.Array,
                    randomized: bool, progress: Optional[Progress]) -> dict:
    """The components' renders beyond the train step's batch (the
    contract's `train_outputs`); {} where none has the hook."""
    out = {}
    render = lambda rays, k: self(rays, k, randomized, progress)
    for i, part in enumerate(self.parts_with("train_outputs")):
      out.update(part.train_outputs(render, cameras,
                                    jax.random.fold_in(key, i), randomized,
                                    progress))
    return out

  @property
  def wants_features(self) -> bool:
    """Whether a component reads the field's per-sample features."""
    return bool(self.parts_with("render_samples") or self.parts_with("shade"))

  def render_samples(self, out: dict, level: str, layout: SampleLayout,
                     features, rgb: jax.Array, density: jax.Array,
                     camera: jax.Array, progress: Optional[Progress]
                     ) -> dict:
    """`out` with the components' maps of this level added."""
    for part in self.parts_with("render_samples"):
      more = dict(part.render_samples(out, level, layout, features, rgb,
                                      density, camera, progress))
      stats = more.pop("stats", None)
      out = {**out, **more}
      if stats:
        out["stats"] = {**out.get("stats", {}), **stats}
    return out


def joined(a: Optional[jax.Array], b: Optional[jax.Array]
            ) -> Optional[jax.Array]:
  """a and b concatenated on the last axis; either may be None."""
  if a is None or b is None:
    return b if a is None else a
  return jnp.concatenate([a, b], axis=-1)
