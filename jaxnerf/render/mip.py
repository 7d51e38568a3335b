"""Cone tracing for mip-NeRF: each ray interval as a 3D Gaussian.

A pixel's cone (apex at the ray origin, radius `radii * t` at distance t, see
`cameras.pixel_radii`) is cut into conical frusta by the interval edges
t_0 < t_1 < ... along the ray. Each frustum is replaced by the Gaussian with
its mean and covariance (mip-NeRF sec. 3.1 and appendix A); a cylinder of
the same radius is the simpler alternative (`ray_shape="cylinder"`). The
Gaussians feed `encoding.integrated_positional_encoding`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

RAY_SHAPES = ("cone", "cylinder")


def conical_frustum_to_gaussian(t0: jax.Array, t1: jax.Array,
                                base_radius: jax.Array,
                                stable: bool = True
                                ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Moments of a uniform conical frustum between t0 and t1 along the ray.

  The cone has radius `base_radius * t` at distance t (for a unit-length
  direction; otherwise t is in units of the direction's length, as here).

  The textbook expressions ((t1^k - t0^k) ratios) cancel catastrophically
  in float32 when the interval is thin relative to its distance; `stable`
  uses the reparameterisation by the midpoint mu = (t0 + t1) / 2 and the
  half-width hw = (t1 - t0) / 2 of mip-NeRF eq. 7, which has no cancellation.

  Args:
    t0, t1: [..., S] interval edges, t1 > t0 > 0.
    base_radius: [..., 1] (broadcasts against t0).
    stable: use the midpoint/half-width form.
  Returns:
    (t_mean, t_var, r_var), each [..., S]: the mean and variance of the
    distance along the ray and the variance along each of the two axes
    perpendicular to it (in the same units as t times |direction|).
  """
  if stable:
    mu = 0.5 * (t0 + t1)
    hw = 0.5 * (t1 - t0)
    denom = 3.0 * mu**2 + hw**2
    t_mean = mu + (2.0 * mu * hw**2) / denom
    t_var = hw**2 / 3.0 - (4.0 / 15.0) * (
        (hw**4 * (12.0 * mu**2 - hw**2)) / denom**2)
    r_var = base_radius**2 * (mu**2 / 4.0 + (5.0 / 12.0) * hw**2 -
                              (4.0 / 15.0) * hw**4 / denom)
  else:
    t_mean = (3.0 * (t1**4 - t0**4)) / (4.0 * (t1**3 - t0**3))
    r_var = base_radius**2 * (0.15 * (t1**5 - t0**5) / (t1**3 - t0**3))
    t_mosq = 0.6 * (t1**5 - t0**5) / (t1**3 - t0**3)
    t_var = t_mosq - t_mean**2
  return t_mean, t_var, r_var


def cylinder_to_gaussian(t0: jax.Array, t1: jax.Array, radius: jax.Array
                         ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Moments of a uniform cylinder of `radius` between t0 and t1.

  Returns:
    (t_mean, t_var, r_var), each [..., S], as `conical_frustum_to_gaussian`.
  """
  t_mean = 0.5 * (t0 + t1)
  t_var = (t1 - t0)**2 / 12.0
  r_var = radius**2 / 4.0
  return t_mean, t_var, jnp.broadcast_to(r_var, t_mean.shape)


def lift_gaussian(directions: jax.Array, t_mean: jax.Array, t_var: jax.Array,
                  r_var: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Turns 1D moments along/across a ray into a 3D diagonal Gaussian.

  Covariance = t_var d d^T + r_var (I - d d^T / |d|^2); only its diagonal
  is kept, which is all the diagonal IPE needs:
  diag = t_var d^2 + r_var (1 - d^2 / |d|^2).

  Args:
    directions: [..., 3] ray directions (not necessarily unit).
    t_mean, t_var, r_var: [..., S].
  Returns:
    (mean [..., S, 3] relative to the ray origin, cov_diag [..., S, 3]).
  """
  mean = directions[..., None, :] * t_mean[..., None]
  d_mag_sq = jnp.maximum(1e-10, jnp.sum(directions**2, axis=-1,
                                        keepdims=True))
  d_outer_diag = directions**2
  null_outer_diag = 1.0 - d_outer_diag / d_mag_sq
  cov_diag = (t_var[..., None] * d_outer_diag[..., None, :] +
              r_var[..., None] * null_outer_diag[..., None, :])
  return mean, cov_diag


def cast_rays(t_edges: jax.Array, origins: jax.Array, directions: jax.Array,
              radii: jax.Array, ray_shape: str = "cone"
              ) -> tuple[jax.Array, jax.Array]:
  """Gaussians of the intervals between consecutive `t_edges` of each ray.

  Args:
    t_edges: [N, S + 1] sorted distances.
    origins, directions: [N, 3]; radii: [N, 1].
    ray_shape: "cone" (conical frusta) or "cylinder".
  Returns:
    (means [N, S, 3] in world space, cov_diag [N, S, 3]).
  """
  t0, t1 = t_edges[..., :-1], t_edges[..., 1:]
  if ray_shape == "cone":
    moments = conical_frustum_to_gaussian(t0, t1, radii)
  elif ray_shape == "cylinder":
    moments = cylinder_to_gaussian(t0, t1, radii)
  else:
    raise ValueError(f"ray_shape: {ray_shape!r} is not one of {RAY_SHAPES}")
  mean, cov_diag = lift_gaussian(directions, *moments)
  return mean + origins[..., None, :], cov_diag
