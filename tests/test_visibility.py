"""NeRV's visibility (jaxnerf/methods/components/visibility.py): the
direction set, environment light through visibility by hand, and the
visibility MLP learning the marched transmittance."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnerf.core import lighting
from jaxnerf.methods.components import reflectance, visibility


def test_the_directions_cover_the_sphere_evenly():
  """Unit, centred, and the cosine lobe's quadrature gives pi."""
  dirs = visibility.sphere_directions(64)
  np.testing.assert_allclose(jnp.linalg.norm(dirs, axis=-1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(jnp.mean(dirs, 0), 0.0, atol=0.02)
  for n in ([0.0, 0.0, 1.0], [0.6, 0.0, 0.8], [0.0, -1.0, 0.0]):
    lobe = jnp.sum(jnp.maximum(dirs @ jnp.asarray(n), 0.0)) * 4 * math.pi / 64
    np.testing.assert_allclose(lobe, math.pi, rtol=0.02)


def uniform(c, m=1):
  sh = np.zeros((m, 9, 3), np.float32)
  sh[:, 0] = c * math.sqrt(4 * math.pi)
  return jnp.asarray(sh)


def test_an_open_sky_is_the_environment_itself():
  """V = 1 everywhere leaves the SH exactly as they were; V = 0 leaves
  none of them (to the quadrature's error)."""
  dirs = visibility.sphere_directions(256)
  sh = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, 3)))
  np.testing.assert_array_equal(
      visibility.visible_sh(sh, jnp.ones((2, 256)), dirs), sh)
  np.testing.assert_allclose(
      visibility.visible_sh(sh, jnp.zeros((2, 256)), dirs), 0.0, atol=0.03)


def test_half_the_sky_blocked_by_hand():
  """Uniform radiance c with everything at x > 0 blocked, on a surface
  facing +z seen head-on: the visible radiance c [x <= 0] is odd in x
  about c / 2, so its degree-2 SH are c / 2 plus an x term that vanishes
  at +z: irradiance pi c / 2 and mirror radiance c / 2, so the shading is
  (0.96 albedo + 0.04) c / 2."""
  dirs = visibility.sphere_directions(512)
  up = jnp.array([[0.0, 0.0, 1.0]])
  albedo, c = jnp.full((1, 3), 0.5), 0.8
  half = (dirs[:, 0] <= 0).astype(jnp.float32)[None]
  sh = visibility.visible_sh(uniform(c), half, dirs)
  got = reflectance.environment(up, up, albedo, sh)
  np.testing.assert_allclose(got, (0.96 * 0.5 + 0.04) * c / 2, rtol=0.02)
  np.testing.assert_allclose(lighting.sh_irradiance(sh, up), math.pi * c / 2,
                             rtol=0.02)


def test_the_visibility_mlp_learns_a_roof():
  """An opaque slab above (1 < z < 1.5) over points near the origin:
  the marched target is 0 for directions crossing it inside the box (a
  cone of about 50 degrees: a fifth of the sphere) and 1 for the others;
  a short fit of V on visibility_error alone takes the error from about
  that share down by 10x, and V then tells up from down."""
  config = reflectance.reflectance_fields()
  config.scene_bound = 1.5
  config.visibility_directions = 32
  config.visibility_rays = 16
  config.visibility_steps = 48
  module = reflectance.Reflectance(config=config, levels=("",))
  roof = lambda p: jnp.where((p[:, 2] > 1.0) & (p[:, 2] < 1.5), 50.0, 0.0)
  points = jax.random.uniform(jax.random.PRNGKey(0), (16, 3),
                              minval=-0.3, maxval=0.3)
  dirs = visibility.sphere_directions(32)
  error = lambda p: jnp.mean(module.apply(p, points, dirs, roof,
                                          method="visibility_error"))
  params = module.init(jax.random.PRNGKey(1), points, dirs, roof,
                       method="visibility_error")
  first = float(error(params))
  assert 0.1 < first < 0.3  # V starts open (0.95)
  opt = optax.adam(1e-2)
  state = opt.init(params)

  @jax.jit
  def step(params, state):
    grads = jax.grad(error)(params)
    updates, state = opt.update(grads, state)
    return optax.apply_updates(params, updates), state

  for _ in range(150):
    params, state = step(params, state)
  assert float(error(params)) < first / 10
  v = module.apply(params, points[:1], jnp.array([[0.0, 0.0, 1.0],
                                                  [0.0, 0.0, -1.0]]),
                   method=lambda m, x, d: m.visibility(x, d))
  assert v[0, 0] < 0.2 and v[0, 1] > 0.8
