"""Loss terms that methods combine in their `loss_terms`.

Each returns a dict of named scalar terms, already weighted; the train step
sums the terms of the method and logs each under its name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnerf.rays import Rays


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
  """Sum of squares of every Dense kernel (not biases, not hash tables)."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  return sum(jnp.sum(x**2) for path, x in leaves
             if getattr(path[-1], "key", "") == "kernel")


def weight_decay_terms(params, mult: float) -> dict[str, jax.Array]:
  """`weight_l2`: mult * kernel_l2, or nothing when mult is 0."""
  return {"weight_l2": mult * kernel_l2(params)} if mult > 0 else {}
