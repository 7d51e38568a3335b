"""NeuS (Wang et al., NeurIPS 2021): rendering a signed distance field.

The surface is the SDF's zero level set. Along a ray, NeuS turns the SDF f
into opacity through the logistic CDF Phi_s(x) = sigmoid(s x): the discrete
opacity of the interval [t_i, t_{i+1}] is

  alpha_i = max((Phi_s(f(t_i)) - Phi_s(f(t_{i+1}))) / Phi_s(f(t_i)), 0)

(the paper's eq. 13), which is unbiased (the weight T_i alpha_i peaks where
f crosses zero, to first order in the SDF) and occlusion-aware (a second
crossing behind the first gets little weight). The SDF at an interval's
ends is estimated from its value at the midpoint and the slope along the
ray, cos = <grad f, d>: f(t_i) ~ f_mid - cos delta / 2. The official code
anneals that slope from a softened -(1 - cos) / 2 to the true -relu(-cos)
over the first part of training (`cos_anneal_ratio`: at 1 the estimate is
the paper's), so that early on rays leaving a surface still see it.

s = exp(scale * variance) with a learned scalar `variance` (the paper: 10
times a parameter started at 0.3, so s = 20 at first); s grows as the
surface sharpens and 1 / s is the width of the rendered surface.

Pure functions of the render layer; the SDF field and its sampling are the
SDF backbone's (jaxnerf/methods/backbones/sdf.py).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

# Keeps the ratio defined where the CDF before an interval is 0 (the
# official code's constant).
ALPHA_EPS = 1e-5


def inv_s(variance: jax.Array, scale: float) -> jax.Array:
  """NeuS's s = exp(scale * variance), clipped to [1e-6, 1e6] as the paper's
  code does (a runaway variance would give inf)."""
  return jnp.clip(jnp.exp(scale * variance), 1e-6, 1e6)


def cos_anneal_ratio(fraction, anneal_fraction: float) -> jax.Array:
  """[] in [0, 1]: how far the slope estimate is annealed, training's
  `fraction` (0 -> 1) over `anneal_fraction` of it (0: from the start;
  `fraction` None: rendering a trained field, fully annealed)."""
  if fraction is None or anneal_fraction <= 0:
    return jnp.asarray(1.0, jnp.float32)
  return jnp.clip(jnp.asarray(fraction, jnp.float32) / anneal_fraction,
                  0.0, 1.0)


def sdf_alpha(sdf: jax.Array, cos: jax.Array, delta: jax.Array,
              s: jax.Array, anneal: jax.Array) -> jax.Array:
  """NeuS's discrete opacity of intervals.

  Args:
    sdf: [...] the SDF at each interval's midpoint.
    cos: [...] <grad f, unit ray direction> there.
    delta: [...] interval lengths in world units.
    s: [] the inverse width; anneal: [] in [0, 1] (`cos_anneal_ratio`).
  Returns:
    alpha [...] in [0, 1].
  """
  slope = -(jax.nn.relu(-cos * 0.5 + 0.5) * (1.0 - anneal) +
            jax.nn.relu(-cos) * anneal)
  prev_cdf = jax.nn.sigmoid((sdf - slope * delta * 0.5) * s)
  next_cdf = jax.nn.sigmoid((sdf + slope * delta * 0.5) * s)
  return jnp.clip((prev_cdf - next_cdf + ALPHA_EPS) /
                  (prev_cdf + ALPHA_EPS), 0.0, 1.0)


def alpha_weights(alpha: jax.Array) -> jax.Array:
  """w_i = alpha_i prod_{j<i} (1 - alpha_j) along the last axis: [N, S]."""
  survive = jnp.cumprod(1.0 - alpha + 1e-7, axis=-1)
  survive = jnp.concatenate([jnp.ones_like(survive[..., :1]),
                             survive[..., :-1]], axis=-1)
  return alpha * survive


def logistic_density(sdf: jax.Array, s: jax.Array) -> jax.Array:
  """A density of the SDF for the field interface (exports, baking):
  s Phi_s(-f), high inside, ~0 outside, crossing s / 2 at the surface
  (VolSDF's form; NeuS's own opacity is defined per interval only)."""
  return s * jax.nn.sigmoid(-s * sdf)


def with_gradient(fn: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
                  points: jax.Array
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(f [M], grad f [M, 3], features [M, D]) of fn: points [M, 3] ->
  (f [M], features [M, D]), each point's f depending on that point only
  (so one reverse pass of sum(f) gives every gradient). Differentiable
  again (the Eikonal term's gradient reaches the parameters)."""
  (f, feats), pullback = jax.vjp(fn, points)
  (grad,) = pullback((jnp.ones_like(f), jnp.zeros_like(feats)))
  return f, grad, feats


def eikonal(grad: jax.Array) -> jax.Array:
  """(|grad f| - 1)^2 per point: grad [..., 3] -> [...]; 0 for an exact
  SDF."""
  return (jnp.linalg.norm(grad, axis=-1) - 1.0) ** 2
