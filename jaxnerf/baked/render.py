"""Rendering a baked scene (jaxnerf/baked/bake.py) in JAX, with no MLP at all:
trilinear lookups in the block-sparse grid, the colour's basis (SH, or a
FastNeRF cache's direction table) once per ray, compositing.

Rays take fixed steps of `step_ratio` cells inside the box around the kept
blocks. Work is kept proportional to the samples that matter:

1. coarse: steps of `coarse_factor` fine steps (within a block) test
   the blocks of the box around their fine samples (at most 2 x 2 x 2
   blocks, one gather in `occupied_boxes`), so no fine sample of an
   occupied block is missed; each ray's occupied steps are kept as bits
   (`occupied_bits`);
2. density, in rounds of `COARSE_PER_ROUND` occupied coarse steps per ray
   (`next_steps` from a cursor per ray): the fine samples of those steps
   with their trilinear density, weights, opacity and depth; only samples
   in cells with a positive corner read their 8 corners (`live_cells`;
   the others have density 0); a ray whose transmittance is spent takes
   no further round (early ray termination);
3. colour: only samples with weight above COLOUR_EPS reach the colour
   lookup (8 gathers of 3 K values); or, with `DeferredShading`, every
   sample reads a diffuse colour with its density and only heavier
   samples the full colour.

On XLA's CPU backend a cumulative sum over a long axis and a reduction
over a short last axis are slow: packing (`compact`), the bits and the
colour's basis sum are matmuls instead (docs/methods/speed.md).

`Renderer` runs the three in one jitted call per chunk (`march_chunk`: the
rounds and their tiles are `lax.while_loop`s over packed arrays of static
size, no host round trip). `RoundsRenderer`, the previous renderer, runs
them as separate passes and reads two counts back to the host every round
to size the next pass (powers of two: a few shapes compile); it is kept to
compare against (tests, bench/baked_render_speed.py).

`render_packed` is the same model in one differentiable function on a
static budget, for fine-tuning (jaxnerf/baked/finetune.py).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.fields import encoding, grouped, kilo
from jaxnerf.fields.networks import trunc_exp
from jaxnerf.render import compositing
from jaxnerf.baked import bake as bake_lib
from jaxnerf.baked.bake import BakedScene
from jaxnerf.core.rays import Rays

# Samples whose weight is below this skip the colour lookup, and a ray whose
# transmittance is below it takes no further density round.
COLOUR_EPS = 1e-4
COARSE_PER_ROUND = 4
# Fine samples per coarse step (BakedGrid.coarse_factor).
COARSE_SAMPLES = 4


@flax.struct.dataclass
class TinyNetworks:
  """KiloNeRF's tiny networks of a baked scene (BakedScene.networks): the
  density and colour of every sample in an occupied cell come from its
  network cell's own MLP (jaxnerf/fields/kilo.py's trunk and head), each
  sample evaluated by one network only (grouped.blocked_apply).

  params: {layer: (kernel [n, in, out], bias [n, out])}.
  index: [Gk^3] int32 a network cell's row in params (-1: none).
  block: rows of a dispatch block.
  """

  params: dict
  index: jax.Array
  resolution: int = flax.struct.field(pytree_node=False)
  layers: int = flax.struct.field(pytree_node=False)
  pos_freqs: int = flax.struct.field(pytree_node=False)
  dir_freqs: int = flax.struct.field(pytree_node=False)
  bound: float = flax.struct.field(pytree_node=False)
  block: int = flax.struct.field(pytree_node=False, default=32)

  @classmethod
  def of(cls, scene: BakedScene) -> "TinyNetworks":
    spec = scene.network_spec
    return cls(params=scene.networks, index=scene.network_index,
               resolution=spec["resolution"], layers=spec["layers"],
               pos_freqs=spec["pos_freqs"], dir_freqs=spec["dir_freqs"],
               bound=spec["bound"])

  @property
  def count(self) -> int:
    """n, the networks kept."""
    return next(iter(self.params.values()))[0].shape[0]

  def shade(self, points: jax.Array, viewdirs: jax.Array,
            wanted: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(density [M], rgb [M, 3]) at points [M, 3] seen along unit
    directions [M, 3]; 0 where not wanted [M] or in no kept network's
    cell. Each point is evaluated by its cell's network only, both parts
    in one dispatch (kilo.shade)."""
    cells, local = kilo.cells_and_local(points, self.bound, self.resolution)
    group = jnp.asarray(self.index)[cells]
    ok = wanted & (group >= 0)
    fn = lambda p, x: kilo.shade(p, x, self.layers, self.pos_freqs,
                                 self.dir_freqs)
    out = grouped.blocked_apply(
        fn, self.params, jnp.concatenate([local, viewdirs], axis=-1),
        jnp.maximum(group, 0), self.count, min(self.block, points.shape[0]),
        ok)[0]
    return (jnp.where(ok, trunc_exp(out[:, 0]), 0.0),
            jax.nn.sigmoid(out[:, 1:]))


