"""Where to sample along rays: stratified and hierarchical (inverse CDF)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def stratified_t(key: jax.Array | None, near: jax.Array, far: jax.Array,
                 num_samples: int, randomized: bool,
                 lindisp: bool) -> jax.Array:
  """Sample distances along rays, evenly spaced with optional jitter.

  With `randomized`, each sample is drawn uniformly in its own bin between
  the midpoints of the evenly spaced positions (NeRF eq. 2).

  Args:
    key: PRNG key (used only when randomized).
    near, far: [N, 1].
    lindisp: space samples linearly in disparity (1/t) instead of t.
  Returns:
    t: [N, num_samples], sorted along the ray.
  """
  u = jnp.linspace(0.0, 1.0, num_samples, dtype=near.dtype)
  if lindisp:
    t = 1.0 / (1.0 / near * (1.0 - u) + 1.0 / far * u)
  else:
    t = near * (1.0 - u) + far * u
  if randomized:
    mids = 0.5 * (t[..., 1:] + t[..., :-1])
    upper = jnp.concatenate([mids, t[..., -1:]], axis=-1)
    lower = jnp.concatenate([t[..., :1], mids], axis=-1)
    t = lower + (upper - lower) * jax.random.uniform(key, t.shape, t.dtype)
  return t


def points_along_rays(origins: jax.Array, directions: jax.Array,
                      t: jax.Array) -> jax.Array:
  """origins, directions: [N, 3]; t: [N, S] -> points [N, S, 3]."""
  return origins[..., None, :] + t[..., :, None] * directions[..., None, :]


def sample_pdf(key: jax.Array | None, bins: jax.Array, weights: jax.Array,
               num_samples: int, randomized: bool,
               eps: float = 1e-5, stratified: bool = False) -> jax.Array:
  """Inverse-transform samples of a piecewise-constant PDF (NeRF sec. 5.2).

  Args:
    key: PRNG key (used only when randomized).
    bins: [N, B + 1] bin edges, sorted.
    weights: [N, B] non-negative bin weights (need not sum to one).
    randomized: random u; otherwise evenly spaced u in [0, 1].
    stratified: with randomized, one u in each of num_samples equal strata
      of [0, 1), u_k = (k + jitter_k) / num_samples (mip-NeRF's
      sorted_piecewise_constant_pdf), so the samples come out sorted and
      evenly spread over the CDF; otherwise independent uniform u (NeRF).
  Returns:
    [N, num_samples] samples, with no gradient to bins or weights.
  """
  # A small floor keeps the PDF defined where all weights are 0 (empty rays).
  weights = weights + eps
  pdf = weights / jnp.sum(weights, axis=-1, keepdims=True)
  cdf = jnp.minimum(1.0, jnp.cumsum(pdf[..., :-1], axis=-1))
  cdf = jnp.concatenate([jnp.zeros_like(cdf[..., :1]), cdf,
                         jnp.ones_like(cdf[..., :1])], axis=-1)  # [N, B + 1]
  shape = bins.shape[:-1] + (num_samples,)
  if randomized and stratified:
    # The jitter stays below 1 - eps so u_k never reaches the next stratum.
    jitter = jax.random.uniform(key, shape, bins.dtype, 0.0,
                                1.0 - jnp.finfo(bins.dtype).eps)
    u = (jnp.arange(num_samples, dtype=bins.dtype) + jitter) / num_samples
  elif randomized:
    u = jax.random.uniform(key, shape, bins.dtype)
  else:
    u = jnp.broadcast_to(jnp.linspace(0.0, 1.0, num_samples, dtype=bins.dtype),
                         shape)
  # For each u, the bin [cdf[i], cdf[i + 1]) containing it. A dense compare
  # is faster than a per-ray binary search at these sizes and needs no sort.
  mask = u[..., None, :] >= cdf[..., :, None]  # [N, B + 1, S]

  def find_interval(x):
    x0 = jnp.max(jnp.where(mask, x[..., None], x[..., :1, None]), axis=-2)
    x1 = jnp.min(jnp.where(~mask, x[..., None], x[..., -1:, None]), axis=-2)
    return x0, x1

  bins_g0, bins_g1 = find_interval(bins)
  cdf_g0, cdf_g1 = find_interval(cdf)
  t = jnp.clip(jnp.nan_to_num((u - cdf_g0) / (cdf_g1 - cdf_g0), nan=0.0), 0, 1)
  samples = bins_g0 + t * (bins_g1 - bins_g0)
  return jax.lax.stop_gradient(samples)


def hierarchical_t(key: jax.Array | None, t: jax.Array, weights: jax.Array,
                   num_samples: int, randomized: bool) -> jax.Array:
  """Fine-pass distances: the coarse ones plus samples from their weights.

  As in NeRF: bins are the midpoints of the coarse samples, the weights of
  the first and last sample are dropped, and the union is sorted.

  Args:
    t: [N, S] coarse distances; weights: [N, S] coarse rendering weights.
  Returns:
    [N, S + num_samples] sorted distances (no gradient).
  """
  mids = 0.5 * (t[..., 1:] + t[..., :-1])
  t_new = sample_pdf(key, mids, weights[..., 1:-1], num_samples, randomized)
  return jnp.sort(jnp.concatenate([jax.lax.stop_gradient(t), t_new], axis=-1),
                  axis=-1)


def blur_weights(weights: jax.Array, padding: float) -> jax.Array:
  """mip-NeRF's 2-tap max filter then 2-tap blur of interval weights, plus
  `padding`.

  The max keeps narrow peaks from being missed by the resampling, the blur
  widens them to the neighbouring intervals, and the padding leaves some
  probability everywhere (`resample_padding`, 0.01 in the paper).

  Args:
    weights: [N, S] interval weights.
  Returns:
    [N, S].
  """
  padded = jnp.concatenate([weights[..., :1], weights, weights[..., -1:]],
                           axis=-1)
  maxed = jnp.maximum(padded[..., :-1], padded[..., 1:])  # [N, S + 1]
  return 0.5 * (maxed[..., :-1] + maxed[..., 1:]) + padding


def resample_along_rays(key: jax.Array | None, t_edges: jax.Array,
                        weights: jax.Array, num_samples: int,
                        randomized: bool, padding: float) -> jax.Array:
  """mip-NeRF's fine-pass interval edges from the coarse interval weights.

  Unlike `hierarchical_t`, the coarse edges are not kept: the fine pass
  renders only the `num_samples` new intervals. Training draws one edge per
  equal stratum of the CDF, as the paper's code (`sample_pdf(stratified=
  True)`), which keeps the fine intervals evenly spread.

  Args:
    t_edges: [N, S + 1] coarse interval edges; weights: [N, S].
    num_samples: number of fine intervals.
    padding: `resample_padding` (see `blur_weights`).
  Returns:
    [N, num_samples + 1] sorted edges (no gradient).
  """
  weights = blur_weights(jax.lax.stop_gradient(weights), padding)
  # Sorted u (strata, or evenly spaced) give sorted edges: no sort needed.
  return sample_pdf(key, t_edges, weights, num_samples + 1, randomized,
                    stratified=True)
