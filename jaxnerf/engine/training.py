"""The optimisation: learning-rate schedules, the optimiser over parameter
groups, and the train step.

The train step is a pure function of (state, training data, cameras, base
key): it draws its own batch on device with a key folded from the step
number, so a resumed run draws exactly what an uninterrupted one would, and
no data crosses from the host per step. It knows methods only through their
declaration (`jaxnerf.methods.base.Method`).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnerf.core import cameras as cameras_lib
from jaxnerf.render import losses
from jaxnerf import methods
from jaxnerf.core import metrics
from jaxnerf.core.cameras import Cameras, Pixels
from jaxnerf.methods import base
from jaxnerf.core.rays import Rays


def learning_rate(step, lr_init: float, lr_final: float, max_steps: int,
                  lr_delay_steps: int = 0, lr_delay_mult: float = 1.0):
  """JaxNeRF's `learning_rate_decay`: log-linear decay with a sine warm-up.

  lr(step) = delay(step) * exp((1 - s) log(lr_init) + s log(lr_final)),
  s = clip(step / max_steps, 0, 1); delay ramps from lr_delay_mult to 1 as
  sin(pi/2 * clip(step / lr_delay_steps, 0, 1)).
  """
  xp = jnp if isinstance(step, jax.Array) else np
  if lr_delay_steps > 0:
    delay_rate = lr_delay_mult + (1 - lr_delay_mult) * xp.sin(
        0.5 * np.pi * xp.clip(step / lr_delay_steps, 0, 1))
  else:
    delay_rate = 1.0
  s = xp.clip(step / max_steps, 0, 1)
  return delay_rate * xp.exp(np.log(lr_init) * (1 - s) + np.log(lr_final) * s)


def learning_rate_schedule(config, prefix: str = "",
                           fraction: Optional[jax.Array] = None
                           ) -> optax.Schedule:
  """The schedule of the config fields `<prefix>lr_init` etc., times
  `<prefix>lr_scale` where the config has that field.

  fraction: None, the schedule of the step count (`schedule_clock` "steps");
    else [] the share of the time budget spent (`schedule_clock` "time"):
    every step is then at position fraction * max_steps of the same curve,
    whatever the count.
  """
  field = lambda name: config[prefix + name]
  scale = config.get(prefix + "lr_scale", 1.0)
  try:
    rates = functools.partial(
        learning_rate, lr_init=field("lr_init") * scale,
        lr_final=field("lr_final") * scale,
        max_steps=config.max_steps, lr_delay_steps=field("lr_delay_steps"),
        lr_delay_mult=field("lr_delay_mult"))
  except (KeyError, AttributeError) as e:
    raise ValueError(f"method {config.method}: a parameter group with prefix "
                     f"{prefix!r} needs the config field {e}") from None

  def schedule(count):
    # Checked on use: restoring a run builds its optimiser from a config
    # whose scene fields were never resolved, and never steps it.
    if not scale > 0:
      raise ValueError(f"config.{prefix}lr_scale is {scale}: a value from "
                       "the training scene that trainer.resolve_scene_fields "
                       "sets")
    return rates(count)

  if fraction is None:
    return schedule
  position = fraction * config.max_steps
  return lambda count: schedule(position)


def progress_of(config, step, fraction: Optional[jax.Array] = None
                ) -> base.Progress:
  """The Progress the model sees: of the step count, or of the time budget
  (`fraction`, with schedule_clock "time")."""
  if fraction is None:
    return base.Progress.at(step, config.max_steps)
  return base.Progress(step=jnp.asarray(step, jnp.int32),
                       fraction=jnp.clip(jnp.asarray(fraction, jnp.float32),
                                         0.0, 1.0))


def param_path(path) -> tuple[str, ...]:
  """A pytree key path as names: ('coarse_mlp', 'Dense_0', 'kernel')."""
  return tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def group_labels(groups: tuple[base.ParamGroup, ...], params):
  """The name of the group of every parameter leaf (first match wins).

  Raises:
    ValueError: a parameter matches no group (a bug in the method).
  """
  def label(path, _):
    names = param_path(path)
    for group in groups:
      if group.match(names):
        return group.name
    raise ValueError(f"parameter {'/'.join(names)} matches no parameter "
                     f"group of {[g.name for g in groups]}")

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(config, groups: tuple[base.ParamGroup, ...],
                   fraction: Optional[jax.Array] = None
                   ) -> optax.GradientTransformation:
  """Adam per parameter group, each with its own schedule (of the steps, or
  of `fraction` of the time budget), after optional gradient clipping over
  all parameters. The optimiser state is the same either way."""
  adam = lambda group: optax.adam(
      learning_rate_schedule(config, group.prefix, fraction),
      b1=config.adam_b1,
      b2=config.adam_b2, eps=config.adam_eps)
  chain = []
  if config.grad_max_norm > 0:
    chain.append(optax.clip_by_global_norm(config.grad_max_norm))
  chain.append(optax.multi_transform(
      {g.name: adam(g) for g in groups},
      functools.partial(group_labels, groups)))
  return optax.chain(*chain)


@flax.struct.dataclass
class TrainState:
  """Everything a checkpoint holds.

  step: number of updates applied. model_state: non-parameter variable
  collections of the model (e.g. an occupancy grid). nonfinite_steps:
  updates skipped because the loss or gradients were not finite.
  """

  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any
  nonfinite_steps: jax.Array


def build_model(method: base.Method, config, scene: base.SceneInfo):
  """The method's Flax module for `config` (frozen, so it is hashable)."""
  return method.build_model(ml_collections.FrozenConfigDict(config), scene)


