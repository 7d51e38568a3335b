"""Occupancy-grid upkeep and marching shared by the hash-grid methods
(`instant_ngp`, `barf_hashgrid`, `nerfw_ngp`, `dnerf_ngp`): Instant-NGP's
scheme (jaxnerf/occupancy.py) with the field's density supplied by the
method, so the grid can cover what only some times hold (dnerf_ngp's moving
parts; nerfw_ngp keeps its transients out: see its docstring).

Every one of them takes config.contraction: the grid, the marcher and the
field then live in mip-NeRF 360's contracted box (jaxnerf/contraction.py).

Not a method (the leading underscore keeps it out of the registry).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from jaxnerf import contraction, footprint, hashgrid, losses, occupancy
from jaxnerf.errors import ConfigError
from jaxnerf.rays import Rays


def step_size(c) -> float:
  """World-space marching step: the box diagonal over march_steps."""
  return 2 * math.sqrt(3) * c.scene_bound / c.march_steps


def check_config(c) -> None:
  """One-line errors for an unknown config.contraction or ray_jitter."""
  if c.contraction not in contraction.KINDS:
    raise ConfigError(f"config.contraction: unknown {c.contraction!r}; "
                      f"known: {list(contraction.KINDS)}")
  footprint.check_shape(c.ray_jitter, "ray_jitter")


def jittered_rays(key: jax.Array, rays: Rays, c, randomized: bool
                  ) -> tuple[jax.Array, Rays]:
  """(key for the rest of the render, rays [N]): when training with
  config.ray_jitter, each ray through a random point of its pixel's
  footprint (footprint.jitter_rays). The key is split only then, so runs
  without jitter keep their random stream."""
  if not randomized or c.ray_jitter == "none":
    return key, rays
  key, key_jitter = jax.random.split(key)
  return key, footprint.jitter_rays(key_jitter, rays, c.ray_jitter)


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


def distortion_output(c, weights: jax.Array, samples, rays: Rays,
                      num_rays: int) -> dict:
  """{"distortion": [N]} per-ray distortion loss of a packed render
  (distances in world units), or {} when config.distortion_mult is 0."""
  if c.distortion_mult <= 0:
    return {}
  ids = jnp.minimum(samples.ray_ids, num_rays - 1)
  norm = jnp.linalg.norm(jnp.take(rays.directions, ids, axis=0), axis=-1)
  return {"distortion": losses.packed_distortion(
      weights, samples.t * norm, samples.delta, samples.ray_ids, num_rays)}


def regulariser_terms(config, outputs, rays: Rays, params) -> dict:
  """The loss terms of the shared regularisers that are on: `distortion`
  (distortion_mult) and `grid_l2` (grid_l2_mult, Zip-NeRF's normalised
  decay of the hash table at params["field"]["grid"]["table"])."""
  terms = losses.distortion_terms(outputs, rays, config.distortion_mult)
  if config.grid_l2_mult > 0:
    levels = hashgrid.level_layout(
        config.hash_levels, config.hash_log2_size, config.hash_min_resolution,
        config.hash_max_resolution)
    terms["grid_l2"] = config.grid_l2_mult * losses.grid_l2(
        params["field"]["grid"]["table"],
        [(lv.offset, lv.size) for lv in levels])
  return terms
