"""The shared microfacet BRDF (jaxnerf/render/brdf.py) against hand values
and its physical properties."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.render import brdf

UP = jnp.array([0.0, 0.0, 1.0])


def hemisphere_grid(rows=400, cols=800):
  """Directions [R, C, 3] and solid angles [R, C] of a midpoint grid of
  the upper hemisphere."""
  theta = (jnp.arange(rows) + 0.5) * (jnp.pi / 2) / rows
  phi = (jnp.arange(cols) + 0.5) * 2 * jnp.pi / cols
  t, p = jnp.meshgrid(theta, phi, indexing="ij")
  dirs = jnp.stack([jnp.sin(t) * jnp.cos(p), jnp.sin(t) * jnp.sin(p),
                    jnp.cos(t)], -1)
  return dirs, jnp.sin(t) * (jnp.pi / 2 / rows) * (2 * jnp.pi / cols)


def test_normal_incidence_by_hand():
  """n = v = l: h = n, D = 1 / (pi alpha^2), G = 1, F = F0; a grey
  dielectric of roughness 0.5 (alpha 0.25): (1 - F0)^2 / (1 - F0) * 0.5 /
  pi diffuse plus 0.04 / (4 pi 0.0625) specular."""
  f = brdf.evaluate(UP, UP, UP, jnp.full(3, 0.5), 0.5)
  want = 0.96 * 0.5 / math.pi + 0.04 / (4 * math.pi * 0.0625)
  np.testing.assert_allclose(f, want, rtol=1e-5)
  # A metal reflects its base colour and has no diffuse lobe.
  colour = jnp.array([0.9, 0.6, 0.2])
  f = brdf.evaluate(UP, UP, UP, colour, 0.5, 1.0)
  np.testing.assert_allclose(f, colour / (4 * math.pi * 0.0625), rtol=1e-5)


def test_grazing_and_below_the_surface_reflect_nothing():
  view = jnp.array([0.0, 0.6, 0.8])
  for light in ([1.0, 0.0, 0.0], [0.6, 0.0, -0.8]):
    out = brdf.reflected(UP, view, jnp.array(light), jnp.ones(3), 0.4)
    np.testing.assert_allclose(out, 0.0, atol=1e-6)
  below = brdf.evaluate(UP, jnp.array([0.0, 0.6, -0.8]), UP, jnp.ones(3),
                        0.4)
  np.testing.assert_allclose(below, 0.0)


def test_reciprocity():
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  v, l = (jax.random.normal(k, (64, 3)) for k in keys)
  v = v.at[:, 2].set(jnp.abs(v[:, 2]))
  l = l.at[:, 2].set(jnp.abs(l[:, 2]))
  v, l = (x / jnp.linalg.norm(x, axis=-1, keepdims=True) for x in (v, l))
  colour = jnp.array([0.3, 0.5, 0.7])
  a = brdf.evaluate(UP, v, l, colour, 0.35, 0.3)
  b = brdf.evaluate(UP, l, v, colour, 0.35, 0.3)
  np.testing.assert_allclose(a, b, rtol=1e-5)


def test_ggx_is_a_distribution_of_normals():
  """Integral of D(h) (n . h) over the hemisphere is 1 (Walter eq. 4)."""
  dirs, solid = hemisphere_grid()
  for roughness in (0.3, 0.6, 1.0):
    d = brdf.ggx(dirs[..., 2], roughness ** 2)
    assert float(jnp.sum(d * dirs[..., 2] * solid)) == pytest.approx(
        1.0, abs=5e-3)


@pytest.mark.parametrize("metallic", [0.0, 1.0])
def test_a_white_surface_reflects_at_most_what_it_receives(metallic):
  """Directional albedo: the integral of f cos over light directions is
  at most 1 at every angle of view; at normal incidence a white
  dielectric reflects nearly all (1 - F0 + F0), a smooth metal nearly all
  (single-scattering GGX loses energy as roughness grows)."""
  dirs, solid = hemisphere_grid()
  for roughness in (0.3, 0.6, 1.0):
    for angle in (0.0, 45.0, 80.0):
      a = math.radians(angle)
      view = jnp.array([math.sin(a), 0.0, math.cos(a)])
      out = brdf.reflected(UP, view, dirs, jnp.ones(3), roughness,
                           metallic)
      albedo = float(jnp.sum(out[..., 0] * solid))
      assert albedo <= 1.0 + 2e-3, (roughness, angle, albedo)
      if angle == 0.0 and (metallic == 0.0 or roughness == 0.3):
        assert albedo > 0.92, (roughness, albedo)
  for angle in (60.0, 85.0):
    # The specular lobe alone (a black dielectric) conserves energy too.
    a = math.radians(angle)
    view = jnp.array([math.sin(a), 0.0, math.cos(a)])
    spec = brdf.reflected(UP, view, dirs, jnp.zeros(3), 0.3, metallic)
    assert 0.0 < float(jnp.sum(spec[..., 0] * solid)) <= 1.0 + 2e-3
