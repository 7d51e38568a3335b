"""Conical frustum and cylinder Gaussians, cast against Monte Carlo."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.render import mip


def sample_frustum(rng, t0, t1, base_radius, n, cylinder=False):
  """Uniform points (t along the ray, x, y across it) inside the solid."""
  u = rng.random(n)
  if cylinder:
    t = t0 + u * (t1 - t0)
    radius = np.full(n, base_radius)
  else:  # the cross-section grows as t^2: inverse CDF of t^2 on [t0, t1].
    t = (t0**3 + u * (t1**3 - t0**3))**(1 / 3)
    radius = base_radius * t
  r = radius * np.sqrt(rng.random(n))
  phi = 2 * np.pi * rng.random(n)
  return t, r * np.cos(phi), r * np.sin(phi)


@pytest.mark.parametrize("t0,t1,radius", [(2.0, 2.5, 0.01), (0.5, 4.0, 0.3),
                                          (1.0, 1.1, 0.05)])
def test_conical_frustum_moments_match_monte_carlo(t0, t1, radius):
  t, x, _ = sample_frustum(np.random.default_rng(0), t0, t1, radius, 400_000)
  t_mean, t_var, r_var = mip.conical_frustum_to_gaussian(
      jnp.float32(t0), jnp.float32(t1), jnp.float32(radius))
  np.testing.assert_allclose(t_mean, t.mean(), rtol=1e-3)
  np.testing.assert_allclose(t_var, t.var(), rtol=1e-2)
  np.testing.assert_allclose(r_var, x.var(), rtol=1e-2)


def test_cylinder_moments_match_monte_carlo():
  t, x, _ = sample_frustum(np.random.default_rng(1), 1.0, 3.0, 0.2, 400_000,
                           cylinder=True)
  t_mean, t_var, r_var = mip.cylinder_to_gaussian(
      jnp.float32(1.0), jnp.float32(3.0), jnp.float32(0.2))
  np.testing.assert_allclose(t_mean, t.mean(), rtol=1e-3)
  np.testing.assert_allclose(t_var, t.var(), rtol=1e-2)
  np.testing.assert_allclose(r_var, x.var(), rtol=1e-2)


def test_cast_rays_matches_monte_carlo_in_world_space():
  # A tilted, non-unit direction: the lifted diagonal covariance must match
  # the per-axis variance of points sampled inside the 3D frustum.
  rng = np.random.default_rng(2)
  origin = np.array([0.3, -1.0, 2.0])
  direction = np.array([0.6, -0.3, -1.2])
  radius, t0, t1 = 0.08, 1.5, 2.5
  # The cone's world radius at parameter t is radius * t (radii come from
  # the spacing of un-normalised directions, see cameras.pixel_radii).
  t, a, b = sample_frustum(rng, t0, t1, radius, 400_000)
  unit = direction / np.linalg.norm(direction)
  e1 = np.cross(unit, [0.0, 0.0, 1.0])
  e1 /= np.linalg.norm(e1)
  e2 = np.cross(unit, e1)
  # t is in units of |direction| along the ray; a, b are world lengths.
  points = (origin + t[:, None] * direction + a[:, None] * e1 +
            b[:, None] * e2)
  means, cov_diag = mip.cast_rays(
      jnp.array([[t0, t1]], jnp.float32), jnp.asarray(origin[None],
                                                      jnp.float32),
      jnp.asarray(direction[None], jnp.float32),
      jnp.array([[radius]], jnp.float32))
  assert means.shape == cov_diag.shape == (1, 1, 3)
  np.testing.assert_allclose(means[0, 0], points.mean(0), atol=2e-3)
  np.testing.assert_allclose(cov_diag[0, 0], points.var(0), rtol=2e-2)


def test_stable_form_equals_textbook_form_in_float64():
  t0 = np.array([0.5, 2.0, 3.9]); t1 = np.array([1.0, 2.3, 6.0])
  stable = mip.conical_frustum_to_gaussian(t0, t1, 0.1, stable=True)
  naive = mip.conical_frustum_to_gaussian(t0, t1, 0.1, stable=False)
  for s, n in zip(stable, naive):
    np.testing.assert_allclose(s, n, rtol=1e-9)


def test_stable_form_is_accurate_for_thin_intervals_in_float32():
  # Thin, far intervals: the textbook variance cancels to garbage (here it
  # is off by orders of magnitude or negative); the stable one is exact.
  t0, t1 = 5.0, 5.0 + 1e-3
  ref = mip.conical_frustum_to_gaussian(np.float64(t0), np.float64(t1), 1.0,
                                        stable=False)
  f32 = lambda x: jnp.float32(x)
  stable = mip.conical_frustum_to_gaussian(f32(t0), f32(t1), f32(1.0))
  naive = mip.conical_frustum_to_gaussian(f32(t0), f32(t1), f32(1.0),
                                          stable=False)
  np.testing.assert_allclose(stable[1], ref[1], rtol=1e-2)
  assert abs(float(naive[1]) - ref[1]) > 10 * ref[1]


def test_cast_rays_shapes_and_cylinder_option():
  t = jnp.linspace(2.0, 6.0, 9)[None].repeat(4, 0)
  o = jnp.zeros((4, 3)); d = jnp.tile(jnp.array([[0.0, 0.0, -1.0]]), (4, 1))
  r = jnp.full((4, 1), 0.01)
  for shape in mip.RAY_SHAPES:
    means, cov = mip.cast_rays(t, o, d, r, shape)
    assert means.shape == cov.shape == (4, 8, 3)
    assert np.all(np.asarray(cov) > 0)
  with pytest.raises(ValueError, match="ray_shape"):
    mip.cast_rays(t, o, d, r, "sphere")