@flax.struct.dataclass
class BakedGrid:
  """A baked scene's arrays for rendering (jax or numpy).

  block_index: [G^3] int32 flat (x major: (i G + j) G + k), -1 empty.
  occupied: [G^3] bool, block_index >= 0.
  density: [num_blocks (B + 1)^3] flat vertex densities.
  sh: [num_blocks (B + 1)^3, 3 K] flat vertex SH coefficients.
  lo, hi: [3] world box around the kept blocks.
  direction_table: None (SH colour), or a FastNeRF cache's direction
    weights [T, 2 T, K] (bake.direction_lookup).
  networks: None, or KiloNeRF's TinyNetworks: they give the density and
    colour of the samples in live cells (`live_cells`, their occupancy
    grid); `density` is then only that occupancy and `sh` is empty.
  """

  block_index: jax.Array
  occupied: jax.Array
  density: jax.Array
  sh: jax.Array
  lo: jax.Array
  hi: jax.Array
  direction_table: Optional[jax.Array]
  networks: Optional[TinyNetworks]
  resolution: int = flax.struct.field(pytree_node=False)
  block_size: int = flax.struct.field(pytree_node=False)
  bound: float = flax.struct.field(pytree_node=False)
  sh_degree: int = flax.struct.field(pytree_node=False)
  step_ratio: float = flax.struct.field(pytree_node=False)
  white_bkgd: bool = flax.struct.field(pytree_node=False)

  @property
  def voxel_size(self) -> float:
    return 2 * self.bound / self.resolution

  @property
  def step(self) -> float:
    """World-space length of a fine step."""
    return self.step_ratio * self.voxel_size

  @property
  def coarse_factor(self) -> int:
    """Fine steps per coarse step: COARSE_SAMPLES, or fewer to keep a step
    within a block, so that its fine samples span at most two blocks along
    each axis (`coarse_mask`). A coarse step costs its bit test on every
    ray, a fine sample its density on rays that reach it; four balanced
    them best at both the one- and the two-cell step (the measurements:
    docs/methods/speed.md)."""
    return max(1, min(COARSE_SAMPLES,
                      int(self.block_size / self.step_ratio)))

  @classmethod
  def from_scene(cls, scene: BakedScene) -> "BakedGrid":
    lo, hi = scene.occupied_bounds()
    return cls(block_index=scene.block_index.reshape(-1),
               occupied=(scene.block_index >= 0).reshape(-1),
               density=scene.density.reshape(-1),
               sh=scene.sh.reshape(scene.density.size,
                                   scene.sh.shape[-2] * scene.sh.shape[-1]),
               lo=lo, hi=hi, direction_table=scene.direction_table,
               networks=None if scene.networks is None else
               TinyNetworks.of(scene),
               resolution=scene.resolution,
               block_size=scene.block_size, bound=scene.bound,
               sh_degree=scene.sh_degree, step_ratio=scene.step_ratio,
               white_bkgd=scene.white_bkgd)

  @property
  def num_coefficients(self) -> int:
    """K, the colour's values per channel per vertex."""
    return self.sh.shape[-1] // 3

  def to_device(self) -> "BakedGrid":
    return jax.tree.map(jnp.asarray, self)

  def with_values(self, density, sh) -> "BakedGrid":
    return self.replace(density=density, sh=sh)


def locate(grid: BakedGrid, points: jax.Array):
  """Where points [M, 3] fall in the atlas: (base [M] int32, the row of the
  lowest corner of the point's cell; f [M, 3], the position in the cell;
  valid [M], inside the grid in a kept block). base is 0 where not valid."""
  r, b = grid.resolution, grid.block_size
  g = r // b
  u = (points + grid.bound) / (2 * grid.bound) * r
  inside = jnp.all((u >= 0) & (u < r), axis=-1)
  u = jnp.clip(u, 0.0, r - 1e-4)
  blk = jnp.floor(u / b).astype(jnp.int32)
  local = u - (blk * b).astype(u.dtype)
  i0 = jnp.clip(jnp.floor(local).astype(jnp.int32), 0, b - 1)
  f = local - i0
  block = grid.block_index[(blk[:, 0] * g + blk[:, 1]) * g + blk[:, 2]]
  valid = inside & (block >= 0)
  base = (jnp.maximum(block, 0) * (b + 1) + i0[:, 0]) * (b + 1)
  base = (base + i0[:, 1]) * (b + 1) + i0[:, 2]
  return jnp.where(valid, base, 0), f, valid


def corners(grid: BakedGrid, points: jax.Array):
  """The 8 atlas rows around each point and their trilinear weights.

  Args:
    points: [M, 3] world.
  Returns:
    8 pairs (rows [M] int32, weights [M]); rows are 0 where the block is
    empty or the point outside the grid, with weight 0. Kept as 8 separate
    [M] arrays: stacking them into [M, 8] costs strided writes, and a
    gather of [M, 8] rows materialises [M, 8, C], which XLA's CPU backend
    does several times slower than 8 gathers fused into the sum.
  """
  return corners_at(grid.block_size, *locate(grid, points))


def corners_at(b: int, base: jax.Array, f: jax.Array, valid: jax.Array):
  """`corners` from `locate`'s base [M], f [M, 3] and valid [M]."""
  valid = valid.astype(f.dtype)
  fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
  out = []
  for dx, dy, dz in np.ndindex(2, 2, 2):
    row = base + (dx * (b + 1) + dy) * (b + 1) + dz
    w = ((fx if dx else 1 - fx) * (fy if dy else 1 - fy) *
         (fz if dz else 1 - fz) * valid)
    out.append((row, w))
  return out


def live_cells(grid: BakedGrid) -> jax.Array:
  """[num_blocks (B + 1)^3] bool by atlas row: whether the cell whose lowest
  corner is that vertex has a corner of positive density (apron rows: no
  cell, False). A point in a cell that is not live has density exactly 0
  (trilinear weights are >= 0 and density_at clamps at 0), so the marcher
  skips its 8 lookups."""
  b = grid.block_size
  d = grid.density.reshape(-1, b + 1, b + 1, b + 1)
  top = functools.reduce(jnp.maximum, (
      d[:, dx:dx + b, dy:dy + b, dz:dz + b]
      for dx, dy, dz in np.ndindex(2, 2, 2)))
  live = jnp.zeros(d.shape, bool).at[:, :b, :b, :b].set(top > 0)
  return live.reshape(-1)


def density_at(grid: BakedGrid, points: jax.Array) -> jax.Array:
  """Trilinear density [M] (>= 0) at points [M, 3]; 0 in empty blocks."""
  total = 0.0
  for row, w in corners(grid, points):
    total = total + w * grid.density[row]
  return jnp.maximum(total, 0.0)


def sh_at(grid: BakedGrid, points: jax.Array) -> jax.Array:
  """Trilinear SH coefficients [M, 3, K] at points [M, 3]."""
  total = _corner_sum(grid.block_size, grid.sh, *locate(grid, points))
  return total.reshape(points.shape[0], 3, -1)


def rgb_from_sh(sh: jax.Array, viewdirs: jax.Array) -> jax.Array:
  """sigmoid(sum_k c_k Y_k(d)): sh [M, 3, K], viewdirs [M, 3] -> [M, 3]."""
  degree = int(round(np.sqrt(sh.shape[-1]))) - 1
  basis = encoding.spherical_harmonics(viewdirs, degree)
  return jax.nn.sigmoid(jnp.sum(sh * basis[:, None, :], -1))


