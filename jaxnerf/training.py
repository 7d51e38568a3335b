"""The optimisation: learning-rate schedule, optimiser, loss and train step.

The train step is a pure function of (state, training data, base key): it
draws its own batch on device with a key folded from the step number, so a
resumed run draws exactly what an uninterrupted one would, and no data
crosses from the host per step.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnerf import metrics
from jaxnerf.rays import Rays


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


def learning_rate_schedule(config) -> optax.Schedule:
  return functools.partial(learning_rate, lr_init=config.lr_init,
                           lr_final=config.lr_final,
                           max_steps=config.max_steps,
                           lr_delay_steps=config.lr_delay_steps,
                           lr_delay_mult=config.lr_delay_mult)


def make_optimizer(config) -> optax.GradientTransformation:
  """Adam with the JaxNeRF schedule, optionally after gradient clipping."""
  chain = []
  if config.grad_max_norm > 0:
    chain.append(optax.clip_by_global_norm(config.grad_max_norm))
  chain.append(optax.adam(learning_rate_schedule(config),
                          b1=config.get("adam_b1", 0.9),
                          b2=config.get("adam_b2", 0.999),
                          eps=config.get("adam_eps", 1e-8)))
  return optax.chain(*chain)


@flax.struct.dataclass
class TrainState:
  """Everything a checkpoint holds.

  step: number of updates applied. model_state: non-parameter variable
  collections of the model (empty for NeRF). nonfinite_steps: updates
  skipped because the loss or gradients were not finite.
  """

  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any
  nonfinite_steps: jax.Array


def create_train_state(model, optimizer, key: jax.Array) -> TrainState:
  dummy = Rays(*[jnp.zeros((1, d), jnp.float32) for d in (3, 3, 3, 1, 1, 1, 1)])
  variables = model.init(key, dummy, key, randomized=False)
  params = variables.pop("params")
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(params),
                    model_state=dict(variables),
                    nonfinite_steps=jnp.zeros((), jnp.int32))


@flax.struct.dataclass
class TrainData:
  """All training rays, on device. Leading shape [num_images, pixels]."""

  rays: Rays
  rgb: jax.Array  # [num_images, pixels, 3]


def sample_batch(key: jax.Array, data: TrainData, batch_size: int,
                 image_batching: bool,
                 num_valid: jax.Array | None = None) -> tuple[Rays, jax.Array]:
  """Random rays across all images, or from one random image.

  Args:
    data: TrainData with leading shape [num_images, pixels].
    num_valid: only images [0, num_valid) are drawn (the rest is padding);
      default all.
  Returns:
    Rays [batch_size] and their colours [batch_size, 3].
  """
  num_images, num_pixels = data.rgb.shape[:2]
  if num_valid is None:
    num_valid = num_images
  key_image, key_pixel = jax.random.split(key)
  pixel = jax.random.randint(key_pixel, (batch_size,), 0, num_pixels)
  if image_batching:
    image = jnp.broadcast_to(
        jax.random.randint(key_image, (), 0, num_valid), (batch_size,))
  else:
    image = jax.random.randint(key_image, (batch_size,), 0, num_valid)
  take = lambda x: x[image, pixel]
  return jax.tree.map(take, data.rays), take(data.rgb)


def compute_loss(outputs: list[dict], rgb: jax.Array, lossmult: jax.Array,
                 coarse_loss_mult: float):
  """Weighted MSE per level; every level but the last times coarse_loss_mult.

  A level may return `loss_mask` [N] (e.g. rays that did not fit a sample
  budget get 0); it multiplies lossmult.

  Returns:
    (loss, per-level MSE list). The per-level MSE is lossmult-weighted.
  """
  mses = []
  for out in outputs:
    weight = lossmult[..., 0] * out.get("loss_mask", 1.0)
    mses.append(jnp.sum(weight * jnp.mean((out["rgb"] - rgb)**2, axis=-1)) /
                jnp.sum(weight))
  loss = coarse_loss_mult * sum(mses[:-1]) + mses[-1]
  return loss, mses


def l2_of_kernels(params) -> jax.Array:
  leaves = jax.tree_util.tree_leaves_with_path(params)
  return sum(jnp.sum(x**2) for path, x in leaves
             if getattr(path[-1], "key", "") == "kernel")


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


def train_step(model, config, optimizer, state: TrainState, data: Any,
               base_key: jax.Array, batch_sharding=None, sampler=None):
  """One optimisation step. Pure; jit it with model/config/optimizer bound.

  Args:
    data: TrainData, or whatever `sampler` takes.
    batch_sharding: optional sharding for the drawn batch (data parallel).
    sampler: optional (key, data) -> (Rays [batch_size], rgb [batch_size, 3]);
      default `sample_batch` over all of `data`
      (jaxnerf.parallel.make_sampler draws per data shard).
  Returns:
    (new state, stats dict of scalars).
  """
  key = jax.random.fold_in(base_key, state.step)
  key_batch, key_render = jax.random.split(key)
  if sampler is None:
    rays, rgb = sample_batch(key_batch, data, config.batch_size,
                             config.image_batching)
  else:
    rays, rgb = sampler(key_batch, data)
  if batch_sharding is not None:
    rays, rgb = jax.lax.with_sharding_constraint((rays, rgb), batch_sharding)

  def loss_fn(params):
    variables = {"params": params, **state.model_state}
    outputs = model.apply(variables, rays, key_render,
                          randomized=config.randomized)
    loss, mses = compute_loss(outputs, rgb, rays.lossmult,
                              config.coarse_loss_mult)
    extra = sum(out.get("regularizer", 0.0) for out in outputs)
    weight_l2 = config.weight_decay_mult * l2_of_kernels(params)
    return loss + extra + weight_l2, (loss, mses, outputs[-1].get("stats", {}))

  (_, (loss, mses, model_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  finite = jnp.isfinite(loss) & jnp.all(jnp.array(
      [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
  # A non-finite update is never applied, so no checkpoint can hold one.
  keep = lambda new, old: jax.tree.map(
      lambda a, b: jnp.where(finite, a, b), new, old)
  params = keep(params, state.params)
  new_state = TrainState(
      step=state.step + 1,
      params=params,
      opt_state=keep(opt_state, state.opt_state),
      model_state=update_model_state(model, params, state.model_state,
                                     state.step + 1, key),
      nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32))
  stats = dict(loss=loss, psnr=metrics.mse_to_psnr(mses[-1]),
               lr=learning_rate_schedule(config)(state.step), **model_stats)
  for i, mse in enumerate(mses):
    stats[f"psnr_level{i}"] = metrics.mse_to_psnr(mse)
  return new_state, stats
