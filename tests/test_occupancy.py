"""Tests for jaxnerf.render.occupancy: grid updates and packed marching."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from analytic_fields import (assert_camera_gradient_is_the_renders,
                             packed_blob_colour)
from jaxnerf.render import occupancy
from jaxnerf.core.rays import Rays

BOUND, RES, STEPS = 1.5, 8, 32
STEP = 2 * math.sqrt(3) * BOUND / STEPS


def _rays(n=6, seed=0):
  rng = np.random.default_rng(seed)
  origins = rng.normal(size=(n, 3))
  origins = 4 * origins / np.linalg.norm(origins, axis=-1, keepdims=True)
  target = rng.uniform(-0.5, 0.5, (n, 3))
  directions = (target - origins) * rng.uniform(0.3, 1.5, (n, 1))
  # One ray misses the box.
  origins[-1] = [4, 4, 4]
  directions[-1] = [1, 0, 0]
  f = lambda x: jnp.asarray(x, jnp.float32)
  return Rays.create(f(origins), f(directions), 0.0, 20.0, radii=1.0)


def _march(grid, rays, budget=1000, eps=0.0, randomized=False, key=None):
  return occupancy.march(key, rays, grid, BOUND, RES, STEP, STEPS, budget,
                         threshold=0.01, early_stop_eps=eps,
                         randomized=randomized)


def test_empty_grid_gives_no_samples():
  rays = _rays()
  s = _march(jnp.zeros(RES**3), rays)
  assert int(s.num_samples) == 0
  assert not np.any(s.valid)
  assert np.all(np.asarray(s.ray_ids) == rays.shape[0])
  assert np.all(s.ray_complete)


def test_full_grid_reproduces_uniform_sampling():
  rays = _rays()
  s = _march(jnp.ones(RES**3), rays)
  o, d = np.asarray(rays.origins), np.asarray(rays.directions)
  t0, t1 = occupancy.ray_aabb(o, d, BOUND)
  ids, t = np.asarray(s.ray_ids), np.asarray(s.t)
  for r in range(rays.shape[0]):
    dt = STEP / np.linalg.norm(d[r])
    expected = t0[r] + (np.arange(STEPS) + 0.5) * dt
    expected = expected[expected < t1[r]] if t0[r] < t1[r] else []
    np.testing.assert_allclose(t[ids == r], expected, rtol=1e-5)
  assert int(s.num_samples) == np.sum(s.valid)
  np.testing.assert_allclose(np.asarray(s.delta)[np.asarray(s.valid)], STEP)
  # Every sample lies inside the box.
  pts = o[np.minimum(ids, 5)] + t[:, None] * d[np.minimum(ids, 5)]
  assert np.all(np.abs(pts[np.asarray(s.valid)]) <= BOUND + 1e-5)


def test_occupied_cells_only_and_budget_prefix():
  rays = _rays()
  grid = np.zeros((RES,) * 3, np.float32)
  grid[2:6, 2:6, 2:6] = 1.0  # z, y, x: a centred block
  grid = jnp.asarray(grid.reshape(-1))
  s = _march(grid, rays)
  o, d = np.asarray(rays.origins), np.asarray(rays.directions)
  ids, valid = np.asarray(s.ray_ids), np.asarray(s.valid)
  pts = o[ids[valid]] + np.asarray(s.t)[valid, None] * d[ids[valid]]
  assert np.all(np.asarray(grid)[occupancy.cell_index(pts, BOUND, RES)] > 0)
  assert np.all(np.abs(pts) <= 0.75 + 1e-5)
  # A small budget: the complete rays are a prefix and their samples all fit.
  counts = np.bincount(ids[valid], minlength=6)
  budget = int(counts[0] + counts[1] + 1)
  small = _march(grid, rays, budget=budget)
  complete = np.asarray(small.ray_complete)
  assert list(complete[:2]) == [True, True]
  assert np.all(np.cumsum(counts)[complete] <= budget)
  assert not np.any(complete[np.argmax(~complete):])


def test_early_stop_truncates_opaque_rays():
  rays = _rays()
  full = _march(jnp.ones(RES**3), rays)
  opaque = _march(jnp.full(RES**3, 5.0), rays, eps=1e-3)
  # Each step counts at most thickness 1 (the cap): exp(-k) < 1e-3 after
  # k = 7 samples, so at most 7 per ray survive.
  counts = np.bincount(np.asarray(opaque.ray_ids)[np.asarray(opaque.valid)],
                       minlength=6)
  assert np.all(counts <= 7) and np.any(counts == 7)
  assert counts.sum() < int(full.num_samples)


def test_randomized_marching_jitters_within_one_step():
  rays = _rays()
  s0 = _march(jnp.ones(RES**3), rays)
  s1 = _march(jnp.ones(RES**3), rays, randomized=True,
              key=jax.random.PRNGKey(0))
  assert not np.allclose(s0.t[:5], s1.t[:5])
  norm = np.linalg.norm(np.asarray(rays.directions)[0])
  assert np.all(np.abs(np.asarray(s0.t[:3] - s1.t[:3])) <= STEP / norm / 2)


def test_update_grid_decays_and_takes_max():
  grid = jnp.asarray([1.0, 1.0, 0.1, 0.0])
  new = occupancy.update_grid(grid, jnp.asarray([0, 2, 2]),
                              jnp.asarray([0.5, 0.3, 0.7]), decay=0.5)
  np.testing.assert_allclose(new, [0.5, 0.5, 0.7, 0.0])
  occ = occupancy.occupied(jnp.asarray([0.0, 0.001, 0.02, 0.0]), 0.01)
  # mean = 0.00525 < threshold, so the mean is the cut-off.
  assert list(np.asarray(occ)) == [False, False, True, False]
  cells = occupancy.update_cells(jnp.asarray(3), None, 10, 4)
  assert list(np.asarray(cells)) == [2, 3, 4, 5]


def _blob_render(origin, direction):
  """Colour [3] of one ray through a smooth blob, marched at fixed u on a
  full grid (the localiser's deterministic render)."""
  rays = Rays.create(origin[None], direction[None], 0.0, 20.0, radii=1.0)
  return packed_blob_colour(_march(jnp.ones(RES**3), rays, budget=STEPS),
                            rays, 0.2)


def test_camera_gradient_is_that_of_the_marched_render():
  """The samples sit at fixed steps from the box entry: moving the origin
  along its ray leaves the render and its gradient unchanged; sideways the
  gradient matches finite differences of the re-marched render."""
  origin = jnp.array([3.2, 1.1, -2.0], jnp.float32)
  direction = -origin + jnp.array([0.05, -0.1, 0.08], jnp.float32)
  assert_camera_gradient_is_the_renders(_blob_render, origin, direction,
                                        atol=1e-5)
  # Scaling the direction (a focal change's effect on a camera-space ray's
  # length) leaves the world samples, hence the render, where they were.
  np.testing.assert_allclose(jax.jacfwd(_blob_render, 1)(origin, direction)
                             @ direction, 0.0, atol=1e-5)
