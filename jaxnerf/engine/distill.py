"""Distillation from a trained teacher run (KiloNeRF's first stage; any
method's field as the teacher, any method as the student).

For the first `distill_steps` steps of a run whose config names a
`teacher_config`, the train loop runs `distill_step` instead of the
photometric step: the student's field interface (`density`, `radiance`)
is fitted to the teacher's at `distill_batch` points a step with random
view directions, on

    mean over points of ((alpha_s - alpha_t)^2 + |rgb_s - rgb_t|^2) / 4,

alpha = 1 - exp(-sigma * distill_alpha_step) (KiloNeRF's loss on alpha and
colour together: fitting alpha rather than sigma keeps the error of the
teacher's huge densities bounded). A share `distill_occupied_share` of the
points is drawn uniformly in the cells where the teacher has density (its
occupancy, measured once when distillation starts), the rest uniformly in
the scene box, so that the student learns empty space too without
spending most points there. Then training goes on with the images
(KiloNeRF's fine-tuning), with the same optimiser state and schedules.

The teacher is restored by the command (engine/runs.py's `load_teacher`)
and handed to the loop, which never names a method.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.core import metrics
from jaxnerf.engine import training
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.render import occupancy


@dataclasses.dataclass
class Teacher:
  """A trained run's field, frozen.

  density: (variables, points [M, 3]) -> sigma [M]; radiance: (variables,
  points [M, 3], unit directions [M, 3]) -> rgb [M, 3]; both pure, to be
  traced in the student's step. cells: [K] int32 flat indices (x fastest)
  of the cells of a `resolution`^3 grid over [-bound, bound]^3 where the
  teacher has density (`occupied_cells`).
  """

  density: Callable
  radiance: Callable
  variables: Any
  cells: np.ndarray
  resolution: int
  bound: float
  step: int


def check_config(config) -> None:
  """One-line errors naming a bad distillation field (before any work)."""
  if not config.teacher_config:
    if config.distill_steps:
      raise ConfigError(f"config.distill_steps: {config.distill_steps} "
                        "needs config.teacher_config (the teacher run's "
                        "config)")
    return
  base.check_integer_fields(config, (
      ("distill_steps", 1), ("distill_batch", 1),
      ("distill_occupancy_resolution", 1)))
  if config.distill_steps > config.max_steps:
    raise ConfigError(f"config.distill_steps: {config.distill_steps} is "
                      f"more than config.max_steps ({config.max_steps})")
  if not 0 <= config.distill_occupied_share <= 1:
    raise ConfigError(f"config.distill_occupied_share: "
                      f"{config.distill_occupied_share!r} must be in [0, 1]")
  for name in ("distill_alpha_step", "distill_occupancy_threshold"):
    if not config[name] > 0:
      raise ConfigError(f"config.{name}: {config[name]!r} must be > 0")


def occupied_cells(density: Callable[[jax.Array], jax.Array],
                   resolution: int, bound: float, alpha_step: float,
                   threshold: float, points_per_cell: int = 8,
                   chunk: int = 2**16, seed: int = 0) -> np.ndarray:
  """[K] int32 flat indices of the cells where `density` (points [M, 3]
  -> [M], jitted by the caller or not) reaches alpha = 1 - exp(-sigma
  alpha_step) above `threshold` at any of `points_per_cell` random points,
  dilated by one cell (the 3 x 3 x 3 neighbourhood: a surface between
  two cells' points is kept)."""
  num = resolution**3
  rng = np.random.default_rng(seed)
  peak = np.zeros((num,), np.float32)
  cells = np.arange(num, dtype=np.int32)
  per = max(1, chunk // points_per_cell)
  for start in range(0, num, per):
    c = cells[start:start + per]
    u = rng.random((c.size, points_per_cell, 3), dtype=np.float32)
    p = occupancy.points_in_cells(
        jnp.repeat(jnp.asarray(c), points_per_cell),
        jnp.asarray(u.reshape(-1, 3)), resolution, bound)
    sigma = np.asarray(density(p)).reshape(c.size, points_per_cell)
    peak[start:start + c.size] = sigma.max(axis=-1)
  occupied = (1 - np.exp(-peak * alpha_step) > threshold).reshape(
      (resolution,) * 3)
  dilated = occupied
  for axis in range(3):  # separable: the 3 x 3 x 3 neighbourhood
    grown = dilated.copy()
    for shift in (-1, 1):
      moved = np.roll(dilated, shift, axis=axis)
      edge = [slice(None)] * 3
      edge[axis] = 0 if shift == 1 else -1
      moved[tuple(edge)] = False  # no wrap-around
      grown |= moved
    dilated = grown
  return np.nonzero(dilated.reshape(-1))[0].astype(np.int32)


def draw_points(key: jax.Array, cells: jax.Array, resolution: int,
                bound: float, num: int, occupied_share: float
                ) -> tuple[jax.Array, jax.Array]:
  """(points [num, 3], unit directions [num, 3]): the first
  round(num * occupied_share) uniform in the cells [K] (each cell equally
  likely), the rest uniform in the box; directions uniform on the
  sphere."""
  k_cell, k_u, k_box, k_dir = jax.random.split(key, 4)
  in_cells = int(round(num * occupied_share)) if cells.shape[0] else 0
  which = jax.random.randint(k_cell, (in_cells,), 0, max(cells.shape[0], 1))
  chosen = cells[which] if in_cells else jnp.zeros((0,), jnp.int32)
  near = occupancy.points_in_cells(
      chosen, jax.random.uniform(k_u, (in_cells, 3)), resolution, bound)
  box = jax.random.uniform(k_box, (num - in_cells, 3), minval=-bound,
                           maxval=bound)
  dirs = jax.random.normal(k_dir, (num, 3))
  dirs = dirs / jnp.maximum(jnp.linalg.norm(dirs, axis=-1, keepdims=True),
                            1e-9)
  return jnp.concatenate([near, box], axis=0), dirs


def distill_loss(sigma_s: jax.Array, rgb_s: jax.Array, sigma_t: jax.Array,
                 rgb_t: jax.Array, alpha_step: float
                 ) -> tuple[jax.Array, jax.Array]:
  """(loss, colour MSE): the mean over points and the 4 channels (alpha,
  rgb) of the squared differences, alpha = 1 - exp(-sigma alpha_step);
  sigma [M], rgb [M, 3]."""
  alpha = lambda sigma: 1 - jnp.exp(-sigma * alpha_step)
  err_alpha = (alpha(sigma_s) - alpha(sigma_t)) ** 2
  err_rgb = jnp.sum((rgb_s - rgb_t) ** 2, axis=-1)
  return jnp.mean(err_alpha + err_rgb) / 4, jnp.mean(err_rgb) / 3


def distill_step(method, model, config, teacher: Teacher,
                 state: training.TrainState, teacher_variables: Any,
                 cells: jax.Array, base_key: jax.Array,
                 fraction=None) -> tuple[training.TrainState, dict]:
  """One distillation update of the student (pure; jit it with method,
  model, config and teacher bound). Stats as the train step's: `loss`,
  `loss/distill`, `psnr` (of the colour against the teacher's), `lr`."""
  key = jax.random.fold_in(base_key, state.step)
  points, dirs = draw_points(key, cells, teacher.resolution, teacher.bound,
                             config.distill_batch,
                             config.distill_occupied_share)
  sigma_t = jax.lax.stop_gradient(teacher.density(teacher_variables, points))
  rgb_t = jax.lax.stop_gradient(teacher.radiance(teacher_variables, points,
                                                 dirs))

  def loss_fn(params):
    variables = {"params": params, **state.model_state}
    sigma_s = model.apply(variables, points, method="density")
    rgb_s = model.apply(variables, points, dirs, method="radiance")
    return distill_loss(sigma_s, rgb_s, sigma_t, rgb_t,
                        config.distill_alpha_step)

  (loss, rgb_mse), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  new_state = training.apply_gradients(method, model, config, state, grads,
                                       loss, key, fraction)
  return new_state, dict(
      loss=loss, psnr=metrics.mse_to_psnr(rgb_mse), **{"loss/distill": loss},
      **training.learning_rates(method, config, state.step, fraction))


def jit_distill_step(method, model, config, teacher: Teacher):
  """distill_step jitted: step(state, teacher variables, cells, key,
  fraction=None) -> (state, stats); the state's buffers donated."""
  return jax.jit(functools.partial(distill_step, method, model, config,
                                   teacher), donate_argnums=(0,))

