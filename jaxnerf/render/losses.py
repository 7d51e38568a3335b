"""Loss terms that methods combine in their `loss_terms`.

Each returns a dict of named scalar terms, already weighted; the train step
sums the terms of the method and logs each under its name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnerf.render import compositing
from jaxnerf.core.rays import Rays


def ray_weights(out: dict, rays: Rays) -> jax.Array:
  """[N] loss weight of each ray of one level: the ray's lossmult times the
  level's `loss_mask` (rays a sample budget left out get 0)."""
  return rays.lossmult[..., 0] * out.get("loss_mask", 1.0)


def weighted_mse(pred: jax.Array, target: jax.Array,
                 weights: jax.Array) -> jax.Array:
  """sum_i w_i mean_c (pred_ic - target_ic)^2 / sum_i w_i.

  Args:
    pred, target: [N, C]; weights: [N].
  """
  return (jnp.sum(weights * jnp.mean((pred - target)**2, axis=-1)) /
          jnp.sum(weights))


def level_mses(outputs: list[dict], rays: Rays,
               rgb: jax.Array) -> list[jax.Array]:
  """The weighted colour MSE of every level, coarsest first."""
  return [weighted_mse(out["rgb"], rgb, ray_weights(out, rays))
          for out in outputs]


def rgb_terms(outputs: list[dict], rays: Rays, rgb: jax.Array,
              coarse_loss_mult: float) -> dict[str, jax.Array]:
  """NeRF's data term per level: `rgb_level<i>`, every level but the last
  weighted by coarse_loss_mult (JaxNeRF: 1; mip-NeRF: 0.1)."""
  mses = level_mses(outputs, rays, rgb)
  last = len(mses) - 1
  return {f"rgb_level{i}": mse if i == last else coarse_loss_mult * mse
          for i, mse in enumerate(mses)}


def kernel_l2(params) -> jax.Array:
  """Sum of squares of every Dense kernel (`kernel`) and stacked kernel
  ([N, in, out] `<layer>_kernel`: DeRF's heads, KiloNeRF's networks); not
  biases, not hash tables."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  return sum(jnp.sum(x**2) for path, x in leaves
             if str(getattr(path[-1], "key", "")).endswith("kernel"))


def weight_decay_terms(params, mult: float) -> dict[str, jax.Array]:
  """`weight_l2`: mult * kernel_l2, or nothing when mult is 0."""
  return {"weight_l2": mult * kernel_l2(params)} if mult > 0 else {}


def distortion(weights: jax.Array, t_edges: jax.Array) -> jax.Array:
  """mip-NeRF 360's distortion loss of each ray (Barron et al. 2022, eq. 15).

  For a step function of weights w_i on intervals [t_i, t_{i+1}]:

    L = sum_{i,j} w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 (t_{i+1} - t_i),

  m_i the interval midpoints: the integral of w(s) w(s') |s - s'| over the
  ray. It is small when the weight is one compact bump, so it removes
  floaters and semi-transparent fog that the data term alone leaves.

  Args:
    weights: [N, S]; t_edges: [N, S + 1] sorted interval edges (in whatever
      units the caller wants the loss in; it scales linearly with them).
  Returns:
    [N].
  """
  mid = 0.5 * (t_edges[..., 1:] + t_edges[..., :-1])
  delta = t_edges[..., 1:] - t_edges[..., :-1]
  pairwise = jnp.sum(weights[..., :, None] * weights[..., None, :] *
                     jnp.abs(mid[..., :, None] - mid[..., None, :]),
                     axis=(-1, -2))
  return pairwise + jnp.sum(weights**2 * delta, axis=-1) / 3


def packed_distortion(weights: jax.Array, mid: jax.Array, delta: jax.Array,
                      ray_ids: jax.Array, num_rays: int) -> jax.Array:
  """`distortion` of packed samples (occupancy marching), in O(B).

  With the midpoints of a ray sorted, sum_{i,j} w_i w_j |m_i - m_j| =
  2 sum_i w_i (m_i W_i - S_i), W_i and S_i the sums of w_j and w_j m_j over
  the ray's samples before i (segmented prefix sums: no [S, S] matrix).
  Intervals need not touch (marching skips empty cells).

  Args:
    weights, mid, delta: [B] weight, interval midpoint and length of each
      sample; ray_ids: [B] non-decreasing, padding has id num_rays.
  Returns:
    [num_rays].
  """
  before_w = compositing.segment_cumsum(weights, ray_ids) - weights
  wm = weights * mid
  before_wm = compositing.segment_cumsum(wm, ray_ids) - wm
  per_sample = (2 * weights * (mid * before_w - before_wm) +
                weights**2 * delta / 3)
  return jax.ops.segment_sum(per_sample, ray_ids, num_segments=num_rays,
                             indices_are_sorted=True)


def distortion_terms(outputs: list[dict], rays: Rays,
                     mult: float) -> dict[str, jax.Array]:
  """`distortion`: mult times the loss-weighted mean of the last level's
  per-ray `distortion` output, or nothing when mult is 0."""
  if mult <= 0:
    return {}
  out = outputs[-1]
  w = ray_weights(out, rays)
  return {"distortion": mult * jnp.sum(w * out["distortion"]) /
          jnp.maximum(jnp.sum(w), 1e-9)}


def add_sparsity_fields(c) -> None:
  """PlenOctrees' sparsity loss as config fields of a method: mult * mean(1
  - exp(-sparsity_lambda * sigma)) over sparsity_samples uniform points of
  the box [-scene_bound, scene_bound]^3 per step (mult 0: off)."""
  c.sparsity_loss_mult = 0.0
  c.sparsity_lambda = 0.01
  c.sparsity_samples = 256


def sparsity(key: jax.Array, density_fn, num_samples: int, bound: float,
             lam: float) -> jax.Array:
  """PlenOctrees' sparsity term: mean over `num_samples` uniform points x_k
  of [-bound, bound]^3 of 1 - exp(-lam * sigma(x_k)), a scalar.

  density_fn: points [M, 3] -> densities [M] (>= 0).
  """
  points = jax.random.uniform(key, (num_samples, 3), minval=-bound,
                              maxval=bound)
  return jnp.mean(1.0 - jnp.exp(-lam * density_fn(points)))


def sparsity_terms(outputs: list[dict], mult: float) -> dict[str, jax.Array]:
  """`sparsity`: mult times the last level's `sparsity` output (present in
  training steps with mult > 0)."""
  if mult <= 0 or "sparsity" not in outputs[-1]:
    return {}
  return {"sparsity": mult * outputs[-1]["sparsity"]}


def grid_l2(table: jax.Array, level_bounds: list[tuple[int, int]]
            ) -> jax.Array:
  """Zip-NeRF's normalised weight decay of a hash grid: the sum over levels
  of the mean squared entry of each level (Barron et al. 2023, sec. 4).

  Unlike a plain L2 over the table, every level weighs the same whatever
  its size, so coarse levels (few entries, each seen by many rays) are held
  as firmly as fine ones.

  Args:
    table: [T, F] the flat table of all levels.
    level_bounds: (offset, size) of each level's rows.
  """
  return sum(jnp.mean(table[offset:offset + size]**2)
             for offset, size in level_bounds)