def ray_basis(grid: BakedGrid, viewdirs: jax.Array) -> jax.Array:
  """The colour basis [N, K] of unit directions [N, 3]: the SH basis, or a
  FastNeRF cache's direction weights (looked up in its table)."""
  if grid.direction_table is not None:
    return bake_lib.direction_lookup(grid.direction_table, viewdirs)
  return encoding.spherical_harmonics(viewdirs, grid.sh_degree)


def colour_from_basis(grid: BakedGrid, points: jax.Array,
                      basis: jax.Array) -> jax.Array:
  """rgb [M, 3] = sigmoid(sum_k c_k(x) basis_k): points [M, 3], basis
  [M, K]. An einsum (a batched matrix-vector product): XLA's CPU backend
  reduces `sum(c * basis, -1)` over the short last axis about 10x slower,
  and that was most of the colour lookup's time."""
  return jax.nn.sigmoid(jnp.einsum("mck,mk->mc", sh_at(grid, points),
                                   basis))


def ray_span(grid: BakedGrid, rays: Rays):
  """Entry and exit t [N] of rays in the box around the kept blocks."""
  centre = 0.5 * (grid.lo + grid.hi)
  half = 0.5 * (grid.hi - grid.lo)
  safe = jnp.where(jnp.abs(rays.directions) < 1e-9, 1e-9, rays.directions)
  t_lo = (centre - half - rays.origins) / safe
  t_hi = (centre + half - rays.origins) / safe
  t0 = jnp.maximum(jnp.max(jnp.minimum(t_lo, t_hi), -1), rays.near[:, 0])
  t1 = jnp.minimum(jnp.min(jnp.maximum(t_lo, t_hi), -1), rays.far[:, 0])
  return t0, t1


def num_coarse_steps(grid: BakedGrid) -> int:
  """Coarse steps that cross the box around the kept blocks."""
  diag = float(np.linalg.norm(np.asarray(grid.hi) - np.asarray(grid.lo)))
  return max(1, int(np.ceil(diag / (grid.coarse_factor * grid.step))) + 1)


def coarse_steps(grid: BakedGrid, rays: Rays, num_coarse: int):
  """(starts [N, Sc] of the coarse steps, t [N, Sc] of each step's first
  and of its last fine sample, each ray's exit t1 [N])."""
  f = grid.coarse_factor
  norm = jnp.linalg.norm(rays.directions, axis=-1)
  dt = grid.step / norm
  t0, t1 = ray_span(grid, rays)
  c = jnp.arange(num_coarse, dtype=dt.dtype)
  starts = t0[:, None] + c * (f * dt)[:, None]
  return (starts, starts + 0.5 * dt[:, None], starts + (f - 0.5) * dt[:, None],
          t1)


def block_at(grid: BakedGrid, origins: jax.Array, directions: jax.Array,
             t: jax.Array) -> jax.Array:
  """The block coordinate (int32, clipped to the grid) of origins +
  t directions, elementwise with broadcasting: whole points ([..., 3]) or
  one axis at a time give the same floats, so the same blocks."""
  g = grid.resolution // grid.block_size
  return jnp.clip(jnp.floor((origins + t * directions + grid.bound) /
                            (2 * grid.bound) * g).astype(jnp.int32), 0, g - 1)


def coarse_blocks(grid: BakedGrid, rays: Rays, num_coarse: int):
  """(starts [N, Sc] of the coarse steps, the blocks [N, Sc, 3] of each
  step's first and last fine sample, each ray's exit t1 [N])."""
  starts, first, last, t1 = coarse_steps(grid, rays, num_coarse)
  block = lambda t: block_at(grid, rays.origins[:, None],
                             rays.directions[:, None], t[..., None])
  return starts, block(first), block(last), t1


def coarse_mask(grid: BakedGrid, rays: Rays, num_coarse: int) -> jax.Array:
  """Coarse steps [N, Sc] bool with a fine sample in an occupied block: the
  blocks of the box spanned by the step's first and last fine samples (a
  step's samples span less than a block, so at most 2 x 2 x 2 of them)."""
  g = grid.resolution // grid.block_size
  starts, first, last, t1 = coarse_blocks(grid, rays, num_coarse)
  lo, hi = jnp.minimum(first, last), jnp.maximum(first, last)
  occupied = jnp.zeros(starts.shape, bool)
  for corner in np.ndindex(2, 2, 2):
    b = jnp.where(np.array(corner, bool), hi, lo)
    occupied |= grid.occupied[(b[..., 0] * g + b[..., 1]) * g + b[..., 2]]
  return occupied & (starts < t1[:, None])


def occupied_boxes(grid: BakedGrid) -> jax.Array:
  """[8, G^3] bool: entry (e, b) says whether a block of the box from block
  b to b + e (e's bits: +1 along x, y, z) is occupied, so `coarse_mask`'s
  test of the 2 x 2 x 2 blocks is one gather (out of range: not
  occupied)."""
  g = grid.resolution // grid.block_size
  occ = grid.occupied.reshape(g, g, g)
  padded = jnp.pad(occ, ((0, 1), (0, 1), (0, 1)))
  shifted = lambda d: padded[d[0]:d[0] + g, d[1]:d[1] + g, d[2]:d[2] + g]
  out = []
  for e in np.ndindex(2, 2, 2):
    box = jnp.zeros_like(occ)
    for d in np.ndindex(*(x + 1 for x in e)):
      box = box | shifted(d)
    out.append(box.reshape(-1))
  return jnp.stack(out)


def coarse_mask_boxes(grid: BakedGrid, boxes: jax.Array, rays: Rays,
                      num_coarse: int) -> jax.Array:
  """`coarse_mask` with one gather a coarse step (boxes: occupied_boxes).
  The blocks are computed one axis at a time: from [N, Sc, 3] arrays, XLA's
  CPU fusion recomputes each axis for every slice that reads it."""
  g = grid.resolution // grid.block_size
  starts, first, last, t1 = coarse_steps(grid, rays, num_coarse)
  pattern, flat = 0, 0
  for axis in range(3):
    o, d = rays.origins[:, axis, None], rays.directions[:, axis, None]
    b_first = block_at(grid, o, d, first)
    b_last = block_at(grid, o, d, last)
    pattern = pattern * 2 + jnp.abs(b_last - b_first)
    flat = flat * g + jnp.minimum(b_first, b_last)
  return boxes.reshape(-1)[pattern * g**3 + flat] & (starts < t1[:, None])


