"""Occupancy grid and packed ray marching (Instant-NGP section 4 / nerfacc).

The grid covers the axis-aligned box [-bound, bound]^3 with R^3 cells and
stores, per cell, an estimate of the optical thickness sigma * step of one
marching step (a running max over evaluated points, decayed every update).
A cell is occupied if its value exceeds min(threshold, mean of the grid).

Marching takes fixed world-space steps along each ray inside the box, keeps
only steps in occupied cells and stops a ray once the transmittance estimated
from the grid is spent. The kept samples are packed (see rendering.py) into
a static budget of B samples by a cumulative-sum compaction; rays whose
samples do not all fit are reported as incomplete, so the loss can skip
them: the complete rays are a prefix of an i.i.d. batch, an unbiased subset,
and their number adapts to the budget by itself.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxnerf.core.rays import Rays


@flax.struct.dataclass
class PackedSamples:
  """Samples of N rays packed into a static budget B.

  ray_ids: [B] int32, non-decreasing; padding has id N.
  t: [B] distance along the (unnormalised) ray direction.
  delta: [B] world-space length of each sample's interval.
  valid: [B] False for padding.
  ray_complete: [N] every sample of the ray fits in the budget.
  num_samples: [] samples wanted by all rays (may exceed B).
  """

  ray_ids: jax.Array
  t: jax.Array
  delta: jax.Array
  valid: jax.Array
  ray_complete: jax.Array
  num_samples: jax.Array


def ray_aabb(origins: jax.Array, directions: jax.Array,
             bound: float) -> tuple[jax.Array, jax.Array]:
  """Entry and exit t of rays through [-bound, bound]^3 (slab method).

  Args:
    origins, directions: [N, 3].
  Returns:
    t_min, t_max: [N]; t_min >= t_max where the ray misses the box.
  """
  safe = jnp.where(jnp.abs(directions) < 1e-9, 1e-9, directions)
  t_lo = (-bound - origins) / safe
  t_hi = (bound - origins) / safe
  t_min = jnp.max(jnp.minimum(t_lo, t_hi), axis=-1)
  t_max = jnp.min(jnp.maximum(t_lo, t_hi), axis=-1)
  return t_min, t_max


def cell_index(points: jax.Array, bound: float, resolution: int) -> jax.Array:
  """Flat cell index (x fastest) of points in [-bound, bound]^3: [...] int32."""
  ijk = jnp.floor((points + bound) / (2 * bound) * resolution).astype(jnp.int32)
  ijk = jnp.clip(ijk, 0, resolution - 1)
  return ijk[..., 0] + resolution * (ijk[..., 1] + resolution * ijk[..., 2])


def cell_centers(resolution: int, bound: float) -> jax.Array:
  """World centres of all cells in flat-index order: [R^3, 3]."""
  r = (jnp.arange(resolution, dtype=jnp.float32) + 0.5) / resolution
  z, y, x = jnp.meshgrid(r, r, r, indexing="ij")
  unit = jnp.stack([x, y, z], axis=-1).reshape(-1, 3)
  return (2 * unit - 1) * bound


def points_in_cells(cells: jax.Array, u: jax.Array, resolution: int,
                    bound: float) -> jax.Array:
  """World points [M, 3] at fractions u [M, 3] in [0, 1)^3 of the cells
  [M] (flat indices, x fastest) of a resolution^3 grid over [-bound,
  bound]^3: `cell_index`'s inverse."""
  ijk = jnp.stack([cells % resolution, (cells // resolution) % resolution,
                   cells // resolution**2], axis=-1)
  return ((ijk + u) / resolution * 2 - 1) * bound


def occupied(grid: jax.Array, threshold: float) -> jax.Array:
  """Occupied cells: [R^3] bool. The mean keeps a mostly faint grid usable."""
  return grid > jnp.minimum(threshold, jnp.mean(grid))


def update_grid(grid: jax.Array, cells: jax.Array, thickness: jax.Array,
                decay: float) -> jax.Array:
  """Decays every cell, then takes the max with fresh values at `cells`.

  Args:
    grid: [R^3]; cells: [K] int flat indices (repeats allowed);
    thickness: [K] sigma * step at a point of each cell.
  Returns:
    [R^3].
  """
  return (grid * decay).at[cells].max(thickness)


def update_cells(step: jax.Array, key: jax.Array, num_cells: int,
                 count: int) -> jax.Array:
  """Cells refreshed by the update at `step`: a sweep, `count` at a time.

  A deterministic sweep (rather than random cells) visits every cell once
  every num_cells / count updates, so no occupied cell decays unseen for long.
  `key` is unused; kept so that random schemes fit the same signature.
  """
  del key
  start = (step * count) % num_cells
  return (start + jnp.arange(count, dtype=jnp.int32)) % num_cells


def march(key: jax.Array | None, rays: Rays, grid: jax.Array, bound: float,
          resolution: int, step_size: float, max_steps: int, budget: int,
          threshold: float, early_stop_eps: float, randomized: bool,
          early_stop_max_thickness: float = 1.0) -> PackedSamples:
  """Fixed-step samples in occupied cells, packed into `budget` samples.

  Sample k of a ray is at t = t_0 + (k + u) dt, dt = step_size / |d|, for
  k < max_steps, inside the box and [near, far]; u is one uniform offset per
  ray when randomized, else 1/2.

  Args:
    rays: Rays [N].
    grid: [R^3] optical thickness per cell (see `update_grid`).
    step_size: world-space step length.
    budget: B, samples in the packed output.
    early_stop_eps: drop samples once the grid's transmittance estimate is
      below this (0: never).
    early_stop_max_thickness: cap on one step's optical thickness in that
      estimate. The grid holds a max over each cell, so a ray that only
      grazes a dense cell would otherwise be stopped at once (it rendered as
      background and training collapsed); with the cap a ray is stopped only
      after -log(eps) / cap steps through occupied cells.
  Returns:
    PackedSamples with budget B.
  """
  t, inside, cells = fixed_steps(key, rays, bound, resolution, step_size,
                                 max_steps, randomized)
  keep = inside & occupied(grid, threshold)[cells]
  return pack_samples(t, jnp.full(t.shape, step_size, t.dtype), keep,
                      grid[cells], budget, early_stop_eps,
                      early_stop_max_thickness)


def fixed_steps(key: jax.Array | None, rays: Rays, bound: float,
                resolution: int, step_size, max_steps: int,
                randomized: bool) -> tuple[jax.Array, jax.Array, jax.Array]:
  """`march`'s steps before any cell is tested: t [N, S] = t_0 + (k + u)
  dt from where each ray enters the box (and near), dt = step_size / |d|,
  u one uniform offset per ray when randomized, else 1/2; inside [N, S]
  (before the box's exit and far); cells [N, S] the finest cell of each
  sample (`cell_index`).

  t keeps its dependence on the ray through t_0 (where it enters the box)
  and dt: the samples stay put in the world when a camera moves along a
  ray, so a camera's gradient (iNeRF, BARF) is that of this render. A
  frozen t would slide them with the origin, and a render at fixed u then
  gets a gradient along every ray that the render itself does not have.
  """
  n = rays.origins.shape[0]
  norm = jnp.linalg.norm(rays.directions, axis=-1)  # [N]
  t_min, t_max = ray_aabb(rays.origins, rays.directions, bound)
  t_min = jnp.maximum(t_min, rays.near[:, 0])
  t_max = jnp.minimum(t_max, rays.far[:, 0])
  dt = step_size / norm
  if randomized:
    u = jax.random.uniform(key, (n, 1), dtype=dt.dtype)
  else:
    u = jnp.full((n, 1), 0.5, dt.dtype)
  k = jnp.arange(max_steps, dtype=dt.dtype)
  t = t_min[:, None] + (k + u) * dt[:, None]  # [N, S]
  inside = t < t_max[:, None]
  points = rays.origins[:, None, :] + t[..., None] * rays.directions[:, None]
  return t, inside, cell_index(points, bound, resolution)


def pack_samples(t: jax.Array, delta: jax.Array, keep: jax.Array,
                 thickness: jax.Array, budget: int, early_stop_eps: float,
                 early_stop_max_thickness: float = 1.0) -> PackedSamples:
  """Packs the kept samples of N rays into a static budget, in ray-major
  order (compaction by cumulative sum): `march`'s, and marchers whose
  steps vary along the ray (contraction.march).

  Args:
    t: [N, S] sample positions, sorted per ray; delta: [N, S] their world
      lengths; keep: [N, S] samples in occupied cells;
    thickness: [N, S] the grid's value at each sample (early stopping, as
      in `march`).
  Returns:
    PackedSamples with budget B.
  """
  n, steps = t.shape
  if early_stop_eps > 0:
    tau = jnp.where(keep, jnp.minimum(thickness, early_stop_max_thickness),
                    0.0)
    exclusive = jnp.cumsum(tau, axis=-1) - tau
    keep = keep & (exclusive < -jnp.log(early_stop_eps))
  counts = jnp.sum(keep, axis=-1)
  ray_complete = jnp.cumsum(counts) <= budget
  total = jnp.sum(counts)
  (flat,) = jnp.nonzero(keep.reshape(-1), size=budget, fill_value=0)
  valid = jnp.arange(budget) < total
  ray_ids = jnp.where(valid, flat // steps, n).astype(jnp.int32)
  # t and delta keep their dependence on the ray (`fixed_steps` says why).
  return PackedSamples(ray_ids=ray_ids, t=t.reshape(-1)[flat],
                       delta=delta.reshape(-1)[flat],
                       valid=valid, ray_complete=ray_complete,
                       num_samples=total)
