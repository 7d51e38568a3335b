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


def transmittance(optical_depth: jax.Array) -> jax.Array:
  """T_i = exp(-sum_{j<i} tau_j) along the last axis: [N, S] -> [N, S]."""
  return jnp.exp(-jnp.concatenate(
      [jnp.zeros_like(optical_depth[..., :1]),
       jnp.cumsum(optical_depth[..., :-1], axis=-1)], axis=-1))


def sample_deltas(t: jax.Array, directions: jax.Array) -> jax.Array:
  """World-space interval lengths of samples at `t` [N, S] on rays with
  directions [N, 3]: (t_{i+1} - t_i) |d|, the last one FAR_DELTA |d|."""
  delta = jnp.concatenate(
      [t[..., 1:] - t[..., :-1],
       jnp.full_like(t[..., :1], FAR_DELTA)], axis=-1)
  return delta * jnp.linalg.norm(directions[..., None, :], axis=-1)


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


# Packed samples ---------------------------------------------------------------
#
# A packed batch holds a variable number of samples per ray in one flat array
# of fixed length B (static for jit): samples of ray r are contiguous, rays in
# increasing order, padding at the end carries ray id N (out of range, so
# segment sums drop it). This replaces the dense [N, S] layout when most rays
# need few samples (as nerfacc's packed samples).


def segment_start_mask(ray_ids: jax.Array) -> jax.Array:
  """[B] True at the first sample of each ray's run of samples."""
  return jnp.concatenate([jnp.ones_like(ray_ids[:1], bool),
                          ray_ids[1:] != ray_ids[:-1]])


def segment_cumsum(x: jax.Array, ray_ids: jax.Array) -> jax.Array:
  """Inclusive cumulative sum restarting at every new ray id.

  A segmented scan rather than a global cumsum minus per-ray offsets: the
  latter subtracts two large float32 sums and loses the small optical depths
  of rays late in the batch.

  Args:
    x: [B]; ray_ids: [B] non-decreasing.
  Returns:
    [B].
  """
  def combine(a, b):
    va, fa = a
    vb, fb = b
    return jnp.where(fb, vb, va + vb), fa | fb

  out, _ = jax.lax.associative_scan(combine, (x, segment_start_mask(ray_ids)))
  return out


def packed_compositing_weights(density: jax.Array, delta: jax.Array,
                               ray_ids: jax.Array) -> jax.Array:
  """Weights T_i (1 - exp(-sigma_i delta_i)) of packed samples.

  Args:
    density: [B] non-negative; delta: [B] interval lengths in world units
      (the caller multiplies by |d|; use FAR_DELTA for a last interval that
      extends to infinity, as `compositing_weights`).
    ray_ids: [B] non-decreasing ray index of each sample.
  Returns:
    [B].
  """
  density_delta = density * delta
  alpha = 1.0 - jnp.exp(-density_delta)
  return alpha * packed_transmittance(density_delta, ray_ids)


def packed_transmittance(optical_depth: jax.Array,
                         ray_ids: jax.Array) -> jax.Array:
  """T_i = exp(-sum of the earlier tau_j of the same ray): [B] -> [B]."""
  inclusive = segment_cumsum(optical_depth, ray_ids)
  # Shift rather than subtract: inclusive - x cancels badly when x is huge
  # (a FAR_DELTA interval).
  exclusive = jnp.where(segment_start_mask(ray_ids), 0.0,
                        jnp.concatenate([jnp.zeros_like(inclusive[:1]),
                                         inclusive[:-1]]))
  return jnp.exp(-exclusive)


def packed_composite(weights: jax.Array, rgb: jax.Array, t: jax.Array,
                     ray_ids: jax.Array, num_rays: int,
                     white_bkgd: bool) -> dict[str, jax.Array]:
  """`composite` for packed samples: per-ray segment sums.

  Args:
    weights: [B]; rgb: [B, 3]; t: [B]; ray_ids: [B] in [0, num_rays] (ids
      equal to num_rays are padding and ignored).
  Returns:
    rgb [N, 3], depth [N], disp [N], acc [N] with `composite`'s conventions.
  """
  seg = lambda x: jax.ops.segment_sum(x, ray_ids, num_segments=num_rays,
                                      indices_are_sorted=True)
  acc = seg(weights)
  comp_rgb = seg(weights[:, None] * rgb)
  depth = seg(weights * t)
  eps = 1e-10
  disp = acc / depth
  disp = jnp.where((disp > 0) & (disp < 1 / eps) & (acc > eps), disp, 1 / eps)
  if white_bkgd:
    comp_rgb = comp_rgb + (1.0 - acc[..., None])
  return dict(rgb=comp_rgb, depth=depth, disp=disp, acc=acc)