@flax.struct.dataclass
class FineSamples:
  """Packed fine samples: ray_ids [B] (padding: N), t [B], valid [B],
  ray_complete [N] (all of the ray's samples fit the budget)."""

  ray_ids: jax.Array
  t: jax.Array
  valid: jax.Array
  ray_complete: jax.Array


def fine_samples(grid: BakedGrid, rays: Rays, mask: jax.Array,
                 budget: int) -> FineSamples:
  """The fine samples of the coarse steps in `mask` [N, Sc], packed into
  `budget` coarse steps (each `coarse_factor` fine samples)."""
  n, sc = mask.shape
  f = grid.coarse_factor
  (flat,) = jnp.nonzero(mask.reshape(-1), size=budget, fill_value=0)
  used = jnp.arange(budget) < jnp.sum(mask)
  ray = flat // sc
  c = flat % sc
  norm = jnp.linalg.norm(rays.directions, axis=-1)
  dt = (grid.step / norm)[ray]
  t0, t1 = ray_span(grid, rays)
  j = jnp.arange(f)
  t = t0[ray][:, None] + (c[:, None] * f + j + 0.5) * dt[:, None]
  valid = used[:, None] & (t < t1[ray][:, None])
  ray_ids = jnp.where(used, ray, n).astype(jnp.int32)
  ray_ids = jnp.broadcast_to(ray_ids[:, None], (budget, f)).reshape(-1)
  complete = jnp.cumsum(jnp.sum(mask, -1)) <= budget
  return FineSamples(ray_ids=ray_ids, t=jax.lax.stop_gradient(t.reshape(-1)),
                     valid=valid.reshape(-1), ray_complete=complete)


def _points(rays: Rays, samples: FineSamples) -> jax.Array:
  ids = jnp.minimum(samples.ray_ids, rays.origins.shape[0] - 1)
  return rays.origins[ids] + samples.t[:, None] * rays.directions[ids]


def render_packed(grid: BakedGrid, rays: Rays,
                  samples: FineSamples) -> dict[str, jax.Array]:
  """Renders rays [N] from packed samples, colour at every sample
  (differentiable in grid.density and grid.sh).

  Returns:
    rgb [N, 3], depth [N], disp [N], acc [N] (rendering.composite's
    conventions).
  """
  n = rays.origins.shape[0]
  points = _points(rays, samples)
  ids = jnp.minimum(samples.ray_ids, n - 1)
  if grid.networks is None:
    sigma = jnp.where(samples.valid, density_at(grid, points), 0.0)
    rgb = colour_from_basis(grid, points, ray_basis(grid, rays.viewdirs)[ids])
  else:
    base, _, inside = locate(grid, points)
    sigma, rgb = grid.networks.shade(
        points, rays.viewdirs[ids],
        samples.valid & inside & live_cells(grid)[base])
  weights = compositing.packed_compositing_weights(
      sigma, jnp.full_like(sigma, grid.step), samples.ray_ids)
  return compositing.packed_composite(weights, rgb, samples.t, samples.ray_ids,
                                      n, grid.white_bkgd)


# Fixed point of `exclusive_optical_depth`: 2^-16 per unit, one sample's
# optical depth capped at 30 (transmittance e^-30: nothing behind counts).
_FIXED_ONE = 2.0**16
_MAX_SAMPLE_DEPTH = 30.0


def exclusive_optical_depth(x: jax.Array, ray_ids: jax.Array) -> jax.Array:
  """Per-ray exclusive cumulative sums of packed optical depths.

  Exact in fixed point: a global cumulative sum of uint32 wraps around, but
  the difference of two wrapped sums is exact while a ray's own total stays
  below 2^32 / 2^16 = 65 536. A float32 global sum would lose the small
  depths of rays late in the batch; rendering.segment_cumsum's scan is exact
  but compiles for seconds at every new budget.

  Args:
    x: [B] optical depths >= 0; ray_ids: [B] non-decreasing.
  Returns:
    [B] sum of x over the earlier samples of the same ray.
  """
  q = jnp.round(jnp.minimum(x, _MAX_SAMPLE_DEPTH) * _FIXED_ONE).astype(
      jnp.uint32)
  inclusive = jnp.cumsum(q, dtype=jnp.uint32)
  index = jnp.arange(x.shape[0])
  first = jax.lax.cummax(jnp.where(compositing.segment_start_mask(ray_ids),
                                   index, 0))
  before = inclusive[first] - q[first]
  return (inclusive - q - before).astype(jnp.float32) / _FIXED_ONE


def _pow2(x: int, minimum: int = 256) -> int:
  return max(minimum, 1 << int(np.ceil(np.log2(max(x, 1)))))


@functools.partial(jax.jit, static_argnums=2)
def _coarse_pass(grid: BakedGrid, rays: Rays, num_coarse: int):
  """The occupied coarse steps [N, Sc] and the rank of each among its
  ray's occupied steps."""
  mask = coarse_mask(grid, rays, num_coarse)
  return mask, jnp.cumsum(mask, axis=1) - 1


@functools.partial(jax.jit, static_argnums=4)
def _round_mask(mask, rank, carried, round_index, per_round: int):
  """The coarse steps of this round, of rays whose transmittance is not
  spent yet, and their number."""
  active = carried < -np.log(COLOUR_EPS)
  start = round_index * per_round
  select = mask & (rank >= start) & (rank < start + per_round) & \
      active[:, None]
  return select, jnp.sum(select)


@functools.partial(jax.jit, static_argnums=3)
def _density_pass(grid: BakedGrid, rays: Rays, mask: jax.Array, budget: int,
                  carried: jax.Array):
  """Densities and weights of the fine samples of `mask`, after the optical
  depth `carried` [N] of earlier rounds."""
  samples = fine_samples(grid, rays, mask, budget)
  points = _points(rays, samples)
  x = jnp.where(samples.valid, density_at(grid, points), 0.0) * grid.step
  n = rays.origins.shape[0]
  before = jnp.take(carried, jnp.minimum(samples.ray_ids, n - 1))
  weights = (1 - jnp.exp(-x)) * jnp.exp(
      -before - exclusive_optical_depth(x, samples.ray_ids))
  seg = lambda v: jax.ops.segment_sum(v, samples.ray_ids, num_segments=n,
                                      indices_are_sorted=True)
  colour = weights > COLOUR_EPS
  return (samples, weights, seg(weights), seg(weights * samples.t), colour,
          jnp.sum(colour), carried + seg(jnp.minimum(x, _MAX_SAMPLE_DEPTH)))


