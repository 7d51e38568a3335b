"""3D Gaussian splatting (Kerbl et al., SIGGRAPH 2023) as pure functions:
Gaussians to covariances, EWA projection into a pinhole camera, tile
binning by one sort, and front-to-back compositing per tile.

Every Gaussian is truncated at its 3-sigma ellipse (alpha is 0 outside it,
as well as below 1/255), so a pixel's colour does not depend on which tiles
were rendered together: a training patch, a tile of a whole image and the
dense reference (`render_dense`) agree. Tiles list a Gaussian only where
that support meets them (an ellipse-rectangle test), so thin or faint
Gaussians fill far fewer lists than their bounding squares would.

Static shapes under jit: a Gaussian touches at most `max_tiles` tiles (a
bigger one is cut, and counted), a tile composites at most `capacity`
Gaussians, the front-most (the rest are counted as `overflow`).

Cameras are OpenGL's (looking down -z, y up; pixels x right, y down, pixel
(i, j) centred at (i + 0.5, j + 0.5)), as jaxnerf.core.cameras.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnerf.fields import encoding

# inria's constants: the low-pass filter added to every screen covariance
# (pixels^2), alpha's cap and floor, and the transmittance at which a pixel
# stops.
LOW_PASS = 0.3
MAX_ALPHA = 0.99
MIN_ALPHA = 1.0 / 255.0
MIN_TRANSMITTANCE = 1e-4
# A Gaussian's support: the 3-sigma ellipse (squared Mahalanobis distance
# at most 9), where also its alpha reaches 1/255.
MAX_MAHALANOBIS = 9.0
# Tile ids are ty * TILE_STRIDE + tx (images up to TILE_STRIDE tiles wide).
TILE_STRIDE = 4096
_NO_TILE = jnp.iinfo(jnp.int32).max


def quaternion_to_rotation(q: jax.Array) -> jax.Array:
  """Rotation matrices of quaternions q [..., 4] (w, x, y, z; any norm)
  -> [..., 3, 3]."""
  q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
  w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
  rows = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
          [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
          [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
  return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def covariances(log_scales: jax.Array, quats: jax.Array) -> jax.Array:
  """World covariances R S S^T R^T: log_scales [G, 3], quats [G, 4]
  -> [G, 3, 3]."""
  m = quaternion_to_rotation(quats) * jnp.exp(log_scales)[..., None, :]
  return m @ jnp.swapaxes(m, -1, -2)


def sh_colours(means: jax.Array, sh: jax.Array, origin: jax.Array,
               degree: int, band_weights: jax.Array | None = None
               ) -> jax.Array:
  """View-dependent colours as inria's: 0.5 + sum_k Y_k(d) sh_k, at least 0,
  d the unit direction from the camera centre to each mean.

  Args:
    means: [G, 3]; sh: [G, (degree + 1)^2, 3]; origin: [3].
    band_weights: optional [(degree + 1)^2] (0 for bands not yet trained).
  Returns:
    [G, 3].
  """
  d = means - origin
  d = d / jnp.maximum(jnp.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
  basis = encoding.spherical_harmonics(d, degree)  # [G, K]
  if band_weights is not None:
    basis = basis * band_weights
  return jnp.maximum(jnp.einsum("gk,gkc->gc", basis, sh) + 0.5, 0.0)


class Projection(NamedTuple):
  """Gaussians on one camera's image: xy [G, 2] pixels, depth [G] (z-depth,
  positive in front), conic [G, 3] (a, b, c of the inverse screen
  covariance), radius [G] pixels (3 sigma of the major axis), valid [G]."""

  xy: jax.Array
  depth: jax.Array
  conic: jax.Array
  radius: jax.Array
  valid: jax.Array


def project(means: jax.Array, covs: jax.Array, c2w: jax.Array, fx, fy, cx,
            cy, width, height, near: float = 0.01) -> Projection:
  """EWA splatting (Zwicker et al. 2002): cov2d = J W cov W^T J^T + 0.3 I,
  J the perspective Jacobian at the mean (its x/z and y/z clamped to 1.3
  times the field of view, as inria's).

  Args:
    means: [G, 3]; covs: [G, 3, 3]; c2w: [3, 4] camera-to-world (OpenGL).
    fx, fy, cx, cy, width, height: [] intrinsics and image size (pixels).
    near: Gaussians closer than this (z-depth) are dropped.
  """
  rotation, origin = c2w[:, :3], c2w[:, 3]
  local = (means - origin) @ rotation  # W (m - o), W = R^T
  depth = -local[:, 2]
  valid = depth > near
  d = jnp.where(valid, depth, 1.0)
  lim_x = 1.3 * 0.5 * width / fx
  lim_y = 1.3 * 0.5 * height / fy
  x = jnp.clip(local[:, 0] / d, -lim_x, lim_x) * d
  y = jnp.clip(local[:, 1] / d, -lim_y, lim_y) * d
  zero = jnp.zeros_like(d)
  # u = cx + fx x / d, v = cy - fy y / d with d = -z.
  jac = jnp.stack([jnp.stack([fx / d, zero, fx * x / d**2], -1),
                   jnp.stack([zero, -fy / d, -fy * y / d**2], -1)], -2)
  t = jac @ rotation.T  # [G, 2, 3]
  cov2d = t @ covs @ jnp.swapaxes(t, -1, -2)
  a = cov2d[:, 0, 0] + LOW_PASS
  b = cov2d[:, 0, 1]
  c = cov2d[:, 1, 1] + LOW_PASS
  det = a * c - b * b
  valid = valid & (det > 0)
  det = jnp.where(valid, det, 1.0)
  conic = jnp.stack([c / det, -b / det, a / det], -1)
  mid = 0.5 * (a + c)
  lam = mid + jnp.sqrt(jnp.maximum(0.1, mid * mid - det))
  radius = jnp.ceil(3.0 * jnp.sqrt(lam))
  xy = jnp.stack([cx + fx * local[:, 0] / d, cy - fy * local[:, 1] / d], -1)
  return Projection(xy=xy, depth=depth, conic=conic,
                    radius=jnp.where(valid, radius, 0.0), valid=valid)


def bin_tiles(proj: Projection, tile_ids: jax.Array, origin: jax.Array,
              tiles_x, tiles_y, tile: int, max_tiles: int, capacity: int):
  """The front-most `capacity` Gaussians of each of a view's tiles, by one
  sort of (tile, depth) keys.

  The view's tile grid starts at pixel `origin` [2] and is tiles_x x tiles_y
  tiles of `tile` pixels; a Gaussian touches the tiles its 3-sigma box
  overlaps, at most `max_tiles` of them (row-major from its top-left).

  Args:
    tile_ids: [T] the tiles to fill (ty * TILE_STRIDE + tx in the grid).
  Returns:
    (ids [T, capacity] Gaussian indices, mask [T, capacity], stats): stats
    `overflow` (Gaussian-tile pairs left out for capacity) and `cut`
    (Gaussians touching more than max_tiles tiles).
  """
  num = proj.xy.shape[0]
  rel = proj.xy - origin
  lo = jnp.floor((rel - proj.radius[:, None]) / tile).astype(jnp.int32)
  hi = jnp.floor((rel + proj.radius[:, None]) / tile).astype(jnp.int32)
  size = jnp.stack([tiles_x, tiles_y]).astype(jnp.int32)
  inside = proj.valid & jnp.all((hi >= 0) & (lo < size), -1)
  lo = jnp.clip(lo, 0, size - 1)
  hi = jnp.clip(hi, 0, size - 1)
  span = hi - lo + 1  # [G, 2]
  count = span[:, 0] * span[:, 1]
  k = jnp.arange(max_tiles)
  tx = lo[:, :1] + k % span[:, :1]
  ty = lo[:, 1:] + k // span[:, :1]
  ok = inside[:, None] & (k < count[:, None])
  keys = jnp.where(ok, ty * TILE_STRIDE + tx, _NO_TILE).reshape(-1)
  depth = jnp.broadcast_to(jax.lax.stop_gradient(proj.depth)[:, None],
                           (num, max_tiles)).reshape(-1)
  gid = jnp.broadcast_to(jnp.arange(num, dtype=jnp.int32)[:, None],
                         (num, max_tiles)).reshape(-1)
  keys, _, gid = jax.lax.sort((keys, depth, gid), num_keys=2)
  start = jnp.searchsorted(keys, tile_ids, side="left")
  end = jnp.searchsorted(keys, tile_ids, side="right")
  slot = start[:, None] + jnp.arange(capacity)
  mask = slot < end[:, None]
  ids = jnp.where(mask, gid[jnp.minimum(slot, keys.shape[0] - 1)], 0)
  stats = {"overflow": jnp.sum(jnp.maximum(end - start - capacity, 0)),
           "cut": jnp.sum(inside & (count > max_tiles))}
  return ids, mask, stats


def _alphas(pixels, xy, conic, opacity, mask):
  """[..., P, K] alpha of Gaussians [..., K] at pixels [..., P, 2]: 0 below
  1/255, outside the 3-sigma ellipse or masked; at most 0.99."""
  d = pixels[..., :, None, :] - xy[..., None, :, :]  # [..., P, K, 2]
  a, b, c = (conic[..., None, :, i] for i in range(3))
  power = -0.5 * (a * d[..., 0]**2 + c * d[..., 1]**2) - b * d[..., 0] * \
      d[..., 1]
  alpha = jnp.minimum(MAX_ALPHA, opacity[..., None, :] * jnp.exp(
      jnp.minimum(power, 0.0)))
  return jnp.where(mask[..., None, :] & (power >= -0.5 * MAX_MAHALANOBIS) &
                   (power <= 0) & (alpha >= MIN_ALPHA), alpha, 0.0)


def composite(pixels: jax.Array, xy: jax.Array, conic: jax.Array,
              opacity: jax.Array, rgb: jax.Array, depth: jax.Array,
              mask: jax.Array) -> dict:
  """Front-to-back alpha compositing of depth-sorted Gaussians at pixels.

  A Gaussian's alpha is min(0.99, o exp(-d^T conic d / 2)), 0 below 1/255
  or outside its 3-sigma ellipse; a pixel stops before the Gaussian that would
  take its transmittance below 1e-4 (inria's rule).

  Args:
    pixels: [P, 2]; xy [K, 2], conic [K, 3], opacity [K], rgb [K, 3],
      depth [K], mask [K]: the Gaussians, front first.
  Returns:
    rgb [P, 3] (no background), depth [P] (sum of w z), acc [P].
  """
  alpha = _alphas(pixels, xy, conic, opacity, mask)
  log_t = jnp.cumsum(jnp.log1p(-alpha), axis=-1)  # after each Gaussian
  alpha = jnp.where(log_t >= jnp.log(MIN_TRANSMITTANCE), alpha, 0.0)
  log_after = jnp.cumsum(jnp.log1p(-alpha), axis=-1)
  before = jnp.exp(log_after - jnp.log1p(-alpha))
  w = alpha * before
  return {"rgb": w @ rgb, "depth": w @ depth, "acc": 1.0 - jnp.exp(
      log_after[:, -1])}


def composite_chunks(pixels, xy, conic, opacity, rgb, depth, mask,
                     chunk: int) -> dict:
  """`composite` of tiles [T, P, 2] / [T, K, ...], `chunk` Gaussians at a
  time front to back, skipping a chunk (lax.cond) when no tile lists one
  of its Gaussians or every pixel has stopped: a tile's cost follows its
  list, not the capacity. The same values as `composite` per tile."""
  t, p = pixels.shape[:2]
  k = xy.shape[1]
  n = -(-k // chunk)
  pad = n * chunk - k
  split = lambda x: jnp.moveaxis(jnp.pad(
      x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2)).reshape(
          (t, n, chunk) + x.shape[2:]), 1, 0)
  parts = tuple(split(x) for x in (xy, conic, opacity, rgb, depth, mask))
  stop = jnp.log(MIN_TRANSMITTANCE)

  def body(carry, part):
    log_all, log_kept, out_rgb, out_depth = carry
    g_xy, g_conic, g_opacity, g_rgb, g_depth, g_mask = part

    def run(carry):
      log_all, log_kept, out_rgb, out_depth = carry
      alpha = _alphas(pixels, g_xy, g_conic, g_opacity, g_mask)
      # Inria stops a pixel for good at the first Gaussian that would take
      # it below 1e-4: a running sum over every Gaussian, kept or not.
      run_all = log_all[..., None] + jnp.cumsum(jnp.log1p(-alpha), -1)
      alpha = jnp.where(run_all >= stop, alpha, 0.0)
      log1m = jnp.log1p(-alpha)
      after = log_kept[..., None] + jnp.cumsum(log1m, -1)
      w = alpha * jnp.exp(after - log1m)
      return (run_all[..., -1], after[..., -1],
              out_rgb + jnp.einsum("tpk,tkc->tpc", w, g_rgb),
              out_depth + jnp.einsum("tpk,tk->tp", w, g_depth))

    busy = jnp.any(g_mask) & jnp.any(log_all >= stop)
    return jax.lax.cond(busy, run, lambda c: c, carry), None

  zeros = jnp.zeros((t, p))
  (_, log_kept, out_rgb, out_depth), _ = jax.lax.scan(
      body, (zeros, zeros, jnp.zeros((t, p, 3)), zeros), parts)
  return {"rgb": out_rgb, "depth": out_depth,
          "acc": 1.0 - jnp.exp(log_kept)}


def render_dense(means, covs, opacity, colours, c2w, fx, fy, cx, cy,
                 width: int, height: int) -> dict:
  """The reference: every Gaussian at every pixel of a width x height image,
  sorted by depth (memory P x G: tests only).

  Args:
    means [G, 3], covs [G, 3, 3], opacity [G] in (0, 1), colours [G, 3].
  Returns:
    rgb [H, W, 3] (no background), depth [H, W], acc [H, W].
  """
  proj = project(means, covs, c2w, fx, fy, cx, cy, width, height)
  order = jnp.argsort(jnp.where(proj.valid, proj.depth, jnp.inf))
  x, y = jnp.meshgrid(jnp.arange(width) + 0.5, jnp.arange(height) + 0.5)
  pixels = jnp.stack([x, y], -1).reshape(-1, 2)
  out = composite(pixels, proj.xy[order], proj.conic[order], opacity[order],
                  colours[order], proj.depth[order], proj.valid[order])
  return {k: v.reshape((height, width) + v.shape[1:]) for k, v in out.items()}


def min_mahalanobis(xy: jax.Array, conic: jax.Array, first: jax.Array,
                    last: jax.Array) -> jax.Array:
  """The least squared Mahalanobis distance d^T conic d from each Gaussian
  to each rectangle [first, last] of pixel centres (0 inside): a convex
  quadratic's minimum over a box is inside it or on an edge, where it is a
  clamped 1-D minimum.

  Args:
    xy [G, 2], conic [G, 3]; first, last [T, 2].
  Returns:
    [T, G].
  """
  a, b, c = conic[:, 0], conic[:, 1], conic[:, 2]
  lo = first[:, None] - xy[None]  # [T, G, 2] offsets of the box's corners
  hi = last[:, None] - xy[None]
  q = lambda dx, dy: a * dx * dx + 2 * b * dx * dy + c * dy * dy
  best = jnp.full(lo.shape[:2], jnp.inf)
  for dx in (lo[..., 0], hi[..., 0]):  # vertical edges
    dy = jnp.clip(-b * dx / c, lo[..., 1], hi[..., 1])
    best = jnp.minimum(best, q(dx, dy))
  for dy in (lo[..., 1], hi[..., 1]):  # horizontal edges
    dx = jnp.clip(-b * dy / a, lo[..., 0], hi[..., 0])
    best = jnp.minimum(best, q(dx, dy))
  inside = jnp.all((lo <= 0) & (hi >= 0), -1)
  return jnp.where(inside, 0.0, best)


def select_front(order: jax.Array, proj: Projection, opacity: jax.Array,
                 first: jax.Array, last: jax.Array, capacity: int):
  """The front-most `capacity` Gaussians of each tile, with no bound on the
  tiles a Gaussian touches and no grid: every tile tests every Gaussian's
  support (3-sigma ellipse, where alpha reaches 1/255) against the
  rectangle of its pixel centres, in depth order (one sort, `order`,
  shared by all tiles).

  Args:
    order: [G] Gaussian indices front to back; proj, opacity [G]: in that
      order. first, last: [T, 2] the first and last pixel centre of each
      tile.
  Returns:
    (ids [T, capacity], mask [T, capacity], overflow [] Gaussian-tile pairs
    left out).
  """
  # alpha = o exp(-q / 2) >= 1/255 where q <= 2 log(255 o).
  reach = jnp.minimum(MAX_MAHALANOBIS, 2.0 * jnp.log(
      jnp.maximum(opacity, 1e-30) / MIN_ALPHA))
  inside = proj.valid[None] & (
      min_mahalanobis(proj.xy, proj.conic, first, last) <= reach[None])
  rank = jnp.cumsum(inside, axis=1, dtype=jnp.int32)
  count = rank[:, -1]
  slot = jnp.arange(1, capacity + 1, dtype=jnp.int32)
  where = jax.vmap(lambda r: jnp.searchsorted(r, slot, side="left"))(rank)
  mask = slot[None] <= count[:, None]
  ids = order[jnp.minimum(where, order.shape[0] - 1)]
  return (jnp.where(mask, ids, 0), mask,
          jnp.sum(jnp.maximum(count - capacity, 0)))


def render_tiles(proj: Projection, opacity: jax.Array, colours: jax.Array,
                 pixels: jax.Array, origin: jax.Array, tiles_x, tiles_y,
                 tile: int, max_tiles: int, capacity: int,
                 tiles_per_step: int = 0, binning: str = "dense",
                 chunk: int = 0) -> tuple[dict, dict]:
  """One view's tiles: binned, then composited tile by tile.

  Args:
    proj: the Gaussians on the view's camera; opacity [G]; colours [G, 3].
    pixels: [T, tile^2, 2] pixel centres, each row one tile of the view's
      grid (from `origin`, tiles_x x tiles_y tiles), row-major.
    tiles_per_step: bin and composite this many tiles at a time (lax.map,
      the backward pass recomputing each group's per-pixel values rather
      than keeping them); 0: all at once.
    binning: "dense" (`select_front`: every tile tests every Gaussian, no
      Gaussian is cut, tiles anywhere) or "sort" (`bin_tiles`: one sort of
      tile/depth keys, at most max_tiles tiles a Gaussian; tiles must lie
      on the view's grid).
    chunk: >0: composite that many Gaussians at a time, skipping the rest
      of a group's lists once they end or every pixel has stopped
      (`composite_chunks`); 0: the whole capacity at once.
  Returns:
    (maps [T, tile^2, ...] as `composite`'s, stats: overflow and cut).
  """
  # Gaussians that cannot reach alpha 1/255 are in no tile's list.
  proj = proj._replace(valid=proj.valid & (opacity >= MIN_ALPHA))
  if binning == "sort":
    corner = jnp.floor((pixels[:, 0] - origin) / tile).astype(jnp.int32)
    tile_ids = corner[:, 1] * TILE_STRIDE + corner[:, 0]
    ids, mask, stats = bin_tiles(proj, tile_ids, origin, tiles_x, tiles_y,
                                 tile, max_tiles, capacity)
    # Per tile, beside its pixels: its list, made above for all tiles.
    per_tile = (ids, mask)

    def lists(ids, mask):
      return ids, mask, jnp.zeros((), jnp.int32)
  else:
    order = jnp.argsort(jnp.where(proj.valid,
                                  jax.lax.stop_gradient(proj.depth), jnp.inf))
    ordered = jax.tree.map(lambda x: jax.lax.stop_gradient(x[order]), proj)
    faint = jax.lax.stop_gradient(opacity[order])
    # Per tile, beside its pixels: its first and last pixel centre, from
    # which a group's lists are made inside the group (memory).
    per_tile = (pixels[:, 0], pixels[:, -1])

    def lists(first, last):
      return select_front(order, ordered, faint, first, last, capacity)

  @jax.checkpoint
  def tiles(pix, idx, m):
    args = (pix, proj.xy[idx], proj.conic[idx], opacity[idx], colours[idx],
            proj.depth[idx], m)
    if chunk:
      return composite_chunks(*args, chunk=chunk)
    return jax.vmap(composite)(*args)

  def group(args):
    pix, *binned = args
    idx, m, overflow = lists(*binned)
    return tiles(pix, idx, m), overflow

  num = pixels.shape[0]
  if not tiles_per_step or tiles_per_step >= num:
    maps, overflow = group((pixels,) + per_tile)
  else:
    groups = -(-num // tiles_per_step)
    pad = groups * tiles_per_step - num
    padded = [jnp.concatenate([x, jnp.repeat(x[-1:], pad, 0)]) if pad else x
              for x in (pixels,) + per_tile]
    grouped = [x.reshape((groups, tiles_per_step) + x.shape[1:])
               for x in padded]
    maps, overflow = jax.lax.map(group, tuple(grouped))
    maps = jax.tree.map(
        lambda x: x.reshape((groups * tiles_per_step,) + x.shape[2:])[:num],
        maps)
    # Padding repeats the last tile: its overflow is counted once.
    overflow = jnp.sum(overflow)
  if binning != "sort":
    stats = {"overflow": overflow, "cut": jnp.zeros((), jnp.int32)}
  return maps, stats