def _init_fn(module, rays: Rays, cameras: Optional[Cameras], key,
             pixels: bool):
  """Calls everything that creates parameters: the render (of pixels, for
  image-space methods) and, for methods whose batches are pixels, the
  camera refinement."""
  if pixels and hasattr(module, "refine_cameras"):
    cameras = module.refine_cameras(cameras)
  progress = base.Progress.at(0, 1)
  if pixels and hasattr(module, "render_pixels"):
    return module.render_pixels(cameras, dummy_pixels(), key, False,
                                progress)
  return module(rays, key, randomized=False, progress=progress)


def dummy_pixels() -> Pixels:
  """The 2x2 pixels of camera 0 (jax arrays) for `model.init`."""
  return jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, x.shape[-1])),
                      cameras_lib.pixel_grid(2, 2))


def dummy_cameras(num_cameras: int) -> Cameras:
  """Identity cameras (jax arrays) for `model.init`."""
  cameras = Cameras.create(np.tile(np.eye(4, dtype=np.float32)[None],
                                   (num_cameras, 1, 1)), 1.0, 2, 2, 0.0, 1.0)
  return jax.tree.map(jnp.asarray, cameras.device_arrays())


def create_train_state(method: base.Method, model, config,
                       key: jax.Array, num_cameras: int = 1) -> TrainState:
  """Initial parameters, optimiser state and model state."""
  optimizer = make_optimizer(config, method.param_groups)

  # Jitted: op by op, a NeRF's init compiles some 200 tiny kernels (~10 s).
  @jax.jit
  def init(key, rays, cameras):
    variables = model.init(key, rays, cameras, key, method.pixel_batches,
                           method=_init_fn)
    params = variables.pop("params")
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer.init(params),
                      model_state=dict(variables),
                      nonfinite_steps=jnp.zeros((), jnp.int32))

  return init(key, Rays.dummy(), dummy_cameras(num_cameras))


def setup(config, key: jax.Array, scene: base.SceneInfo = base.SceneInfo()):
  """(method, model, initial TrainState) of `config`."""
  method = methods.of(config)
  model = build_model(method, config, scene)
  return method, model, create_train_state(method, model, config, key,
                                           scene.num_cameras)


@flax.struct.dataclass
class TrainData:
  """All training pixels. Leading shape [num_units, pixels per unit]: a unit
  is an image with image_batching, else one pixel.

  rgb: [U, P, 3] colours.
  rays: Rays [U, P] (precomputed rays), or
  pixels: Pixels [U, P] (methods whose batches are pixels).
  image_width: the images' width where they share one size (the P pixels
    of a unit are then its rows, for patches); 0 where they differ.
  labels: optional [U, P, 1] int32 class ids (-1: no label) where the
    dataset has labels; the train step hands a batch's to the loss as the
    last level's `target_labels` [N].
  """

  rgb: jax.Array
  rays: Optional[Rays] = None
  pixels: Optional[Pixels] = None
  image_width: int = flax.struct.field(pytree_node=False, default=0)
  labels: Optional[jax.Array] = None

  @property
  def inputs(self) -> Rays | Pixels:
    """What the renderer takes: the rays, or the pixels to cast."""
    return self.rays if self.rays is not None else self.pixels