@functools.partial(jax.jit, static_argnums=5)
def _colour_pass(grid: BakedGrid, rays: Rays, samples: FineSamples,
                 weights: jax.Array, selected: jax.Array, budget: int):
  n = rays.origins.shape[0]
  (idx,) = jnp.nonzero(selected, size=budget, fill_value=0)
  used = jnp.arange(budget) < jnp.sum(selected)
  ray_ids = jnp.where(used, samples.ray_ids[idx], n)
  ids = jnp.minimum(ray_ids, n - 1)
  points = rays.origins[ids] + samples.t[idx][:, None] * rays.directions[ids]
  rgb = colour_from_basis(grid, points, ray_basis(grid, rays.viewdirs)[ids])
  w = jnp.where(used, weights[idx], 0.0)
  return jax.ops.segment_sum(w[:, None] * rgb, ray_ids, num_segments=n)


# The one-call marcher --------------------------------------------------------
#
# `Renderer` above reads two counts back to the host every round to size
# the next pass (a power-of-two budget); `march_chunk` does the same rounds
# inside one jitted call with no host round trip: rays and samples are
# packed by `jnp.nonzero` into arrays of the full static size, and
# `lax.while_loop`s walk only the filled part, a tile at a time.

# Rays per density tile and samples per colour tile of `march_chunk`: large
# enough that a tile's gathers amortise the loop's overhead, small enough
# that a nearly empty round costs little.
RAY_TILE = 2048
COLOUR_TILE = 8192
DENSITY_TILE = 16384


# Bits per word of `occupied_bits`: a word is a sum of 0/1 times powers of
# two up to 2^15, exact in the float32 matmul that packs it.
WORD_BITS = 16


def occupied_bits(grid: BakedGrid, rays: Rays, num_coarse: int,
                  boxes: Optional[jax.Array] = None):
  """Each ray's occupied coarse steps as bits (boxes: optional
  occupied_boxes, for one gather a coarse step).

  Returns:
    words [N, W] int32 (bit b of word w: coarse step WORD_BITS w + b is
    occupied; W = ceil(Sc / WORD_BITS)), count [N] int32 of occupied steps.
    Packed by a matmul with the powers of two (XLA's CPU backend sums
    over a short last axis slowly); lists of the steps, a cumulative sum
    and a scatter over [N, Sc], cost twice as much.
  """
  mask = (coarse_mask(grid, rays, num_coarse) if boxes is None else
          coarse_mask_boxes(grid, boxes, rays, num_coarse))
  n, sc = mask.shape
  bits = jnp.pad(mask, ((0, 0), (0, -sc % WORD_BITS))).reshape(
      n, -1, WORD_BITS).astype(jnp.float32)
  powers = 2.0**np.arange(WORD_BITS, dtype=np.float32)
  words = jnp.einsum("nwb,b->nw", bits, powers).astype(jnp.int32)
  count = jnp.sum(jax.lax.population_count(words), -1)
  return words, count


def next_steps(words: jax.Array, start: jax.Array, num: int):
  """The first `num` occupied coarse steps at or after `start`.

  Args:
    words: [T, W] occupied_bits' words; start: [T] int32 coarse index.
  Returns:
    steps [T, num] int32 (ascending), found [T, num] bool (False past the
    ray's last occupied step; its step is then 0), and the index after the
    last one found [T] (start where none).
  """
  w = words.shape[1]
  shift = start[:, None] - WORD_BITS * jnp.arange(w)[None]  # [T, W]
  below = jnp.left_shift(1, jnp.clip(shift, 0, WORD_BITS)) - 1
  words = words & ~below
  steps, found = [], []
  after = start
  for _ in range(num):
    nonzero = words != 0
    wi = jnp.argmax(nonzero, axis=1)
    x = jnp.take_along_axis(words, wi[:, None], 1)[:, 0]
    bit = jax.lax.population_count((x & -x) - 1)
    ok = jnp.any(nonzero, axis=1)
    c = jnp.where(ok, wi * WORD_BITS + bit, 0)
    words = jnp.where(jnp.arange(w)[None] == wi[:, None],
                      (x & (x - 1))[:, None], words)
    steps.append(c)
    found.append(ok)
    after = jnp.where(ok, c + 1, after)
  return jnp.stack(steps, 1), jnp.stack(found, 1), after


@flax.struct.dataclass
class DeferredShading:
  """Deferred shading after SNeRG (Hedman et al. 2021) on a baked grid:
  every sample reads its density and a diffuse colour together (one row of
  4 values per corner); only samples whose weight is above `threshold` read
  the full colour (8 rows of 3 K values), the rest keep the diffuse one:

    rgb = sum_i w_i diffuse(x_i) + sum_{w_i > threshold} w_i (colour(x_i, d)
          - diffuse(x_i))

  diffuse = sigmoid(sum_k c_k mean_k), mean the colour basis averaged over
  the sphere (for SH the constant term alone), interpolated after the
  sigmoid; colour = sigmoid(sum_k c_k basis_k(d)). At threshold COLOUR_EPS
  it is the exact renderer plus the diffuse colour of the samples below
  COLOUR_EPS (which that one leaves out); a higher threshold trades the
  view dependence of light samples for speed.

  rgba: [V, 4] per atlas vertex (density, diffuse rgb).
  mean: [K] the basis averaged over the sphere.
  threshold: the weight above which a sample reads the full colour.
  """

  rgba: jax.Array
  mean: jax.Array
  threshold: float = flax.struct.field(pytree_node=False, default=1e-2)

  @classmethod
  def of(cls, grid: BakedGrid, threshold: float) -> "DeferredShading":
    if grid.networks is not None:
      raise ValueError("deferred shading needs a colour grid; this scene's "
                       "colour is its tiny networks")
    if grid.direction_table is None:
      mean = jnp.zeros((grid.num_coefficients,), jnp.float32).at[0].set(
          encoding._SH_C0)
    else:
      # Area weights of the (theta, phi) grid's rows: sin(theta).
      table = grid.direction_table
      rows = table.shape[0]
      area = jnp.sin(jnp.linspace(0.0, np.pi, rows))[:, None, None]
      mean = jnp.sum(table * area, (0, 1)) / (jnp.sum(area) * table.shape[1])
    k = grid.num_coefficients
    diffuse = jax.nn.sigmoid(
        grid.sh.reshape(-1, 3, k) @ mean.astype(grid.sh.dtype))
    return cls(rgba=jnp.concatenate([grid.density[:, None], diffuse], -1),
               mean=mean, threshold=float(threshold))

  def lookup(self, grid: BakedGrid, points: jax.Array) -> jax.Array:
    """Trilinear (density, diffuse rgb) [M, 4] at points [M, 3]."""
    return _corner_sum(grid.block_size, self.rgba, *locate(grid, points))


