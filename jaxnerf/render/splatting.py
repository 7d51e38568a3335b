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
LIST_BUDGET = 2**22
# A group of tiles' list (a large image's two-level binning): this many
# times a tile's capacity.
GROUP_LISTS = 4


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
  covariance), radius [G] pixels (3 sigma of the major axis), valid [G],
  opacity_scale [G] (what the low-pass filter's area asks of the opacity:
  1 unless `project(..., antialias=True)`)."""

  xy: jax.Array
  depth: jax.Array
  conic: jax.Array
  radius: jax.Array
  valid: jax.Array
  opacity_scale: jax.Array


def project(means: jax.Array, covs: jax.Array, c2w: jax.Array, fx, fy, cx,
            cy, width, height, near: float = 0.01,
            low_pass: float | None = None, antialias: bool = False
            ) -> Projection:
  """EWA splatting (Zwicker et al. 2002): cov2d = J W cov W^T J^T + s I,
  J the perspective Jacobian at the mean (its x/z and y/z clamped to 1.3
  times the field of view, as inria's), s = `low_pass`.

  Args:
    means: [G, 3]; covs: [G, 3, 3]; c2w: [3, 4] camera-to-world (OpenGL).
    fx, fy, cx, cy, width, height: [] intrinsics and image size (pixels).
    near: Gaussians closer than this (z-depth) are dropped.
    low_pass: s, pixels^2 (None: LOW_PASS): inria's 0.3 dilates every Gaussian; with
      `antialias`, Mip-Splatting's 2D filter (its s = 0.1, about a pixel
      box's variance 1/12) convolves it, and opacity_scale
      sqrt(det(cov2d - s I) / det(cov2d)) keeps its integral, so a Gaussian
      smaller than a pixel covers its area's share of it, as the pixel's
      colour (the mean over its area) has it.
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
  if low_pass is None:
    low_pass = LOW_PASS
  a = cov2d[:, 0, 0] + low_pass
  b = cov2d[:, 0, 1]
  c = cov2d[:, 1, 1] + low_pass
  det = a * c - b * b
  valid = valid & (det > 0)
  det = jnp.where(valid, det, 1.0)
  if antialias:
    raw = cov2d[:, 0, 0] * cov2d[:, 1, 1] - b * b
    # (The floor keeps sqrt's gradient finite at a flat Gaussian's 0.)
    opacity_scale = jnp.sqrt(jnp.clip(raw / det, 1e-12, 1.0))
  else:
    opacity_scale = jnp.ones_like(det)
  conic = jnp.stack([c / det, -b / det, a / det], -1)
  mid = 0.5 * (a + c)
  lam = mid + jnp.sqrt(jnp.maximum(0.1, mid * mid - det))
  radius = jnp.ceil(3.0 * jnp.sqrt(lam))
  xy = jnp.stack([cx + fx * local[:, 0] / d, cy - fy * local[:, 1] / d], -1)
  return Projection(xy=xy, depth=depth, conic=conic,
                    radius=jnp.where(valid, radius, 0.0), valid=valid,
                    opacity_scale=opacity_scale)


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


def _terms(pixels, xy, conic, opacity, mask):
  """One Gaussian per tile at its pixels: pixels [T, P, 2]; xy [T, 2],
  conic [T, 3], opacity [T], mask [T] -> (alpha [T, P] as `_alphas`, valid
  [T, P] (alpha is not 0), kernel exp(power) [T, P], dx, dy [T, P])."""
  dx = pixels[..., 0] - xy[:, None, 0]
  dy = pixels[..., 1] - xy[:, None, 1]
  a, b, c = (conic[:, None, i] for i in range(3))
  power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
  kernel = jnp.exp(jnp.minimum(power, 0.0))
  alpha = jnp.minimum(MAX_ALPHA, opacity[:, None] * kernel)
  valid = (mask[:, None] & (power >= -0.5 * MAX_MAHALANOBIS) & (power <= 0) &
           (alpha >= MIN_ALPHA))
  return jnp.where(valid, alpha, 0.0), valid, kernel, dx, dy


def _table(xy, conic, opacity, rgb, depth) -> jax.Array:
  """The Gaussians' compositing values as one [G, 10] table: a loop step
  gathers one row per tile (the k-th Gaussian of its list) instead of
  reading pre-gathered [tile, list] arrays (at 800x800, lists of 2048:
  hundreds of MB moved before the first pixel)."""
  return jnp.concatenate([xy, conic, opacity[:, None], rgb, depth[:, None]],
                         -1)


def _unpack(row: jax.Array):
  """[T, 10] -> xy [T, 2], conic [T, 3], opacity [T], rgb [T, 3], depth
  [T]."""
  return row[:, 0:2], row[:, 2:5], row[:, 5], row[:, 6:9], row[:, 9]


def _last_listed(mask: jax.Array) -> jax.Array:
  """[] one past the last list position any tile uses (mask [T, K])."""
  k = mask.shape[1]
  return jnp.max(jnp.where(jnp.any(mask, 0), jnp.arange(1, k + 1), 0))


def _loop_forward(pixels, ids, mask, xy, conic, opacity, rgb, depth):
  """`composite_loop`'s values and what its backward pass needs: the final
  transmittance [T, P] and, per pixel, one past its last Gaussian [T, P]."""
  t, p = pixels.shape[:2]
  dtype = xy.dtype
  table = _table(xy, conic, opacity, rgb, depth)
  ids_t, mask_t = ids.T, mask.T  # [K, T]: a step reads one row
  n = _last_listed(mask)

  def cond(carry):
    k, _, done, *_ = carry
    return (k < n) & ~jnp.all(done)

  def body(carry):
    k, trans, done, out_rgb, out_depth, last = carry
    g_xy, g_conic, g_opacity, g_rgb, g_depth = _unpack(table[ids_t[k]])
    alpha, valid, _, _, _ = _terms(pixels, g_xy, g_conic, g_opacity,
                                   mask_t[k])
    after = trans * (1.0 - alpha)
    # Inria's stop: a pixel ends for good before the Gaussian that would
    # take its transmittance below 1e-4.
    done = done | (valid & (after < MIN_TRANSMITTANCE))
    use = valid & ~done
    w = jnp.where(use, alpha * trans, 0.0)
    return (k + 1, jnp.where(use, after, trans), done,
            out_rgb + w[..., None] * g_rgb[:, None],
            out_depth + w * g_depth[:, None], jnp.where(use, k + 1, last))

  zeros = jnp.zeros((t, p), dtype)
  init = (jnp.zeros((), jnp.int32), jnp.ones((t, p), dtype),
          jnp.zeros((t, p), bool), jnp.zeros((t, p, 3), dtype), zeros,
          jnp.zeros((t, p), jnp.int32))
  _, trans, _, out_rgb, out_depth, last = jax.lax.while_loop(cond, body, init)
  return {"rgb": out_rgb, "depth": out_depth, "acc": 1.0 - trans}, (trans,
                                                                    last)


@jax.custom_vjp
def composite_loop(pixels, ids, mask, xy, conic, opacity, rgb, depth) -> dict:
  """`composite` of tiles, one Gaussian of every tile's list at a time,
  front to back, as inria's kernel: a loop that ends when the longest list
  does or every pixel has stopped, so its cost follows the lists, not the
  capacity, and no [tile, pixel, list] array is ever made.

  The backward pass keeps nothing per Gaussian: it walks the lists back to
  front from each pixel's final transmittance (T_i = T_{i+1} / (1 - a_i)),
  with the colour behind each Gaussian accumulated on the way (inria's
  backward kernel), and adds each step's gradients into the Gaussians'
  rows.

  Args:
    pixels [T, P, 2]; ids, mask [T, K]: each tile's list of Gaussians,
      front first; xy [G, 2], conic [G, 3], opacity [G], rgb [G, 3],
      depth [G]: the Gaussians.
  Returns:
    rgb [T, P, 3] (no background), depth [T, P], acc [T, P].
  """
  return _loop_forward(pixels, ids, mask, xy, conic, opacity, rgb, depth)[0]


def _loop_fwd(pixels, ids, mask, xy, conic, opacity, rgb, depth):
  out, (trans, last) = _loop_forward(pixels, ids, mask, xy, conic, opacity,
                                     rgb, depth)
  return out, (pixels, ids, mask, xy, conic, opacity, rgb, depth, trans,
               last)


def _loop_bwd(res, grads):
  """d/d(alpha_i) of C = sum_i a_i T_i c_i is T_i (c_i - S_i), S_i the colour
  behind i over T_{i+1}; of acc = 1 - prod(1 - a) it is T_n / (1 - a_i)."""
  pixels, ids, mask, xy, conic, opacity, rgb, depth, final, last = res
  g_rgb_out, g_depth_out, g_acc = grads["rgb"], grads["depth"], grads["acc"]
  table = _table(xy, conic, opacity, rgb, depth)
  ids_t, mask_t = ids.T, mask.T

  def body(k, carry):
    trans, behind_rgb, behind_depth, out = carry
    rows = ids_t[k]
    g_xy, g_conic, g_opacity, g_rgb, g_depth = _unpack(table[rows])
    alpha, valid, kernel, dx, dy = _terms(pixels, g_xy, g_conic, g_opacity,
                                          mask_t[k])
    use = valid & (k < last)
    keep = 1.0 - alpha
    before = jnp.where(use, trans / keep, trans)
    w = jnp.where(use, alpha * before, 0.0)
    d_rgb = jnp.sum(w[..., None] * g_rgb_out, 1)  # [T, 3]
    d_depth = jnp.sum(w * g_depth_out, 1)
    d_alpha = before * (
        jnp.sum(g_rgb_out * (g_rgb[:, None] - behind_rgb), -1) +
        g_depth_out * (g_depth[:, None] - behind_depth)) + g_acc * final / keep
    # alpha = min(0.99, o exp(power)): no gradient where the cap holds.
    live = use & (g_opacity[:, None] * kernel < MAX_ALPHA)
    d_alpha = jnp.where(live, d_alpha, 0.0)
    d_opacity = jnp.sum(d_alpha * kernel, 1)
    d_power = d_alpha * alpha
    a, b, c = (g_conic[:, None, i] for i in range(3))
    d_x = jnp.sum(d_power * (a * dx + b * dy), 1)
    d_y = jnp.sum(d_power * (c * dy + b * dx), 1)
    d_conic = jnp.stack([jnp.sum(-0.5 * d_power * dx * dx, 1),
                         jnp.sum(-d_power * dx * dy, 1),
                         jnp.sum(-0.5 * d_power * dy * dy, 1)], -1)
    row = jnp.concatenate([d_x[:, None], d_y[:, None], d_conic,
                           d_opacity[:, None], d_rgb, d_depth[:, None]], -1)
    # Unlisted slots point at Gaussian 0 with zero rows (masked terms).
    out = out.at[rows].add(row)
    behind_rgb = jnp.where(use[..., None], alpha[..., None] * g_rgb[:, None] +
                           keep[..., None] * behind_rgb, behind_rgb)
    behind_depth = jnp.where(use, alpha * g_depth[:, None] +
                             keep * behind_depth, behind_depth)
    return before, behind_rgb, behind_depth, out

  n = _last_listed(mask)
  init = (final, jnp.zeros_like(g_rgb_out), jnp.zeros_like(g_depth_out),
          jnp.zeros_like(table))
  # Back to front: position n - 1 - i at iteration i.
  _, _, _, out = jax.lax.fori_loop(
      0, n, lambda i, carry: body(n - 1 - i, carry), init)
  return (jnp.zeros_like(pixels), None, None, out[:, 0:2], out[:, 2:5],
          out[:, 5], out[:, 6:9], out[:, 9])


composite_loop.defvjp(_loop_fwd, _loop_bwd)


def render_dense(means, covs, opacity, colours, c2w, fx, fy, cx, cy,
                 width: int, height: int, **filters) -> dict:
  """The reference: every Gaussian at every pixel of a width x height image,
  sorted by depth (memory P x G: tests only).

  Args:
    means [G, 3], covs [G, 3, 3], opacity [G] in (0, 1), colours [G, 3].
    filters: `project`'s low_pass and antialias.
  Returns:
    rgb [H, W, 3] (no background), depth [H, W], acc [H, W].
  """
  proj = project(means, covs, c2w, fx, fy, cx, cy, width, height, **filters)
  opacity = opacity * proj.opacity_scale
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


def _smallest_fitting(need: jax.Array, sizes: list[int], build):
  """build(size) at the smallest of the static `sizes` (ascending) that is
  at least `need` [] (the largest where none is): one compiled branch per
  size, `lax.switch` runs one."""
  if len(sizes) == 1:
    return build(sizes[0])
  branch = jnp.sum(need > jnp.array(sizes[:-1]))
  return jax.lax.switch(branch, [lambda s=s: build(s) for s in sizes])


def first_set(inside: jax.Array, capacity: int):
  """The positions of the first `capacity` True entries of each row of
  inside [T, G], and each row's count.

  Rows are packed into 32-bit words: a running count over [T, G / 32] word
  popcounts finds each slot's word, five popcount halvings its bit. A
  running count over every entry (a cumsum, or a matmul by a triangle of
  ones) cost several times the tests that made `inside`.

  Returns:
    (positions [T, capacity] int32 (G where a row has fewer), count [T]).
  """
  t, g = inside.shape
  words = -(-g // 32)
  bits = jnp.pad(inside, ((0, 0), (0, words * 32 - g))).reshape(t, words, 32)
  word = jnp.sum(jnp.where(bits, jnp.left_shift(
      jnp.uint32(1), jnp.arange(32, dtype=jnp.uint32)), jnp.uint32(0)), -1,
                 dtype=jnp.uint32)
  counts = jax.lax.population_count(word).astype(jnp.int32)  # [T, W]
  running = jnp.cumsum(counts, 1)
  count = running[:, -1]

  def positions(slots: int):
    slot = jnp.arange(1, slots + 1, dtype=jnp.int32)
    which = jax.vmap(lambda r: jnp.searchsorted(r, slot, side="left"))(
        running)  # [T, slots]
    which = jnp.minimum(which, words - 1)
    rank = slot[None] - (jnp.take_along_axis(running, which, 1) -
                         jnp.take_along_axis(counts, which, 1))
    bitword = jnp.take_along_axis(word, which, 1)
    base = jnp.zeros_like(rank)
    for width in (16, 8, 4, 2, 1):
      low = jax.lax.population_count(
          jnp.right_shift(bitword, base.astype(jnp.uint32)) &
          jnp.uint32((1 << width) - 1)).astype(jnp.int32)
      high = rank > low
      rank = jnp.where(high, rank - low, rank)
      base = jnp.where(high, base + width, base)
    found = jnp.where(slot[None] <= count[:, None], which * 32 + base, g)
    return jnp.pad(found, ((0, 0), (0, capacity - slots)), constant_values=g)

  # The slots searched: a quarter of the capacity where every row fits
  # (most lists are far shorter than the capacity, and the search per
  # slot is most of the cost); each branch is compiled, in every list of
  # every view size, so there are two.
  sizes = sorted({max(1, capacity // d) for d in (4, 1)})
  return _smallest_fitting(jnp.max(count), sizes, positions), count


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
    (ids [T, capacity], mask [T, capacity], overflow [T] Gaussian-tile
    pairs left out).
  """
  # alpha = o exp(-q / 2) >= 1/255 where q <= 2 log(255 o).
  reach = jnp.minimum(MAX_MAHALANOBIS, 2.0 * jnp.log(
      jnp.maximum(opacity, 1e-30) / MIN_ALPHA))
  inside = proj.valid[None] & (
      min_mahalanobis(proj.xy, proj.conic, first, last) <= reach[None])
  where, count = first_set(inside, capacity)
  mask = where < inside.shape[1]
  ids = order[jnp.minimum(where, order.shape[0] - 1)]
  return jnp.where(mask, ids, 0), mask, jnp.maximum(count - capacity, 0)


def composite_by_length(pixels, ids, mask, xy, conic, opacity, colours,
                        depth, groups: int) -> dict:
  """`composite_loop` of tiles sorted by list length and split into `groups`
  equal groups, each looping to its own longest list: a few crowded tiles
  no longer make every tile loop as long as they do.

  Args:
    pixels [T, P, 2]; ids, mask [T, K] each tile's list (front first);
    xy [G, 2], conic [G, 3], opacity [G], colours [G, 3], depth [G].
  Returns:
    rgb [T, P, 3], depth [T, P], acc [T, P] in the tiles' order.
  """
  num = pixels.shape[0]
  groups = max(1, min(groups, num))
  size = -(-num // groups)
  order = jnp.argsort(jnp.sum(mask, 1))
  # Padding repeats a tile whose outputs are never read (no gradient).
  order = jnp.pad(order, (0, groups * size - num), mode="edge")
  parts = []
  for g in range(groups):
    rows = order[g * size:(g + 1) * size]
    parts.append(composite_loop(pixels[rows], ids[rows], mask[rows], xy,
                                conic, opacity, colours, depth))
  inverse = jnp.argsort(order[:num])
  return jax.tree.map(lambda *x: jnp.concatenate(x)[inverse], *parts)


# The dense lists test only the front of the depth order, where the
# Gaussians in front of the camera that can reach alpha 1/255 are: the
# smallest of these shares of all slots that holds them all (one compiled
# branch each; dead slots and Gaussians out of view cost nothing).
LIST_SHARES = (0.5, 1.0)


def dense_lists(proj: Projection, opacity: jax.Array, pixels: jax.Array,
                capacity: int, tiles_per_step: int = 0):
  """Each tile's front-most `capacity` Gaussians by `select_front` (every
  tile tests every Gaussian in view), in one depth sort.

  Args:
    proj: the Gaussians on the view (`valid`: in front and able to reach
      alpha 1/255); opacity [G]; pixels [T, P, 2] the tiles' pixel centres
      (on the pinhole image plane, anywhere: each tile tests the rectangle
      that holds its pixels).
    tiles_per_step: as `render_tiles`'.
  Returns:
    (ids [T, capacity], mask [T, capacity], overflow [T]).
  """
  num_slots = opacity.shape[0]
  order = jnp.argsort(jnp.where(proj.valid,
                                jax.lax.stop_gradient(proj.depth), jnp.inf))
  # Each tile's list from the rectangle of its pixel centres (its first
  # and last on a pinhole grid; a distorted camera's tiles are warped).
  corners = (jnp.min(pixels, 1), jnp.max(pixels, 1))
  num = pixels.shape[0]

  def front(size: int):
    top = order[:size]
    ordered = jax.tree.map(lambda x: jax.lax.stop_gradient(x[top]), proj)
    faint = jax.lax.stop_gradient(opacity[top])
    step = tiles_per_step or max(1, LIST_BUDGET // size)
    if step >= num:
      return select_front(top, ordered, faint, corners[0], corners[1],
                          capacity)
    # Many tiles (a large image): each group of `step` tiles first lists
    # the Gaussians of its bounding rectangle, and its tiles test only
    # those (a band of rows of an 800x800 view meets a few thousand of
    # all the slots).
    wide = min(size, GROUP_LISTS * capacity)

    def two_level(c):
      first, last = c
      rect, kept, left = select_front(
          top, ordered, faint, jnp.min(first, 0)[None],
          jnp.max(last, 0)[None], wide)
      sub = jax.tree.map(lambda x: jax.lax.stop_gradient(x[rect[0]]), proj)
      sub = sub._replace(valid=sub.valid & kept[0])
      ids, mask, over = select_front(
          rect[0], sub, jax.lax.stop_gradient(opacity[rect[0]]), first, last,
          capacity)
      return ids, mask, over.at[0].add(left[0])

    steps = -(-num // step)
    pad = steps * step - num
    grouped = tuple(
        jnp.pad(x, [(0, pad), (0, 0)], mode="edge").reshape(steps, step, 2)
        for x in corners)
    ids, mask, overflow = jax.lax.map(two_level, grouped)
    # Padding repeats the last tile: cut before summing its overflow.
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:])[:num],
                        (ids, mask, overflow))

  sizes = sorted({max(1, min(num_slots, -(-int(share * num_slots) // 128) *
                             128)) for share in LIST_SHARES})
  return _smallest_fitting(jnp.sum(proj.valid), sizes, front)


def render_tiles(proj: Projection, opacity: jax.Array, colours: jax.Array,
                 pixels: jax.Array, origin: jax.Array, tiles_x, tiles_y,
                 tile: int, max_tiles: int, capacity: int,
                 tiles_per_step: int = 0, binning: str = "dense",
                 groups: int = 1) -> tuple[dict, dict]:
  """One view's tiles: binned, then composited tile by tile.

  Args:
    proj: the Gaussians on the view's camera; opacity [G] (before
      proj.opacity_scale, applied here); colours [G, 3].
    pixels: [T, tile^2, 2] pixel centres, each row one tile of the view's
      grid (from `origin`, tiles_x x tiles_y tiles), row-major. With the
      "dense" binning they may be moved off the grid: a distorted camera's
      pixels undistorted onto the pinhole image plane, where `proj` is.
    tiles_per_step: make this many tiles' lists at a time (lax.map: the
      dense binning's [tiles, Gaussians] tests; 0: as many as keep those
      near LIST_BUDGET elements); where that is fewer than all tiles, each
      group first lists the Gaussians of its bounding rectangle
      (GROUP_LISTS times the capacity, overflow counted) and its tiles
      test only those.
    binning: "dense" (`select_front`: every tile tests every Gaussian, no
      Gaussian is cut, tiles anywhere) or "sort" (`bin_tiles`: one sort of
      tile/depth keys, at most max_tiles tiles a Gaussian; tiles must lie
      on the view's grid).
    groups: composite the tiles in this many groups of similar list
      lengths (`composite_by_length`).
  Returns:
    (maps [T, tile^2, ...] as `composite`'s, stats: overflow and cut).
  """
  opacity = opacity * proj.opacity_scale
  # Gaussians that cannot reach alpha 1/255 are in no tile's list.
  proj = proj._replace(valid=proj.valid & (opacity >= MIN_ALPHA))
  if binning == "sort":
    corner = jnp.floor((pixels[:, 0] - origin) / tile).astype(jnp.int32)
    tile_ids = corner[:, 1] * TILE_STRIDE + corner[:, 0]
    ids, mask, stats = bin_tiles(proj, tile_ids, origin, tiles_x, tiles_y,
                                 tile, max_tiles, capacity)
  else:
    ids, mask, overflow = dense_lists(proj, opacity, pixels, capacity,
                                      tiles_per_step)
    stats = {"overflow": jnp.sum(overflow), "cut": jnp.zeros((), jnp.int32)}
  maps = composite_by_length(pixels, ids, mask, proj.xy, proj.conic, opacity,
                             colours, proj.depth, groups)
  return maps, stats
