"""Multiresolution hash-grid encoding (Instant-NGP, Mueller et al. 2022).

Level l has a grid of resolution N_l = floor(N_min b^l), b chosen so the
finest level is N_max. A point in [0, 1]^3 is scaled by N_l; the features of
the 8 surrounding vertices are trilinearly interpolated. Vertex features live
in one table per level: coarse levels whose (N_l + 1)^3 vertices fit in 2^T
entries are indexed densely (one entry per vertex, no collisions); finer
levels use the paper's spatial hash (x * 1 ^ y * 2654435761 ^ z * 805459861)
mod 2^T. All levels share one flat parameter `table` [sum of sizes, F] so
the lookup is a single gather.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# The paper's hash primes (the first is 1 so x stays coherent in memory).
HASH_PRIMES = (1, 2654435761, 805459861)


@dataclasses.dataclass(frozen=True)
class Level:
  resolution: int  # N_l: cells per axis; vertices per axis are N_l + 1
  size: int  # table entries of this level
  offset: int  # first entry in the flat table
  dense: bool  # direct vertex indexing (else hashed)


def level_layout(num_levels: int, log2_table_size: int, min_resolution: int,
                 max_resolution: int) -> list[Level]:
  """Resolutions, table sizes and offsets of every level."""
  if num_levels > 1:
    growth = math.exp((math.log(max_resolution) - math.log(min_resolution)) /
                      (num_levels - 1))
  else:
    growth = 1.0
  levels, offset = [], 0
  max_size = 2**log2_table_size
  for l in range(num_levels):
    res = int(math.floor(min_resolution * growth**l + 1e-6))
    dense_size = (res + 1)**3
    dense = dense_size <= max_size
    size = dense_size if dense else max_size
    levels.append(Level(res, size, offset, dense))
    offset += size
  return levels


def corner_indices_and_weights(x: jax.Array, levels: list[Level],
                               smooth_gradient: bool = False):
  """Table rows and trilinear weights of the 8 vertices around each point.

  Corner c = (a, b, d) in {0, 1}^3 is vertex cell + (a, b, d), in the order
  c = a + 2 b + 4 d. Indices and weights are built separably (per axis, then
  combined by broadcasting), which is several times cheaper on CPU than
  working on [M, L, 8, 3] arrays.

  Args:
    x: [M, 3] points in [0, 1]^3 (clipped).
    smooth_gradient: the weights keep their trilinear values but their
      gradient in x is that of the cosine ease (1 - cos(pi f)) / 2 of each
      axis's fraction f (after Heo et al., ICML 2023: smooth interpolation
      weights through a straight-through estimator): continuous across
      cell faces, where the trilinear one jumps, and of the same mean over
      a cell. For pose refinement through the grid.
  Returns:
    indices [M, L, 8] int32 rows of the flat table, weights [M, L, 8].
  """
  x = jnp.clip(x, 0.0, 1.0)
  m = x.shape[0]
  res = np.asarray([lv.resolution for lv in levels], np.float32)  # [L]
  scaled = x[:, None, :] * res[:, None]  # [M, L, 3]
  # Clamp the cell so that x = 1 falls in the last cell with fraction 1.
  cell = jnp.minimum(jnp.floor(scaled), res[:, None] - 1)
  frac = scaled - cell
  if smooth_gradient:
    eased = 0.5 - 0.5 * jnp.cos(jnp.pi * frac)
    frac = jax.lax.stop_gradient(frac - eased) + eased
  cell = cell.astype(jnp.uint32)
  # Per axis: [M, L, 3, 2] for the lower and upper vertex.
  vert = cell[..., None] + np.asarray([0, 1], np.uint32)
  w = jnp.stack([1.0 - frac, frac], axis=-1)

  def combine(v, op):  # [M, L, 3, 2] -> [M, L, 2(z), 2(y), 2(x)] -> [M, L, 8]
    vx = v[:, :, 0, None, None, :]
    vy = v[:, :, 1, None, :, None]
    vz = v[:, :, 2, :, None, None]
    return op(op(vx, vy), vz).reshape(m, v.shape[1], 8)

  weights = combine(w, jnp.multiply)
  idx = []
  dense = [l for l, lv in enumerate(levels) if lv.dense]
  hashed = [l for l, lv in enumerate(levels) if not lv.dense]
  # Levels are ordered coarse to fine, so dense levels come first.
  assert dense == list(range(len(dense)))
  if dense:
    side = np.asarray([levels[l].resolution + 1 for l in dense], np.uint32)
    stride = np.stack([np.ones_like(side), side, side * side], -1)  # [Ld, 3]
    v = vert[:, :len(dense)] * stride[:, :, None]
    idx.append(combine(v, jnp.add))
  if hashed:
    primes = np.asarray(HASH_PRIMES, np.uint32)
    # uint32 products wrap modulo 2^32, as in the paper.
    v = vert[:, len(dense):] * primes[:, None]
    mask = np.asarray([levels[l].size - 1 for l in hashed], np.uint32)
    # Hashed levels have a power-of-two size: the modulo is a mask.
    idx.append(combine(v, jnp.bitwise_xor) & mask[:, None])
  idx = jnp.concatenate(idx, axis=1).astype(jnp.int32)
  offsets = np.asarray([lv.offset for lv in levels], np.int32)[:, None]
  return idx + offsets, weights


@jax.custom_vjp
def interpolate(table: jax.Array, indices: jax.Array,
                weights: jax.Array) -> jax.Array:
  """Weighted sum of table rows: table [T, F], indices/weights [M, L, 8].

  Returns [M, L, F]. One scalar gather per feature and a reduction over the
  last axis: XLA on CPU is about 2x slower reducing [M, L, 8, F] over its
  second-to-last axis. The table's gradient is one scatter-add of F-wide
  rows; the weights' gradient (the trilinear weights are differentiable in
  the points, which pose refinement and localisation need) gathers the
  rows again, and XLA drops it where the points need no gradient.
  """
  return jnp.stack([jnp.sum(weights * table[:, f][indices], axis=-1)
                    for f in range(table.shape[1])], axis=-1)


def _interpolate_fwd(table, indices, weights):
  # A device array: a host table (restored variables captured by a jitted
  # function) cannot be indexed by traced indices in the backward pass,
  # which the point gradient of an SDF's normals runs at export.
  table = jnp.asarray(table)
  return interpolate(table, indices, weights), (table, indices, weights)


def _interpolate_bwd(residuals, grad):
  table, indices, weights = residuals
  shape = table.shape
  rows = weights[..., None] * grad[..., None, :]  # [M, L, 8, F]
  d_table = jnp.zeros(shape, grad.dtype).at[indices.reshape(-1)].add(
      rows.reshape(-1, shape[1]))
  d_weights = sum(table[:, f][indices] * grad[..., f, None]
                  for f in range(shape[1]))  # [M, L, 8]
  return d_table, None, d_weights


interpolate.defvjp(_interpolate_fwd, _interpolate_bwd)


class HashGridEncoding(nn.Module):
  """Multiresolution hash encoding of points in [0, 1]^3.

  Attributes:
    num_levels: L.
    features_per_level: F.
    log2_table_size: T; each level has at most 2^T entries.
    min_resolution, max_resolution: N_min, N_max (cells per axis).
    init_scale: table entries start uniform in [-init_scale, init_scale].
    smooth_gradient: see `corner_indices_and_weights` (the features are
      unchanged; only their gradient in x is).
  """

  num_levels: int = 16
  features_per_level: int = 2
  log2_table_size: int = 19
  min_resolution: int = 16
  max_resolution: int = 2048
  init_scale: float = 1e-4
  smooth_gradient: bool = False

  @property
  def levels(self) -> list[Level]:
    return level_layout(self.num_levels, self.log2_table_size,
                        self.min_resolution, self.max_resolution)

  @property
  def output_size(self) -> int:
    return self.num_levels * self.features_per_level

  @nn.compact
  def __call__(self, x: jax.Array,
               level_weights: jax.Array | None = None) -> jax.Array:
    """x: [..., 3] in [0, 1]^3 -> features [..., L * F].

    level_weights: optional [L] factors of each level's features (coarse-
    to-fine schedules over the levels).
    """
    levels = self.levels
    total = levels[-1].offset + levels[-1].size
    scale = self.init_scale
    table = self.param(
        "table", lambda key, shape: jax.random.uniform(
            key, shape, jnp.float32, -scale, scale),
        (total, self.features_per_level))
    batch = x.shape[:-1]
    idx, weights = corner_indices_and_weights(x.reshape(-1, 3), levels,
                                              self.smooth_gradient)
    out = interpolate(table, idx, weights)  # [M, L, F]
    if level_weights is not None:
      out = out * level_weights[:, None]
    return out.reshape(batch + (self.output_size,))