def draw_indices(key: jax.Array, batch_size: int, num_units: int,
                 num_pixels: int, image_batching: bool, patch_size: int = 0,
                 image_width: int = 0, patch_stride: int = 1):
  """The (unit, pixel) indices of a batch: [batch_size] each.

  With image_batching, one random unit (image) and random pixels of it;
  else random units, pixel 0 (each unit is one pixel). With patch_size p
  (units are images of width image_width, rows of pixels), batch_size / p^2
  square patches at random places in random images (one image for all with
  image_batching), each p^2 pixels in row-major order, `patch_stride`
  pixels apart (`cameras.patch_pixels`).
  """
  if patch_size:
    return _draw_patches(key, batch_size, num_units, num_pixels,
                         image_batching, patch_size, image_width,
                         patch_stride)
  key_unit, key_pixel = jax.random.split(key)
  pixel = jax.random.randint(key_pixel, (batch_size,), 0, num_pixels)
  if image_batching:
    unit = jnp.broadcast_to(jax.random.randint(key_unit, (), 0, num_units),
                            (batch_size,))
  else:
    unit = jax.random.randint(key_unit, (batch_size,), 0, num_units)
  return unit, pixel


def _draw_patches(key, batch_size: int, num_units: int, num_pixels: int,
                  image_batching: bool, p: int, width: int, stride: int = 1):
  height = num_pixels // width
  num = batch_size // (p * p)
  span = (p - 1) * stride + 1
  key_unit, key_y, key_x = jax.random.split(key, 3)
  unit = jax.random.randint(key_unit, (1 if image_batching else num,), 0,
                            num_units)
  y0 = jax.random.randint(key_y, (num,), 0, height - span + 1)
  x0 = jax.random.randint(key_x, (num,), 0, width - span + 1)
  y, x = cameras_lib.patch_pixels(y0, x0, p, stride)
  pixel = (y * width + x).reshape(-1)
  if image_batching:
    return jnp.broadcast_to(unit, (batch_size,)), pixel
  return jnp.repeat(unit, p * p), pixel


def by_image(config) -> bool:
  """Whether training units are whole images (image_batching or patches)
  rather than single pixels."""
  return bool(config.image_batching or config.patch_size)


def sample_batch(key: jax.Array, data: TrainData, batch_size: int,
                 image_batching: bool, patch_size: int = 0,
                 patch_stride: int = 1) -> TrainData:
  """A random batch of one device's TrainData: leading shape [batch_size]."""
  num_units, num_pixels = data.rgb.shape[:2]
  unit, pixel = draw_indices(key, batch_size, num_units, num_pixels,
                             image_batching, patch_size, data.image_width,
                             patch_stride)
  return jax.tree.map(lambda x: x[unit, pixel], data)


def _apply_render(module, batch: Rays | Pixels, cameras: Optional[Cameras],
                  key, randomized, progress):
  """Inside one `apply`: the batch's rays (given, or cast from the refined
  cameras), then the render."""
  if isinstance(batch, Pixels):
    if hasattr(module, "refine_cameras"):
      cameras = module.refine_cameras(cameras)
    # Image-space methods get the rays too: the loss reads their weights.
    rays = cameras_lib.cast_rays(cameras, batch)
    if hasattr(module, "render_pixels"):
      return rays, module.render_pixels(cameras, batch, key, randomized,
                                        progress)
  else:
    rays = batch
  return rays, module(rays, key, randomized=randomized, progress=progress)


def render(model, variables, batch: Rays | Pixels,
           cameras: Optional[Cameras], key: jax.Array, randomized: bool,
           progress: base.Progress):
  """(rays, per-level outputs) of a batch of rays, or of pixels of
  `cameras` (methods that cast rays in the step)."""
  return model.apply(variables, batch, cameras, key, randomized, progress,
                     method=_apply_render)


def update_model_state(model, params, model_state: dict, step: jax.Array,
                       key: jax.Array) -> dict:
  """Runs the model's `update_state(step, key)` every `state_update_every`.

  A method with non-parameter state (e.g. an occupancy grid) declares
  `state_update_every` (steps; 0 or absent: never) and a method
  `update_state(step, key)` that mutates its collections. `step` is the
  number of updates applied so far; the key is derived from the step's key.
  """
  every = getattr(model, "state_update_every", 0)
  if not every or not model_state:
    return model_state

  def update(ms):
    _, new = model.apply({"params": params, **ms}, step,
                         jax.random.fold_in(key, 1), method="update_state",
                         mutable=list(ms))
    return {name: new[name] for name in ms}

  return jax.lax.cond(step % every == 0, update, lambda ms: ms, model_state)


