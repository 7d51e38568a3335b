"""Occupancy-grid upkeep and marching shared by the hash-grid methods
(`instant_ngp`, `barf_hashgrid`, `nerfw_ngp`, `dnerf_ngp`): Instant-NGP's
scheme (jaxnerf/occupancy.py) with the field's density supplied by the
method, so the grid can cover what only some images (transient objects) or
some times (moving parts) hold.

Every one of them takes config.contraction: the grid, the marcher and the
field then live in mip-NeRF 360's contracted box (jaxnerf/contraction.py).

Not a method (the leading underscore keeps it out of the registry).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from jaxnerf import contraction, occupancy
from jaxnerf.errors import ConfigError
from jaxnerf.rays import Rays


def step_size(c) -> float:
  """World-space marching step: the box diagonal over march_steps."""
  return 2 * math.sqrt(3) * c.scene_bound / c.march_steps


def check_contraction(c) -> None:
  """A one-line error for an unknown config.contraction."""
  if c.contraction not in contraction.KINDS:
    raise ConfigError(f"config.contraction: unknown {c.contraction!r}; "
                      f"known: {list(contraction.KINDS)}")


def to_field(c, points: jax.Array) -> jax.Array:
  """World points [..., 3] -> the field's box (contracted if set)."""
  if c.contraction == "none":
    return points
  return contraction.contract(points, c.scene_bound / 2)


def initial_grid(c) -> jax.Array:
  """Every cell just above the threshold: all space is marched until four
  updates have seen the field there (as instant_ngp)."""
  return jnp.full((c.occupancy_resolution**3,),
                  c.occupancy_threshold / c.occupancy_decay**4, jnp.float32)


def updated_grid(grid: jax.Array, step: jax.Array, key: jax.Array, c,
                 density_fn: Callable[[jax.Array, jax.Array], jax.Array]
                 ) -> jax.Array:
  """One refresh: a sweep of cells, the density at a jittered point of
  each (`density_fn(points [K, 3], key) -> [K]`, e.g. at random times or
  with random images' codes), decayed max into the grid."""
  res = c.occupancy_resolution
  num_cells = res**3
  count = max(1, int(num_cells * c.occupancy_update_fraction))
  cells = occupancy.update_cells(step // c.occupancy_update_every, key,
                                 num_cells, count)
  ijk = jnp.stack([cells % res, (cells // res) % res, cells // res**2], -1)
  key_jitter, key_density = jax.random.split(key)
  jitter = jax.random.uniform(key_jitter, (count, 3))
  points = ((ijk + jitter) / res * 2 - 1) * c.scene_bound
  density = jax.lax.stop_gradient(density_fn(points, key_density))
  if c.contraction != "none":  # a step there is longer in the world
    density = density * contraction.world_step_scale(points,
                                                     c.scene_bound / 2)
  return occupancy.update_grid(grid, cells, density * step_size(c),
                               c.occupancy_decay)


def march(key: jax.Array, rays: Rays, grid: jax.Array, c, randomized: bool):
  """Packed samples of rays [N] in occupied cells.

  The budget is samples_budget when training, at most
  render_samples_per_ray per ray.

  Returns:
    (samples: occupancy.PackedSamples (t along the world ray), ids [B] ray
    of each sample clipped into range, points [B, 3] in the field's box,
    budget B).
  """
  n = rays.origins.shape[0]
  # Never more than render_samples_per_ray per ray: a few hundred rays (a
  # test-time fit) would otherwise pay for a training batch's padding.
  budget = n * c.render_samples_per_ray
  if randomized:
    budget = min(budget, c.samples_budget)
  budget = max(budget, c.march_steps)  # one whole ray always fits
  if c.contraction == "none":
    samples = occupancy.march(
        key, rays, grid, c.scene_bound, c.occupancy_resolution, step_size(c),
        c.march_steps, budget, c.occupancy_threshold, c.early_stop_eps,
        randomized)
  else:
    samples = contraction.march(
        key, rays, grid, c.scene_bound, c.occupancy_resolution, step_size(c),
        budget, c.occupancy_threshold, c.early_stop_eps, randomized)
  ids = jnp.minimum(samples.ray_ids, n - 1)
  points = to_field(c, jnp.take(rays.origins, ids, axis=0) +
                    samples.t[:, None] * jnp.take(rays.directions, ids, axis=0))
  return samples, ids, points, budget


def loss_mask_and_stats(samples, grid: jax.Array, c, num_rays: int,
                        budget: int) -> dict:
  """`loss_mask` (rays whose samples all fit the budget) and the training
  log's `stats` of a packed render."""
  mask = samples.ray_complete.astype(jnp.float32)
  return {"loss_mask": mask, "stats": dict(
      rays_used=jnp.sum(mask),
      samples_per_ray=samples.num_samples / num_rays,
      budget_fill=jnp.minimum(samples.num_samples, budget) / budget,
      occupied_fraction=jnp.mean(occupancy.occupied(
          grid, c.occupancy_threshold).astype(jnp.float32)))}
