"""Analytic fields with the field interface (density, radiance, optionally
sh_coefficients), for baking, rendering and export tests."""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf import encoding


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