def train_step(method: base.Method, model, config, state: TrainState,
               data: Any, cameras: Optional[Cameras], base_key: jax.Array,
               batch_sharding=None, sampler=None,
               fraction: Optional[jax.Array] = None):
  """One optimisation step. Pure; jit it with method/model/config bound.

  Args:
    data: TrainData, or whatever `sampler` takes.
    cameras: the training cameras (device arrays) for methods that cast
      rays in the step; else None.
    batch_sharding: optional sharding for the drawn batch (data parallel).
    sampler: optional (key, data) -> TrainData [batch_size]; default
      `sample_batch` over all of `data` (jaxnerf.engine.parallel.make_sampler
      draws over sharded data).
    fraction: None (schedules follow the step count), or [] float32 the
      share of the time budget spent before this step (schedule_clock
      "time"): the learning rates and the model's Progress follow it.
  Returns:
    (new state, stats dict of scalars): `loss` (the sum of the method's
    terms), `loss/<term>` per term, `psnr` (last level) and
    `psnr_level<i>`, `lr` and `lr/<group>`, and the model's `stats`.
  """
  key = jax.random.fold_in(base_key, state.step)
  key_batch, key_render = jax.random.split(key)
  if sampler is None:
    batch = sample_batch(key_batch, data, config.batch_size,
                         config.image_batching, config.patch_size,
                         config.patch_stride)
  else:
    batch = sampler(key_batch, data)
  if batch_sharding is not None:
    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
  progress = progress_of(config, state.step, fraction)

  def loss_fn(params):
    variables = {"params": params, **state.model_state}
    rays, outputs = render(model, variables, batch.inputs, cameras,
                           key_render, config.randomized, progress)
    if batch.labels is not None:  # targets beside colour, for the loss
      outputs = outputs[:-1] + [{**outputs[-1],
                                 "target_labels": batch.labels[..., 0]}]
    if hasattr(model, "train_outputs"):
      # Renders of the step beyond the batch's (GNeRF's patches at poses
      # drawn from a prior): the loss reads them in the last level.
      extra = model.apply(variables, cameras, jax.random.fold_in(
          key_render, 1), config.randomized, progress,
                          method="train_outputs")
      if extra:
        outputs = outputs[:-1] + [{**outputs[-1], **extra}]
    terms = method.loss_terms(config, outputs, rays, batch.rgb, params)
    mses = losses.level_mses(jax.lax.stop_gradient(outputs), rays, batch.rgb)
    return sum(terms.values()), (terms, mses, outputs[-1].get("stats", {}))

  (loss, (terms, mses, model_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  new_state = apply_gradients(method, model, config, state, grads, loss, key,
                              fraction)
  stats = dict(loss=loss, psnr=metrics.mse_to_psnr(mses[-1]), **model_stats)
  for name, value in terms.items():
    stats[f"loss/{name}"] = value
  for i, mse in enumerate(mses):
    stats[f"psnr_level{i}"] = metrics.mse_to_psnr(mse)
  stats.update(learning_rates(method, config, state.step, fraction))
  return new_state, stats


def apply_gradients(method: base.Method, model, config, state: TrainState,
                    grads, loss: jax.Array, key: jax.Array,
                    fraction: Optional[jax.Array] = None) -> TrainState:
  """The state after one update by `grads` (of `loss`) at `state.step`:
  the optimiser over the parameter groups, the method's `after_step`, the
  model's state update; a non-finite loss or gradient applies nothing and
  is counted (`nonfinite_steps`)."""
  optimizer = make_optimizer(config, method.param_groups, fraction)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  if method.after_step is not None:
    params, opt_state = method.after_step(
        config, params, opt_state, state.step + 1, jax.random.fold_in(key, 2),
        lambda prefix: learning_rate_schedule(config, prefix, fraction)(
            state.step))
  finite = jnp.isfinite(loss) & jnp.all(jnp.array(
      [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
  # A non-finite update is never applied, so no checkpoint can hold one.
  keep = lambda new, old: jax.tree.map(
      lambda a, b: jnp.where(finite, a, b), new, old)
  params = keep(params, state.params)
  return TrainState(
      step=state.step + 1,
      params=params,
      opt_state=keep(opt_state, state.opt_state),
      model_state=update_model_state(model, params, state.model_state,
                                     state.step + 1, key),
      nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32))


def learning_rates(method: base.Method, config, step: jax.Array,
                   fraction: Optional[jax.Array] = None) -> dict:
  """{"lr/<group>": rate at `step`} of every parameter group, and "lr"
  (the first group's), for the training log."""
  rates = {f"lr/{group.name}": learning_rate_schedule(
      config, group.prefix, fraction)(step) for group in method.param_groups}
  rates["lr"] = rates[f"lr/{method.param_groups[0].name}"]
  return rates


def unseen_camera_params(method: base.Method, params, num_cameras: int):
  """Params for rendering cameras outside the training split: every
  per-camera leaf becomes `num_cameras` copies of its group's `eval_init`
  row (zeros, or the mean of the trained rows)."""
  groups = {g.name: g for g in method.param_groups if g.per_camera}
  if not groups:
    return params

  def replace(label, leaf):
    group = groups.get(label)
    if group is None:
      return leaf
    row = (jnp.zeros_like(leaf[0]) if group.eval_init == "zeros" else
           jnp.mean(leaf, axis=0))
    return jnp.broadcast_to(row, (num_cameras,) + leaf.shape[1:])

  return jax.tree.map(replace, group_labels(method.param_groups, params),
                      params)


def transferable_groups(method: base.Method) -> list[str]:
  """Names of the method's transferable per-camera groups (appearance)."""
  return [g.name for g in method.param_groups
          if g.per_camera and g.transferable]


def mixed_camera_params(method: base.Method, params, weights: np.ndarray,
                        keep_others: bool = False):
  """Params for M cameras whose transferable per-camera rows blend trained
  rows: row i = sum_j weights[i, j] * trained row j (one-hot rows render
  with a chosen training image's appearance; two non-zero weights blend
  two images'). Other per-camera groups get their `eval_init` rows, or
  keep their trained rows with `keep_others` (rendering training views).

  Args:
    params: host parameters with the training split's per-camera rows.
    weights: [M, num_training_cameras]; the caller checks the camera
      indices it builds them from (an index past the table is a user
      error, and a gather in a jitted render would clamp it silently).
  """
  weights = np.asarray(weights, np.float32)
  labels = group_labels(method.param_groups, params)
  unseen = (params if keep_others else
            unseen_camera_params(method, params, weights.shape[0]))
  transferable = set(transferable_groups(method))

  def blend(label, trained, default):
    if label not in transferable:
      return default
    rows = np.asarray(trained).reshape(trained.shape[0], -1)
    return (weights @ rows).reshape((weights.shape[0],) + trained.shape[1:])

  return jax.tree.map(blend, labels, params, unseen)


def variables_of(state: TrainState) -> dict:
  return {"params": state.params, **state.model_state}


# A render's per-ray flag (1: every sample of the ray fit the sample
# budget). A sample-budgeted method drops the rays past its budget;
# parallel.render_image renders them again instead of leaving them black.
RAY_COMPLETE = "ray_complete"


def make_render_fn(method: base.Method, model, config):
  """Jitted deterministic rendering of a chunk of rays (or pixels of
  `cameras`): the last level's declared outputs, and RAY_COMPLETE [chunk]
  where the method budgets its samples (its `loss_mask`).

  Returns:
    render(variables, batch, cameras, step, key=None) -> dict of
    [chunk, ...]; `step` is the training step the model renders at (its
    progress). A deterministic render must not depend on `key` (None:
    key 0); it is an argument, not a constant, so that the contract tests
    check that with one compiled program.
  """

  @jax.jit
  def render_keyed(variables, batch, cameras, step, key):
    _, outputs = render(model, variables, batch, cameras, key, False,
                        base.Progress.at(step, config.max_steps))
    out = {k: outputs[-1][k] for k in method.outputs}
    if "loss_mask" in outputs[-1]:
      out[RAY_COMPLETE] = outputs[-1]["loss_mask"]
    return out

  key0 = jax.random.PRNGKey(0)

  def render_chunk(variables, batch, cameras, step, key=None):
    return render_keyed(variables, batch, cameras, step,
                        key0 if key is None else key)

  return render_chunk
