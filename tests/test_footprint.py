"""Pixel footprints: random rays through a pixel's area."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.render import footprint
from jaxnerf.errors import ConfigError


def test_perpendicular_basis_is_orthonormal_for_any_direction():
  v = jnp.asarray([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.3, -2.0, 0.1],
                   [1e-8, 1.0, 0.0]])
  e1, e2 = footprint.perpendicular_basis(v)
  unit = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
  for a, b in ((e1, unit), (e2, unit), (e1, e2)):
    np.testing.assert_allclose(jnp.sum(a * b, -1), 0, atol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(e1, axis=-1), 1, rtol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(e2, axis=-1), 1, rtol=1e-6)


def test_disc_offsets_fill_the_disc_with_the_pixel_variance():
  m = 200_000
  directions = jnp.tile(jnp.asarray([[0.0, 0.0, -1.0]]), (m, 1))
  radius = jnp.full((m,), 0.2)
  off = footprint.disc_offsets(jax.random.PRNGKey(0), directions, radius)
  off = np.asarray(off)
  assert np.all(np.abs(off[:, 2]) < 1e-7)  # perpendicular to the ray
  r = np.linalg.norm(off, axis=-1)
  assert r.max() <= 0.2 + 1e-6
  # Uniform over the area: half of the points within radius / sqrt(2).
  assert abs(np.mean(r < 0.2 / np.sqrt(2)) - 0.5) < 0.01
  # Per-axis variance R^2 / 4 = that of a box of side sqrt(3) R: with R =
  # mip-NeRF's radii = 2 / sqrt(12) of the pixel spacing, the pixel's own.
  np.testing.assert_allclose(off[:, :2].var(axis=0), 0.04 / 4, rtol=0.02)
  np.testing.assert_allclose(off[:, :2].mean(axis=0), 0, atol=1e-3)


def _pixel_rays(ndc=False):
  pose = np.eye(4)[None]
  cams = cameras.Cameras.create(pose, 50.0, 8, 6, 0.0 if ndc else 2.0,
                                1.0 if ndc else 6.0, ndc=ndc)
  rays = cameras.image_rays(cams, 0)
  return jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, x.shape[-1])), rays)


def test_cone_jitter_stays_inside_the_pixel_cone():
  rays = _pixel_rays()
  jittered = footprint.jitter_rays(jax.random.PRNGKey(0), rays, "cone")
  np.testing.assert_array_equal(jittered.origins, rays.origins)
  # At parameter t the point moved by t * |d' - d| <= t * radii, sideways.
  shift = jittered.directions - rays.directions
  assert np.all(np.linalg.norm(shift, axis=-1) <= rays.radii[:, 0] * 1.0001)
  assert np.all(np.linalg.norm(shift, axis=-1) > 0)
  np.testing.assert_allclose(jnp.sum(shift * rays.directions, -1), 0,
                             atol=1e-7)
  np.testing.assert_allclose(
      jittered.viewdirs, jittered.directions / jnp.linalg.norm(
          jittered.directions, axis=-1, keepdims=True), rtol=1e-6)
  # The pixel spacing is 1 / focal = 0.02 at unit depth: the cone's radius
  # is 2 / sqrt(12) of it, so no ray leaves its pixel by more than that.
  np.testing.assert_allclose(rays.radii, 0.02 / np.sqrt(3), rtol=1e-4)


def test_cylinder_jitter_shifts_origins_only():
  rays = _pixel_rays(ndc=True)
  jittered = footprint.jitter_rays(jax.random.PRNGKey(0), rays, "cylinder")
  np.testing.assert_array_equal(jittered.directions, rays.directions)
  np.testing.assert_array_equal(jittered.viewdirs, rays.viewdirs)
  shift = np.linalg.norm(jittered.origins - rays.origins, axis=-1)
  assert np.all(shift <= rays.radii[:, 0] * 1.0001) and np.all(shift > 0)


def test_no_jitter_and_unknown_shape():
  rays = _pixel_rays()
  assert footprint.jitter_rays(jax.random.PRNGKey(0), rays, "none") is rays
  with pytest.raises(ConfigError, match="config.ray_jitter"):
    footprint.check_shape("square", "ray_jitter")
