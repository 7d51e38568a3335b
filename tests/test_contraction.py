"""mip-NeRF 360's contraction, its inverse, and marching unbounded rays
through a contracted occupancy grid (also inside every hash-grid method)."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analytic_fields import (assert_camera_gradient_is_the_renders,
                             packed_blob_colour)
from jaxnerf.engine import config as config_lib, training
from jaxnerf.render import contraction
from jaxnerf import methods
from jaxnerf.render import samplers
from jaxnerf.core.rays import Rays


def test_contract_values():
  x = jnp.array([[0.3, -0.4, 0.0], [2.0, 0.0, 0.0], [0.0, -4.0, 0.0],
                 [1e6, 0.0, 0.0]])
  # |x| <= 1 kept; (2 - 1/|x|) x/|x| beyond: 2 -> 1.5, 4 -> 1.75.
  np.testing.assert_allclose(contraction.contract(x), [
      [0.3, -0.4, 0], [1.5, 0, 0], [0, -1.75, 0], [2 - 1e-6, 0, 0]],
                             rtol=1e-6)
  # Radius r: r * contract(x / r).
  np.testing.assert_allclose(contraction.contract(x, 2.0),
                             2.0 * contraction.contract(x / 2.0), rtol=1e-6)


def test_inverse_continuity_and_range():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(1000, 3)) * np.exp(
      rng.uniform(-2, 4, (1000, 1))), jnp.float32)
  y = contraction.contract(x, 1.5)
  assert float(jnp.max(jnp.linalg.norm(y, axis=-1))) < 3.0
  np.testing.assert_allclose(contraction.uncontract(y, 1.5), x, rtol=2e-3)
  # Continuous with a continuous derivative at |x| = r.
  for s in (1.0 - 1e-4, 1.0 + 1e-4):
    np.testing.assert_allclose(contraction.contract(jnp.array([s, 0, 0])),
                               [s, 0, 0], atol=1e-7)


def test_world_step_scale_is_the_inverse_radial_derivative():
  r = 1.0
  for dist in (0.5, 3.0, 10.0):
    x = jnp.array([dist, 0.0, 0.0])
    eps = 1e-2 * dist  # float32: a step the contraction resolves
    dy = (contraction.contract(x + eps * jnp.array([1.0, 0, 0]), r)[0] -
          contraction.contract(x - eps * jnp.array([1.0, 0, 0]), r)[0])
    scale = contraction.world_step_scale(contraction.contract(x, r), r)
    np.testing.assert_allclose(float(scale), 2 * eps / float(dy), rtol=1e-3)


def _rays(n=8):
  rng = np.random.default_rng(1)
  origins = rng.uniform(-0.5, 0.5, (n, 3))
  directions = rng.normal(size=(n, 3)) * 1.7
  f = lambda v: jnp.asarray(v, jnp.float32)
  return Rays.create(f(origins), f(directions), 0.05, 1.0)


def test_march_covers_the_unbounded_ray():
  bound, res, step = 2.0, 16, 0.05
  rays = _rays()
  grid = jnp.ones(res**3)  # everything occupied
  inner, outer = contraction.num_steps(bound, step)
  samples = contraction.march(None, rays, grid, bound, res, step,
                              8 * (inner + outer), 0.01, 0.0, False)
  ids = np.asarray(samples.ray_ids)
  t, delta = np.asarray(samples.t), np.asarray(samples.delta)
  norm = np.linalg.norm(np.asarray(rays.directions), axis=-1)
  assert np.all(np.asarray(samples.ray_complete))
  for i in range(8):
    ti, di = t[ids == i], delta[ids == i]
    assert np.all(np.diff(ti) > 0)
    assert ti[0] * norm[i] >= 0.05 * norm[i]  # from near on
    # Far beyond rays.far: out to radius r * res / 2 = 8 world units.
    points = np.asarray(rays.origins)[i] + ti[:, None] * np.asarray(
        rays.directions)[i]
    radii = np.linalg.norm(points, axis=-1)
    assert radii.max() > 6.0
    # Inside the ball, steps of `step` (world); beyond, growing steps that
    # stay about `step` long in contracted space.
    inside = radii < bound / 2 - step
    np.testing.assert_allclose(di[inside], step, rtol=1e-5)
    y = np.asarray(contraction.contract(jnp.asarray(points), bound / 2))
    gaps = np.linalg.norm(np.diff(y, axis=0), axis=-1)
    assert gaps.max() < 2.5 * step
    # The intervals tile the ray: their lengths sum to its sampled extent.
    assert di.sum() == pytest.approx((ti[-1] - ti[0]) * norm[i] +
                                     0.5 * (di[0] + di[-1]), rel=0.05)


def _blob_render_contracted(origin, direction, bound=2.0, res=16,
                            step=0.25):
  """Colour [3] of one ray from outside the inner ball through a smooth
  blob, marched at fixed u on a full contracted grid (steps about as long
  as the blob is wide: a frozen t's sliding gradient shows at such steps)."""
  rays = Rays.create(origin[None], direction[None], 0.05, 1.0)
  inner, outer = contraction.num_steps(bound, step)
  samples = contraction.march(None, rays, jnp.ones(res**3), bound, res, step,
                              inner + outer, 0.01, 0.0, False)
  return packed_blob_colour(samples, rays, 0.1)


def test_camera_gradient_is_that_of_the_marched_render():
  """As occupancy.march: the samples are anchored where the ray meets the
  spheres, so moving the origin along its ray changes neither the render
  nor its gradient; sideways the gradient matches finite differences."""
  origin = jnp.array([1.6, 0.9, -1.1], jnp.float32)  # outside radius 1
  direction = -origin + jnp.array([0.04, -0.08, 0.05], jnp.float32)
  assert_camera_gradient_is_the_renders(_blob_render_contracted, origin,
                                        direction, atol=1e-4)


def test_march_skips_empty_cells():
  bound, res = 2.0, 16
  grid = np.zeros(res**3, np.float32)
  grid[0] = 1.0  # one occupied corner cell of contracted space
  samples = contraction.march(None, _rays(), jnp.asarray(grid), bound, res,
                              0.05, 512, 0.01, 0.0, False)
  assert int(samples.num_samples) < 20


def _config(method="instant_ngp", **kw):
  c = config_lib.method_config(*method.split("/"))
  c.hash_levels, c.hash_log2_size = 4, 10
  c.hash_min_resolution, c.hash_max_resolution = 4, 32
  c.occupancy_resolution, c.march_steps = 8, 32
  c.occupancy_update_every = 1
  c.samples_budget = 1024
  c.render_samples_per_ray = 16
  c.batch_size = 16
  c.scene_bound = 2.0
  c.contraction = "mipnerf360"
  c.white_bkgd = False
  for k, v in kw.items():
    c[k] = v
  return c


# Every method on the hash-grid backbone takes config.contraction (NeRF-W on
# internet photos of an unbounded scene needs it).
@pytest.mark.parametrize("method", ["instant_ngp", "nerfw/hashgrid"])
def test_hash_grid_methods_render_and_train_contracted(method):
  config = _config(method)
  scene = types.SimpleNamespace(num_cameras=2)
  model = training.build_model(methods.get(*method.split("/")), config,
                               scene)
  key = jax.random.PRNGKey(0)
  rays = _rays(16)
  variables = jax.jit(lambda k: model.init(k, rays, k, randomized=False))(key)
  # The marched points lie in the contracted box although the rays leave
  # it: radius 2 * scene_bound in the world is scene_bound * 3/4 there.
  samples, _, points, _ = samplers.march(key, rays, variables["occupancy"][
      "grid"], config, True)
  points = np.asarray(points)[np.asarray(samples.valid)]
  assert np.abs(points).max() <= config.scene_bound + 1e-5
  assert np.linalg.norm(points, axis=-1).max() > 0.75 * config.scene_bound
  # Jitted: op-by-op dispatch of the marcher costs about a minute on 2 cores.
  render = jax.jit(lambda v: model.apply(v, rays, key, randomized=True)[0])
  out = render(variables)
  assert np.all(np.isfinite(out["rgb"])) and np.all(out["acc"] <= 1 + 1e-5)
  # The field interface takes world points, however far.
  far = jnp.array([[100.0, 0.0, 0.0], [0.0, 0.2, 0.1]])
  density = jax.jit(lambda v: model.apply(v, far, method=model.density))(
      variables)
  assert density.shape == (2,) and np.all(np.isfinite(density))
  grads = jax.jit(jax.grad(lambda p: jnp.sum(render(
      {**variables, "params": p})["rgb"])))(variables["params"])
  assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))
  # The occupancy update evaluates the field in contracted space.
  _, state = jax.jit(lambda v: model.apply(
      v, jnp.int32(0), key, method=model.update_state,
      mutable=["occupancy"]))(variables)
  assert np.all(np.isfinite(state["occupancy"]["grid"]))


def test_unknown_contraction_is_named():
  config = _config(contraction="warp")
  model = training.build_model(methods.get("instant_ngp"), config, None)
  key = jax.random.PRNGKey(0)
  with pytest.raises(Exception, match="config.contraction: unknown 'warp'"):
    model.init(key, _rays(1), key, randomized=False)
