"""Analytic fields with the field interface (density, radiance, optionally
sh_coefficients), for baking, rendering and export tests; and a smooth blob
rendered from a marcher's packed samples, for the marchers' gradient
tests."""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.fields import encoding
from jaxnerf.render import compositing


class SphereField(nn.Module):
  """A solid sphere of density `sigma` and radius `radius` at the origin;
  colour sigmoid(sum_k c_k Y_k(d)) with fixed degree-2 coefficients that
  vary linearly with x (so SH of degree >= 2 represent it exactly)."""

  radius: float = 0.5
  sigma: float = 50.0
  own_sh: bool = False  # offer sh_coefficients (a NeRF-SH field)

  def coefficients(self, points: jax.Array) -> jax.Array:
    """[M, 3, 16]: degree-2 terms only; degree-3 terms are zero."""
    k = jnp.arange(16, dtype=jnp.float32)
    base = jnp.where(k < 9, 0.3 * jnp.cos(k + jnp.arange(3)[:, None]), 0.0)
    return base[None] * (1.0 + 0.5 * points[:, 0, None, None])

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    del progress
    inside = jnp.linalg.norm(points, axis=-1) < self.radius
    return jnp.where(inside, self.sigma, 0.0)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    del progress
    basis = encoding.spherical_harmonics(viewdirs, 3)
    return jax.nn.sigmoid(jnp.sum(self.coefficients(points) *
                                  basis[:, None, :], -1))

  def sh_coefficients(self, points: jax.Array) -> Optional[jax.Array]:
    return self.coefficients(points) if self.own_sh else None

  def __call__(self, points):
    return self.density(points)


def packed_blob_colour(samples, rays, width: float) -> jax.Array:
  """Colour [3] of ray 0 of `rays` from its packed samples (a marcher's
  PackedSamples) through a blob of density 8 exp(-|x|^2 / width) coloured
  sigmoid(3 x), on a white background."""
  points = rays.origins[0] + samples.t[:, None] * rays.directions[0]
  density = jnp.where(samples.valid,
                      8.0 * jnp.exp(-jnp.sum(points**2, -1) / width), 0.0)
  weights = compositing.packed_compositing_weights(density, samples.delta,
                                                   samples.ray_ids)
  return compositing.packed_composite(weights, jax.nn.sigmoid(3.0 * points),
                                      samples.t, samples.ray_ids, 1,
                                      True)["rgb"][0]


def assert_camera_gradient_is_the_renders(render, origin: jax.Array,
                                          direction: jax.Array,
                                          atol: float) -> None:
  """`render(origin [3], direction [3]) -> colour [3]` of a marched ray whose
  samples are anchored in the world: moving the origin along the ray
  changes neither the colour (central differences) nor its gradient (both
  within atol; a frozen t would slide the samples with the origin), and
  sideways the gradient matches central differences of the re-marched
  render."""
  unit = direction / jnp.linalg.norm(direction)
  side = jnp.cross(unit, jnp.array([0.0, 0.0, 1.0], jnp.float32))
  side = side / jnp.linalg.norm(side)
  jacobian = jax.jacfwd(render)(origin, direction)  # [3, 3]
  eps = 1e-2
  diff = lambda v: (render(origin + eps * v, direction) -
                    render(origin - eps * v, direction)) / (2 * eps)
  np.testing.assert_allclose(diff(unit), 0.0, atol=atol)
  np.testing.assert_allclose(jacobian @ unit, 0.0, atol=atol)
  sideways = diff(side)
  assert np.max(np.abs(sideways)) > 1e-2  # the blob's edge: a real slope
  np.testing.assert_allclose(jacobian @ side, sideways, rtol=2e-2,
                             atol=2e-4)
