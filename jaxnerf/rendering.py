"""Differentiable volume rendering (alpha compositing along each ray)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Length of the last interval: NeRF extends the final sample to infinity.
FAR_DELTA = 1e10


def weights_from_deltas(density: jax.Array, delta: jax.Array) -> jax.Array:
  """Weights w_i = T_i (1 - exp(-sigma_i delta_i)) of NeRF eq. 3.

  T_i = exp(-sum_{j<i} sigma_j delta_j), computed in log space.

  Args:
    density: [N, S] non-negative; delta: [N, S] interval lengths in world
      units.
  Returns:
    [N, S].
  """
  density_delta = density * delta
  alpha = 1.0 - jnp.exp(-density_delta)
  transmittance = jnp.exp(-jnp.concatenate(
      [jnp.zeros_like(density_delta[..., :1]),
       jnp.cumsum(density_delta[..., :-1], axis=-1)], axis=-1))
  return alpha * transmittance


def compositing_weights(density: jax.Array, t: jax.Array,
                        directions: jax.Array) -> jax.Array:
  """Weights of samples at distances `t` (NeRF).

  delta_i = (t_{i+1} - t_i) |d|, the last interval extends to infinity.

  Args:
    density: [N, S] non-negative; t: [N, S] sorted; directions: [N, 3].
  Returns:
    [N, S].
  """
  delta = jnp.concatenate(
      [t[..., 1:] - t[..., :-1],
       jnp.full_like(t[..., :1], FAR_DELTA)], axis=-1)
  delta = delta * jnp.linalg.norm(directions[..., None, :], axis=-1)
  return weights_from_deltas(density, delta)


def interval_weights(density: jax.Array, t_edges: jax.Array,
                     directions: jax.Array) -> jax.Array:
  """Weights of intervals between consecutive `t_edges` (mip-NeRF).

  Each interval has its own density; the last one ends at the last edge
  (no infinite interval).

  Args:
    density: [N, S] non-negative; t_edges: [N, S + 1] sorted;
    directions: [N, 3].
  Returns:
    [N, S].
  """
  delta = (t_edges[..., 1:] - t_edges[..., :-1]) * jnp.linalg.norm(
      directions[..., None, :], axis=-1)
  return weights_from_deltas(density, delta)


def composite(weights: jax.Array, rgb: jax.Array, t: jax.Array,
              white_bkgd: bool) -> dict[str, jax.Array]:
  """Accumulates colour, depth, disparity and opacity from weights.

  Args:
    weights: [N, S]; rgb: [N, S, 3]; t: [N, S].
  Returns:
    rgb [N, 3], depth [N] (expected t, JaxNeRF's unnormalised form: 0 where
    the ray hits nothing), disp [N] (acc / depth, JaxNeRF's convention:
    1e10 where undefined), acc [N] (opacity), weights [N, S].
  """
  acc = jnp.sum(weights, axis=-1)
  comp_rgb = jnp.sum(weights[..., None] * rgb, axis=-2)
  depth = jnp.sum(weights * t, axis=-1)
  eps = 1e-10
  disp = acc / depth
  disp = jnp.where((disp > 0) & (disp < 1 / eps) & (acc > eps), disp, 1 / eps)
  if white_bkgd:
    comp_rgb = comp_rgb + (1.0 - acc[..., None])
  return dict(rgb=comp_rgb, depth=depth, disp=disp, acc=acc, weights=weights)


def volumetric_rendering(rgb: jax.Array, density: jax.Array, t: jax.Array,
                         directions: jax.Array,
                         white_bkgd: bool) -> dict[str, jax.Array]:
  """Renders rays from per-sample colour and density (see `composite`)."""
  weights = compositing_weights(density, t, directions)
  return composite(weights, rgb, t, white_bkgd)


def volumetric_rendering_intervals(rgb: jax.Array, density: jax.Array,
                                   t_edges: jax.Array, directions: jax.Array,
                                   white_bkgd: bool) -> dict[str, jax.Array]:
  """Renders rays from per-interval colour and density (mip-NeRF).

  Args:
    rgb: [N, S, 3]; density: [N, S]; t_edges: [N, S + 1]; directions: [N, 3].
  Returns:
    `composite`'s outputs, depth measured at the interval midpoints.
  """
  weights = interval_weights(density, t_edges, directions)
  t_mids = 0.5 * (t_edges[..., 1:] + t_edges[..., :-1])
  return composite(weights, rgb, t_mids, white_bkgd)
