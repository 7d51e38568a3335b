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


def corner_indices_and_weights(x: jax.Array, levels: list[Level]):
  """Table rows and trilinear weights of the 8 vertices around each point.

  Args:
    x: [M, 3] points in [0, 1]^3 (clipped).
  Returns:
    indices [M, L, 8] int32 rows of the flat table, weights [M, L, 8].
  """
  x = jnp.clip(x, 0.0, 1.0)
  res = jnp.asarray([lv.resolution for lv in levels], jnp.float32)  # [L]
  scaled = x[:, None, :] * res[:, None]  # [M, L, 3]
  # Clamp the cell so that x = 1 falls in the last cell with fraction 1.
  cell = jnp.minimum(jnp.floor(scaled), res[:, None] - 1)
  frac = scaled - cell
  cell = cell.astype(jnp.uint32)
  bits = np.array([[(c >> d) & 1 for d in range(3)] for c in range(8)],
                  np.uint32)  # [8, 3]: corner offsets
  corner = cell[:, :, None, :] + bits  # [M, L, 8, 3]
  w = jnp.where(bits.astype(bool), frac[:, :, None, :],
                1.0 - frac[:, :, None, :])
  weights = jnp.prod(w, axis=-1)  # [M, L, 8]

  side = jnp.asarray([lv.resolution + 1 for lv in levels], jnp.uint32)
  side = side[:, None]  # [L, 1]
  dense_idx = corner[..., 0] + side * (corner[..., 1] + side * corner[..., 2])
  primes = np.asarray(HASH_PRIMES, np.uint32)
  h = corner * primes  # uint32 multiply wraps modulo 2^32, as in the paper
  hashed = h[..., 0] ^ h[..., 1] ^ h[..., 2]
  sizes = jnp.asarray([lv.size for lv in levels], jnp.uint32)[:, None]
  # Hashed levels have a power-of-two size: the modulo is a mask.
  hashed = hashed & (sizes - 1)
  is_dense = jnp.asarray([lv.dense for lv in levels])[:, None]
  idx = jnp.where(is_dense, dense_idx, hashed).astype(jnp.int32)
  offsets = jnp.asarray([lv.offset for lv in levels], jnp.int32)[:, None]
  return idx + offsets, weights


class HashGridEncoding(nn.Module):
  """Multiresolution hash encoding of points in [0, 1]^3.

  Attributes:
    num_levels: L.
    features_per_level: F.
    log2_table_size: T; each level has at most 2^T entries.
    min_resolution, max_resolution: N_min, N_max (cells per axis).
    init_scale: table entries start uniform in [-init_scale, init_scale].
  """

  num_levels: int = 16
  features_per_level: int = 2
  log2_table_size: int = 19
  min_resolution: int = 16
  max_resolution: int = 2048
  init_scale: float = 1e-4

  @property
  def levels(self) -> list[Level]:
    return level_layout(self.num_levels, self.log2_table_size,
                        self.min_resolution, self.max_resolution)

  @property
  def output_size(self) -> int:
    return self.num_levels * self.features_per_level

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [..., 3] in [0, 1]^3 -> features [..., L * F]."""
    levels = self.levels
    total = levels[-1].offset + levels[-1].size
    scale = self.init_scale
    table = self.param(
        "table", lambda key, shape: jax.random.uniform(
            key, shape, jnp.float32, -scale, scale),
        (total, self.features_per_level))
    batch = x.shape[:-1]
    idx, weights = corner_indices_and_weights(x.reshape(-1, 3), levels)
    feats = jnp.take(table, idx, axis=0)  # [M, L, 8, F]
    out = jnp.sum(weights[..., None] * feats, axis=-2)  # [M, L, F]
    return out.reshape(batch + (self.output_size,))