def _corner_sum(b: int, table: jax.Array, base: jax.Array, f: jax.Array,
                valid: jax.Array) -> jax.Array:
  """sum over the 8 corners of weight x table row ([M, C]), the corners
  from `locate`'s base, f and valid (`corners_at`)."""
  total = 0.0
  for row, w in corners_at(b, base, f, valid):
    total = total + w[:, None] * table[row]
  return total


def _trilinear(grid: BakedGrid, table: jax.Array, points: jax.Array,
               wanted: jax.Array, live: Optional[jax.Array],
               tile: int) -> jax.Array:
  """Trilinear values [M, C] of table [num_blocks (B + 1)^3, C] at points
  [M, 3] (0 where not wanted [M]). With live (`live_cells`), only the
  points in live cells read their 8 corners, packed in tiles of `tile`;
  the others are 0, which is their value when the table's first column is
  the density (the caller clamps it at 0) and the rest is only ever
  weighted by it."""
  base, f, valid = locate(grid, points)
  if live is None:
    return _corner_sum(grid.block_size, table, base, f, valid & wanted)
  return _packed_map(
      valid & wanted & live[base], tile,
      lambda k, used: _corner_sum(grid.block_size, table, base[k], f[k],
                                  used),
      jnp.zeros((points.shape[0], table.shape[1]), table.dtype))


def _network_shade(grid: BakedGrid, points: jax.Array, viewdirs: jax.Array,
                   wanted: jax.Array, live: jax.Array, tile: int):
  """The tiny networks' (density [M], rgb [M, 3]) at points [M, 3] seen
  along viewdirs [M, 3], evaluated only where wanted [M] and in a live cell
  (live: `live_cells`, their occupancy grid), packed in tiles of `tile`;
  elsewhere 0."""
  base, _, inside = locate(grid, points)
  m = points.shape[0]
  init = (jnp.zeros((m,), jnp.float32), jnp.zeros((m, 3), jnp.float32))
  return _packed_map(
      wanted & inside & live[base], tile,
      lambda k, used: grid.networks.shade(points[k], viewdirs[k], used),
      init)


def _packed_map(mask: jax.Array, tile: int, fn, init):
  """init (a pytree of [M, ...] arrays) with the rows of mask [M]'s True
  entries replaced by fn(rows [tile] int32, used [tile] bool) (a pytree
  of [tile, ...] values; rows past the True entries are not used), packed
  a tile at a time over the filled part only."""
  m = mask.shape[0]
  sel, count = compact(mask)
  sel = jnp.concatenate([sel, jnp.full((tile,), m, sel.dtype)])

  def body(start, out):
    k = jax.lax.dynamic_slice(sel, (start,), (tile,))
    values = fn(jnp.minimum(k, m - 1), k < m)
    return jax.tree.map(lambda o, v: o.at[k].set(v, mode="drop"), out,
                        values)

  return _tile_loop(count, tile, body, init)


def compact(mask: jax.Array, width: int = 128):
  """jnp.nonzero(mask, size=M, fill_value=M) and the count, for mask [M]
  bool: (indices [M] int32 of the True entries in order, then M; count).

  The ranks come from a matmul with a triangular matrix over rows of
  `width` (sums of 0/1 in float32: exact) and a cumulative sum of the M /
  width row totals: on XLA's CPU backend a cumulative sum over all M
  entries, which nonzero does twice, costs more than the rest together
  (about 3x faster at M = 65 536)."""
  m = mask.shape[0]
  rows = jnp.pad(mask, (0, -m % width)).reshape(-1, width)
  within = (rows.astype(jnp.float32) @
            jnp.triu(jnp.ones((width, width), jnp.float32))).astype(
                jnp.int32)
  totals = within[:, -1]
  rank = (within + (jnp.cumsum(totals) - totals)[:, None] - 1).reshape(-1)
  rank = jnp.where(mask, rank[:m], m)
  out = jnp.full((m,), m, jnp.int32).at[rank].set(
      jnp.arange(m, dtype=jnp.int32), mode="drop")
  return out, jnp.sum(totals)


