"""Proposal-network sampling (mip-NeRF 360, Barron et al. 2022; nerfacto).

Small density-only fields (a coarse hash grid and a tiny MLP) propose where
along each ray the real field should be sampled: rays start with evenly
spaced intervals, each proposal field weights its intervals and the next
intervals are drawn from those weights (`sampling.resample_along_rays`);
the last intervals go to the real field. The proposal fields learn only
from the interlevel loss, which asks their weights to bound the real
field's weights from above (eq. 13): they model where the surface is, not
its colour, so they can be coarse and cheap.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf.fields import hashgrid, networks
from jaxnerf.render import compositing, sampling


class ProposalDensity(nn.Module):
  """Density of a proposal field at points in [-bound, bound]^3.

  Attributes:
    bound: half-size of the scene box.
    num_levels, log2_table_size, min_resolution, max_resolution: its hash
      grid (hashgrid.HashGridEncoding).
    width: the hidden layer of its MLP.
  """

  bound: float
  num_levels: int = 5
  log2_table_size: int = 17
  min_resolution: int = 16
  max_resolution: int = 128
  width: int = 16

  @nn.compact
  def __call__(self, points: jax.Array) -> jax.Array:
    """points [..., 3] -> density [...]."""
    h = hashgrid.HashGridEncoding(
        num_levels=self.num_levels, features_per_level=2,
        log2_table_size=self.log2_table_size,
        min_resolution=self.min_resolution,
        max_resolution=self.max_resolution)(
            (points + self.bound) / (2 * self.bound))
    h = nn.relu(nn.Dense(self.width)(h))
    return networks.trunc_exp(nn.Dense(1)(h)[..., 0])


def envelope(t_edges: jax.Array, prop_edges: jax.Array,
             prop_weights: jax.Array) -> jax.Array:
  """The proposal weight of every proposal interval that overlaps each
  interval of `t_edges` (mip-NeRF 360's `inner_outer`, outer bound).

  Args:
    t_edges: [N, S + 1]; prop_edges: [N, P + 1], both sorted;
    prop_weights: [N, P].
  Returns:
    [N, S].
  """
  cum = jnp.concatenate([jnp.zeros_like(prop_weights[..., :1]),
                         jnp.cumsum(prop_weights, axis=-1)], axis=-1)
  num_edges = prop_edges.shape[-1]
  # Proposal edges at or before each edge (a searchsorted by counting: S and
  # P are small, and this vectorises on CPU).
  count = jnp.sum(prop_edges[..., None, :] <= t_edges[..., :, None], axis=-1)
  lo = jnp.clip(count - 1, 0, num_edges - 1)  # last proposal edge <= t
  hi = jnp.clip(count, 0, num_edges - 1)  # first proposal edge > t
  take = lambda idx: jnp.take_along_axis(cum, idx, axis=-1)
  return take(hi[..., 1:]) - take(lo[..., :-1])


def interlevel_loss(t_edges: jax.Array, weights: jax.Array,
                    prop_edges: jax.Array, prop_weights: jax.Array,
                    eps: float = 1e-7) -> jax.Array:
  """mip-NeRF 360's proposal loss (eq. 13) of each ray:
  sum_i max(0, w_i - bound_i)^2 / (w_i + eps), bound_i = `envelope`.

  The real field's intervals and weights get no gradient: the loss trains
  the proposal to cover them, never the field to hide from the proposal.

  Args:
    t_edges: [N, S + 1], weights: [N, S] of the real field;
    prop_edges: [N, P + 1], prop_weights: [N, P] of one proposal.
  Returns:
    [N].
  """
  t_edges = jax.lax.stop_gradient(t_edges)
  weights = jax.lax.stop_gradient(weights)
  bound = envelope(t_edges, jax.lax.stop_gradient(prop_edges), prop_weights)
  return jnp.sum(jnp.maximum(0.0, weights - bound)**2 / (weights + eps),
                 axis=-1)


def even_edges(t_min: jax.Array, t_max: jax.Array, num: int) -> jax.Array:
  """[N, num + 1] evenly spaced edges from t_min [N] to t_max [N]."""
  s = jnp.linspace(0.0, 1.0, num + 1, dtype=t_min.dtype)
  return t_min[:, None] + s * (t_max - t_min)[:, None]


class Spacing(NamedTuple):
  """A monotone map between t along the rays and the s in which intervals
  are drawn: to_s(t [N, K]) -> s [N, K] and its inverse from_s."""

  to_s: Callable[[jax.Array], jax.Array]
  from_s: Callable[[jax.Array], jax.Array]


IDENTITY = Spacing(lambda t: t, lambda s: s)


def disparity_spacing(scale: jax.Array) -> Spacing:
  """nerfacto's piecewise spacing for unbounded rays (mip-NeRF 360's
  g(x) = 1/x beyond a unit distance): with x = t / scale,

      s(x) = x / 2            for x < 1 (even up to one unit)
             1 - 1 / (2 x)    beyond (even in disparity, s -> 1 at infinity)

  so half the intervals of an even draw in s lie within `scale` of the ray
  origin and the rest thin out as 1/x^2 towards infinity.

  Args:
    scale: [N, 1] (or a scalar), t of one unit along each ray.
  """

  def to_s(t):
    x = t / scale
    return jnp.where(x < 1, 0.5 * x, 1.0 - 0.5 / jnp.maximum(x, 1.0))

  def from_s(s):
    far = 1.0 / jnp.maximum(2.0 - 2.0 * s, 1e-12)
    return scale * jnp.where(s < 0.5, 2.0 * s, far)

  return Spacing(to_s, from_s)


def propose(key: jax.Array | None, density_fns, origins: jax.Array,
            directions: jax.Array, t_min: jax.Array, t_max: jax.Array,
            num_samples: tuple[int, ...], randomized: bool, padding: float,
            spacing: Spacing = IDENTITY):
  """Runs the proposal fields: edges for the real field.

  Args:
    density_fns: one function points [N, S, 3] -> density [N, S] per
      proposal level.
    origins, directions: [N, 3]; t_min, t_max: [N] the span to sample.
    num_samples: intervals of each proposal level, then of the real field
      (one more entry than density_fns).
    padding: weight added everywhere before resampling (see
      sampling.blur_weights).
    spacing: where the first intervals are even and in which the weights
      are piecewise constant when resampling (mip-NeRF 360's s-space).
  Returns:
    (edges [N, num_samples[-1] + 1] in t for the real field, a list of
    (edges in t, weights) of every proposal level).
  """
  s_edges = even_edges(spacing.to_s(t_min[:, None])[:, 0],
                       spacing.to_s(t_max[:, None])[:, 0], num_samples[0])
  levels = []
  for i, density_fn in enumerate(density_fns):
    edges = spacing.from_s(s_edges)
    mids = 0.5 * (edges[..., 1:] + edges[..., :-1])
    density = density_fn(sampling.points_along_rays(origins, directions,
                                                    mids))
    weights = compositing.interval_weights(density, edges, directions)
    levels.append((edges, weights))
    key_i = None if key is None else jax.random.fold_in(key, i)
    s_edges = sampling.resample_along_rays(key_i, s_edges, weights,
                                           num_samples[i + 1], randomized,
                                           padding)
  return jax.lax.stop_gradient(spacing.from_s(s_edges)), levels
