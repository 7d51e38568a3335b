"""Scene contraction for unbounded scenes (mip-NeRF 360, Barron et al. 2022,
eq. 10) and ray marching through an occupancy grid over contracted space.

    contract(x) = x                          if |x| <= r
                  r (2 - r / |x|) x / |x|    otherwise

keeps the ball of radius r as it is and squeezes all the space beyond it
into the shell r < |y| < 2r, so a field and an occupancy grid over the box
[-2r, 2r]^3 cover the whole world (r = 1 is the paper's form).

Marching: inside the ball, fixed world steps of the grid's step size;
beyond it, samples uniform in inverse distance (mip-NeRF 360's disparity
spacing), which the contraction maps to steps of about the same size in
contracted space (the contraction's radial derivative is r^2 / |x|^2), out
to the distance where the shell has less than one grid cell left. Samples
in empty cells are dropped and the rest packed into a static budget as
`occupancy.march` does.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnerf.render import occupancy
from jaxnerf.core.rays import Rays

KINDS = ("none", "mipnerf360")


def contract(x: jax.Array, radius: float = 1.0) -> jax.Array:
  """mip-NeRF 360's contraction with inner radius `radius`: [..., 3]."""
  norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
  safe = jnp.maximum(norm, radius)  # the outer branch only sees |x| >= r
  outer = radius * (2.0 - radius / safe) * x / safe
  return jnp.where(norm <= radius, x, outer)


def uncontract(y: jax.Array, radius: float = 1.0) -> jax.Array:
  """The inverse of `contract` on the open ball |y| < 2r: [..., 3]."""
  norm = jnp.linalg.norm(y, axis=-1, keepdims=True)
  safe = jnp.clip(norm, radius, 2.0 * radius * (1.0 - 1e-6))
  outer = radius**2 / (2.0 * radius - safe) * y / safe
  return jnp.where(norm <= radius, y, outer)


def world_step_scale(y: jax.Array, radius: float) -> jax.Array:
  """World length of a unit step in contracted space at contracted points
  y [..., 3], radially: max(1, |x|^2 / r^2) with x = uncontract(y): [...].

  An occupancy grid over contracted space stores sigma * step for the step
  a ray takes there, which is this much longer than the grid's own step.
  """
  x = uncontract(y, radius)
  return jnp.maximum(1.0, jnp.sum(x * x, axis=-1) / radius**2)


def sphere_interval(origins: jax.Array, unit_dirs: jax.Array,
                    radius) -> tuple[jax.Array, jax.Array]:
  """Distances (along unit directions) where rays enter and leave the ball
  |x| < radius: [N] each; enter >= exit where a ray misses it."""
  b = jnp.sum(origins * unit_dirs, axis=-1)
  c = jnp.sum(origins * origins, axis=-1) - radius**2
  disc = b * b - c
  root = jnp.sqrt(jnp.maximum(disc, 0.0))
  miss = disc <= 0
  return jnp.where(miss, 1.0, -b - root), jnp.where(miss, 0.0, -b + root)


def num_steps(bound: float, step_size: float) -> tuple[int, int]:
  """(inner, outer) static step counts for the box [-bound, bound]^3 with
  inner radius bound / 2: the ball's diameter, and the shell's depth, in
  steps of `step_size`."""
  radius = bound / 2
  return math.ceil(2 * radius / step_size), math.ceil(radius / step_size)


def march(key: jax.Array | None, rays: Rays, grid: jax.Array, bound: float,
          resolution: int, step_size: float, budget: int, threshold: float,
          early_stop_eps: float, randomized: bool,
          early_stop_max_thickness: float = 1.0
          ) -> occupancy.PackedSamples:
  """Samples of unbounded rays in occupied cells of a contracted grid.

  The grid covers contracted space [-bound, bound]^3 (inner radius
  r = bound / 2). Each ray is sampled from its near bound: every step_size
  inside the ball, then uniformly in inverse distance out to the sphere of
  radius r * resolution / 2 (beyond it the shell is thinner than a cell);
  rays.far is not used (the scene is unbounded). The jitter u (one per ray
  when randomized, else 1/2) places each sample in its interval.

  Args:
    rays: Rays [N] (origins inside the far sphere).
    grid: [R^3] optical thickness per cell (see occupancy.update_grid).
    budget: B, samples in the packed output.
    early_stop_eps, early_stop_max_thickness: as occupancy.march.
  Returns:
    PackedSamples (t along the unnormalised directions, delta in world
    units).
  """
  radius = bound / 2
  inner, outer = num_steps(bound, step_size)
  n = rays.origins.shape[0]
  norm = jnp.linalg.norm(rays.directions, axis=-1)  # [N]
  unit = rays.directions / norm[:, None]
  near = rays.near[:, 0] * norm  # world distances from here on
  enter, exit_ = sphere_interval(rays.origins, unit, radius)
  _, far = sphere_interval(rays.origins, unit, radius * resolution / 2)
  in_start = jnp.maximum(near, enter)
  in_end = jnp.maximum(in_start, exit_)
  out_start = jnp.maximum(near, exit_)
  out_start = jnp.maximum(out_start, 1e-3 * radius)
  far = jnp.maximum(far, out_start)
  if randomized:
    u = jax.random.uniform(key, (n, 1), dtype=norm.dtype)
  else:
    u = jnp.full((n, 1), 0.5, norm.dtype)
  k = jnp.arange(inner, dtype=norm.dtype)
  s_in = in_start[:, None] + (k + u) * step_size  # [N, inner]
  valid_in = s_in < in_end[:, None]
  delta_in = jnp.full_like(s_in, step_size)
  # Inverse distance linear in w in [0, 1] from out_start to far.
  at = lambda w: 1.0 / ((1.0 - w) / out_start[:, None] + w / far[:, None])
  j = jnp.arange(outer, dtype=norm.dtype)
  s_out = at((j + u) / outer)
  delta_out = at((j + 1) / outer) - at(j / outer)
  valid_out = s_out < far[:, None]
  s = jnp.concatenate([s_in, s_out], axis=-1)  # [N, S], sorted per ray
  delta = jnp.concatenate([delta_in, delta_out], axis=-1)
  inside = jnp.concatenate([valid_in, valid_out], axis=-1)
  points = rays.origins[:, None, :] + s[..., None] * unit[:, None, :]
  cells = occupancy.cell_index(contract(points, radius), bound, resolution)
  keep = inside & occupancy.occupied(grid, threshold)[cells]
  return occupancy.pack_samples(s / norm[:, None], delta, keep, grid[cells],
                                budget, early_stop_eps,
                                early_stop_max_thickness)