def _tile_loop(count, tile: int, body, state):
  """state = body(start, state) for start = 0, tile, ... < count (a traced
  count: the loop runs only over the filled part of a packed array)."""
  def cond(carry):
    return carry[0] < count

  def step(carry):
    start, state = carry
    return start + tile, body(start, state)

  return jax.lax.while_loop(cond, step, (jnp.int32(0), state))[1]


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7))
def march_chunk(grid: BakedGrid, rays: Rays, num_coarse: int,
                per_round: int = COARSE_PER_ROUND, ray_tile: int = RAY_TILE,
                colour_tile: int = COLOUR_TILE,
                density_tile: int = DENSITY_TILE,
                stop_eps: float = COLOUR_EPS,
                boxes: Optional[jax.Array] = None,
                deferred: Optional["DeferredShading"] = None,
                live: Optional[jax.Array] = None):
  """Renders rays [N] in one call: the occupied coarse steps of each ray,
  then rounds of `per_round` of them per ray, only for rays whose
  transmittance is not spent (early termination), each round in tiles of
  RAY_TILE rays; samples with a weight above COLOUR_EPS get their colour,
  packed, in tiles of COLOUR_TILE. The same samples, weights and colours as
  `RoundsRenderer` (up to float rounding of the optical depths).

  boxes: optional `occupied_boxes` (the same coarse steps, one gather each).
  deferred: optional DeferredShading: the diffuse colour is composited with
  the density (one gather of 4 values per corner) and only samples above
  its threshold read the full colour.
  stop_eps: a ray whose transmittance is below this takes no further
    round (at most stop_eps of its opacity is left out).
  live: optional `live_cells`: only samples in live cells read their
  corners (packed, in tiles of `density_tile`); the others have density 0
  without a lookup (the same image). With tiny networks it is their
  occupancy grid, computed here when not given.

  Returns:
    device rgb [N, 3], depth [N], disp [N], acc [N].
  """
  n = rays.origins.shape[0]
  f = grid.coarse_factor
  nets = grid.networks
  if nets is not None and live is None:  # the networks' occupancy grid
    live = live_cells(grid)
  words, count = occupied_bits(grid, rays, num_coarse, boxes)
  norm = jnp.linalg.norm(rays.directions, axis=-1)
  dt = grid.step / norm
  t0, t1 = ray_span(grid, rays)
  basis = None if nets is not None else ray_basis(grid, rays.viewdirs)
  ray_tile = min(ray_tile, n)
  colour_tile = min(colour_tile, ray_tile * per_round * f)
  density_tile = min(density_tile, ray_tile * per_round * f)
  spent = -np.log(stop_eps)
  j = jnp.arange(f, dtype=dt.dtype)

  def one_round(carry):
    r, cursor, carried, acc, depth, rgb = carry
    ids, num_active = compact((count > r * per_round) & (carried < spent))
    ids = jnp.concatenate([ids, jnp.full((ray_tile,), n, ids.dtype)])

    def tile(start, state):
      cursor, carried, acc, depth, rgb = state
      rid = jax.lax.dynamic_slice(ids, (start,), (ray_tile,))
      real = rid < n
      ri = jnp.minimum(rid, n - 1)
      # The ray's next occupied coarse steps, after those of earlier rounds.
      c, found, after = next_steps(words[ri], cursor[ri], per_round)
      step_ok = found & real[:, None]
      cursor = cursor.at[rid].set(after, mode="drop")
      t = t0[ri][:, None, None] + (c[..., None] * f + j + 0.5) * \
          dt[ri][:, None, None]  # [T, P, f]
      valid = step_ok[..., None] & (t < t1[ri][:, None, None])
      t = t.reshape(ray_tile, -1)
      valid = valid.reshape(ray_tile, -1)
      points = rays.origins[ri][:, None] + t[..., None] * \
          rays.directions[ri][:, None]
      if nets is None:
        table = grid.density[:, None] if deferred is None else deferred.rgba
        both = _trilinear(grid, table, points.reshape(-1, 3),
                          valid.reshape(-1), live, density_tile)
        sigma = jnp.maximum(both[:, 0], 0.0).reshape(t.shape)
      else:  # the colour of every sample, from the same evaluation
        dirs = jnp.broadcast_to(rays.viewdirs[ri][:, None], points.shape)
        sigma, colour = _network_shade(
            grid, points.reshape(-1, 3), dirs.reshape(-1, 3),
            valid.reshape(-1), live, density_tile)
        sigma = sigma.reshape(t.shape)
      if deferred is not None:
        diffuse = both[:, 1:].reshape(t.shape + (3,))
      x = jnp.where(valid, sigma, 0.0) * grid.step
      before = carried[ri][:, None] + jnp.cumsum(x, axis=1) - x
      w = (1 - jnp.exp(-x)) * jnp.exp(-before)
      add = lambda total, v: total.at[rid].add(v, mode="drop")
      carried = add(carried, jnp.sum(jnp.minimum(x, _MAX_SAMPLE_DEPTH), 1))
      acc = add(acc, jnp.sum(w, 1))
      depth = add(depth, jnp.sum(w * t, 1))
      if nets is not None:
        rgb = rgb.at[rid].add(
            jnp.sum(w[..., None] * colour.reshape(t.shape + (3,)), 1),
            mode="drop")
        return cursor, carried, acc, depth, rgb
      threshold = COLOUR_EPS
      if deferred is not None:
        rgb = rgb.at[rid].add(jnp.sum(w[..., None] * diffuse, 1), mode="drop")
        threshold = deferred.threshold
        diffuse = diffuse.reshape(-1, 3)
      # Colour: only the samples that weigh, packed.
      sel, num_selected = compact((w > threshold).reshape(-1))
      sel = jnp.concatenate([jnp.minimum(sel, w.size - 1),
                             jnp.zeros((colour_tile,), sel.dtype)])
      w_flat, t_flat = w.reshape(-1), t.reshape(-1)
      ray_of = jnp.repeat(rid, t.shape[1], total_repeat_length=w_flat.size)

      def colour(cstart, rgb):
        k = jax.lax.dynamic_slice(sel, (cstart,), (colour_tile,))
        used = cstart + jnp.arange(colour_tile) < num_selected
        cr = jnp.where(used, ray_of[k], n)
        ci = jnp.minimum(cr, n - 1)
        p = rays.origins[ci] + t_flat[k][:, None] * rays.directions[ci]
        value = colour_from_basis(grid, p, basis[ci])
        if deferred is not None:  # its diffuse colour is in already
          value = value - diffuse[k]
        return rgb.at[cr].add(w_flat[k][:, None] * value, mode="drop")

      rgb = _tile_loop(num_selected, colour_tile, colour, rgb)
      return cursor, carried, acc, depth, rgb

    state = _tile_loop(num_active, ray_tile, tile,
                       (cursor, carried, acc, depth, rgb))
    return (r + 1,) + state

  def more(carry):
    r, carried = carry[0], carry[2]
    return jnp.any((count > r * per_round) & (carried < spent))

  zeros = jnp.zeros((n,), jnp.float32)
  _, _, _, acc, depth, rgb = jax.lax.while_loop(
      more, one_round, (jnp.int32(0), jnp.zeros((n,), jnp.int32), zeros,
                        zeros, zeros, jnp.zeros((n, 3), jnp.float32)))
  if grid.white_bkgd:
    rgb = rgb + (1.0 - acc[:, None])
  eps = 1e-10
  disp = acc / depth
  disp = jnp.where((disp > 0) & (disp < 1 / eps) & (acc > eps), disp, 1 / eps)
  return dict(rgb=rgb, depth=depth, disp=disp, acc=acc)


@dataclasses.dataclass
class RoundsRenderer:
  """Renders rays of any number with a baked scene (the three passes of the
  module doc, host-synchronised; superseded by Renderer) in chunks of a
  fixed size. The passes are compiled once per grid shape, chunk and
  budget (powers of two), shared by every RoundsRenderer.

  Attributes:
    grid: the device BakedGrid.
    chunk: rays per pass.
  """

  grid: BakedGrid
  chunk: int = 2**16

  def __post_init__(self):
    self.num_coarse = num_coarse_steps(self.grid)

  def render_rays(self, rays: Rays) -> dict[str, np.ndarray]:
    """rays: Rays [N] (host or device), N <= chunk.

    Returns:
      host rgb [N, 3], depth [N], disp [N], acc [N].
    """
    n = rays.origins.shape[0]
    size = min(self.chunk, _pow2(n, 1024))  # small images: a small chunk
    pad = size - n
    if pad:
      rays = jax.tree.map(
          lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], pad, 0)]), rays)
    mask, rank = _coarse_pass(self.grid, rays, self.num_coarse)
    zeros = jnp.zeros((size,), jnp.float32)
    carried, acc, depth = zeros, zeros, zeros
    rgb = jnp.zeros((size, 3), jnp.float32)
    for round_index in range(self.num_coarse):
      select, count = _round_mask(mask, rank, carried, round_index,
                                  COARSE_PER_ROUND)
      count = int(count)
      if not count:
        break
      samples, weights, acc_r, depth_r, selected, num_selected, carried = \
          _density_pass(self.grid, rays, select, _pow2(count), carried)
      acc, depth = acc + acc_r, depth + depth_r
      num_selected = int(num_selected)
      if num_selected:
        rgb = rgb + _colour_pass(self.grid, rays, samples, weights, selected,
                                 _pow2(num_selected))
    if self.grid.white_bkgd:
      rgb = rgb + (1.0 - acc[:, None])
    eps = 1e-10
    disp = acc / depth
    disp = jnp.where((disp > 0) & (disp < 1 / eps) & (acc > eps), disp,
                     1 / eps)
    out = dict(rgb=rgb, depth=depth, disp=disp, acc=acc)
    return {k: np.asarray(v)[:n] for k, v in out.items()}

  def render_image(self, rays: Rays) -> dict[str, np.ndarray]:
    """Host rays [H, W] (or any leading shape) -> host maps [H, W, ...]."""
    return render_in_chunks(rays, self.chunk, lambda piece: (
        piece.origins.shape[0],
        self.render_rays(jax.tree.map(jnp.asarray, piece))))


def render_in_chunks(rays: Rays, chunk: int, dispatch) -> dict:
  """Host rays [H, W] (or any leading shape) -> host maps [H, W, ...]:
  dispatch(host Rays [<= chunk]) -> (rays in it, maps [>= n, ...]) for
  every chunk before any is read back (asynchronous dispatch overlaps
  them)."""
  shape = rays.origins.shape[:-1]
  flat = jax.tree.map(lambda x: np.asarray(x).reshape(-1, x.shape[-1]), rays)
  pending = [dispatch(jax.tree.map(lambda x: x[start:start + chunk], flat))
             for start in range(0, flat.origins.shape[0], chunk)]
  pieces = [{k: np.asarray(v)[:n] for k, v in out.items()}
            for n, out in pending]
  return {k: np.concatenate([p[k] for p in pieces]).reshape(
      shape + pieces[0][k].shape[1:]) for k in pieces[0]}


@dataclasses.dataclass
class Renderer:
  """Renders rays of any number with a baked scene by `march_chunk`, in
  chunks of a fixed size (one compilation per grid shape and chunk): every
  chunk is dispatched before any result is read back, so the host never
  waits in between.

  Attributes:
    grid: the device BakedGrid.
    chunk: rays per call.
    ray_tile, colour_tile, density_tile: march_chunk's tiles.
    deferred: 0 (off), or DeferredShading's threshold: the weight above
      which a sample reads the full colour (faster with fewer).
    skip_cells: samples in cells with no positive corner skip their
      lookups (`live_cells`; the same image).
    stop_eps: early ray termination: the transmittance below which a ray
      takes no further round.
    per_round: occupied coarse steps a ray takes per round (early
      termination is tested between rounds).
  """

  grid: BakedGrid
  chunk: int = 2**16
  ray_tile: int = RAY_TILE
  colour_tile: int = COLOUR_TILE
  deferred: float = 0.0
  skip_cells: bool = True
  density_tile: int = DENSITY_TILE
  stop_eps: float = COLOUR_EPS
  per_round: int = COARSE_PER_ROUND

  def __post_init__(self):
    self.num_coarse = num_coarse_steps(self.grid)
    self.boxes = occupied_boxes(self.grid)
    self.shading = (DeferredShading.of(self.grid, self.deferred)
                    if self.deferred else None)
    self.live = live_cells(self.grid) if self.skip_cells else None

  def _dispatch(self, rays: Rays) -> tuple[int, dict]:
    """Device outputs of rays [N] (N <= chunk), padded with empty rays
    (near = far: no occupied step, no work) to a power of two."""
    n = rays.origins.shape[0]
    size = min(self.chunk, _pow2(n, 1024))  # small images: a small chunk
    pad = size - n
    if pad:
      empty = lambda x: np.repeat(np.asarray(x[-1:]), pad, 0)
      padding = jax.tree.map(empty, rays)
      padding = padding.replace(far=padding.near)
      rays = jax.tree.map(
          lambda x, y: jnp.concatenate([jnp.asarray(x), jnp.asarray(y)]),
          rays, padding)
    return n, march_chunk(self.grid, rays, self.num_coarse,
                          self.per_round, self.ray_tile, self.colour_tile,
                          self.density_tile, self.stop_eps, self.boxes,
                          self.shading,
                          self.live)

  def render_rays(self, rays: Rays) -> dict[str, np.ndarray]:
    """rays: Rays [N] (host or device), N <= chunk.

    Returns:
      host rgb [N, 3], depth [N], disp [N], acc [N].
    """
    n, out = self._dispatch(rays)
    return {k: np.asarray(v)[:n] for k, v in out.items()}

  def render_image(self, rays: Rays) -> dict[str, np.ndarray]:
    """Host rays [H, W] (or any leading shape) -> host maps [H, W, ...]."""
    return render_in_chunks(rays, self.chunk, self._dispatch)


def make_renderer(scene: BakedScene, chunk: Optional[int] = None) -> Renderer:
  grid = BakedGrid.from_scene(scene).to_device()
  return Renderer(grid) if chunk is None else Renderer(grid, chunk)
