"""Baking a trained field into a block-sparse grid (PlenOctrees, Yu et al.
ICCV 2021; SNeRG, Hedman et al. ICCV 2021).

Any method bakes, through the field interface of its model (`density` and
`radiance`; `sh_coefficients` where the colour already is SH):

1. the density at the (R + 1)^3 vertices of an R^3 grid over the scene box
   [-bound, bound]^3;
2. visibility culling (PlenOctrees): every training ray is marched through
   that grid and each cell keeps the largest compositing weight any ray gave
   it; blocks of B^3 cells whose maximum stays below `cull_threshold` are
   dropped (empty space, and the inside of solid objects, which no ray
   sees); optionally the same at cell level (`cull_cells`: the vertices of
   no cell weighed above `cell_cull_threshold` get density 0; and the
   vertices whose density is below `density_threshold`: KiloNeRF's
   occupancy rule);
3. the colour as spherical-harmonic coefficients of degree `sh_degree` (the
   colour is sigmoid(sum_k c_k Y_k(d))) at the vertices of the kept blocks:
   read directly from a NeRF-SH field, or projected from `radiance` seen
   along `projection_directions` directions by least squares on its logit
   (PlenOctrees' conversion of a plain NeRF).

The sparse structure is a block-sparse grid (SNeRG's), not an octree: an
index grid of (R / B)^3 blocks points into an atlas of the kept blocks, each
holding its (B + 1)^3 vertices (a one-vertex apron shared with its
neighbours). Why: a lookup is two gathers at any depth (an octree walk is a
data-dependent loop of up to log2 R gathers, slow in vectorised JAX and in a
shader); every trilinear interpolation reads one block only, thanks to the
apron, so the WebGL viewer gets it from the GPU's texture filtering; the
atlas maps directly onto 3-D textures; and empty space is skipped a block at
a time. The price is the apron ((B + 1)^3 / B^3 = 1.42x values at B = 8) and
a uniform resolution (no octree refinement), which on NeRF's object scenes
costs less than the octree's pointers.

One file (`.npz`) holds the scene with its format version, the method and
the training step it was baked from.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.fields import encoding, kilo
from jaxnerf import files
from jaxnerf.render import compositing
from jaxnerf.errors import BakedFileError, ConfigError, ResourceError

FORMAT = "jaxnerf-baked-block-sparse"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class BakeOptions:
  """How a field is baked (bake.py's flags).

  resolution: R, cells per axis of the scene box (PlenOctrees uses 512).
  block_size: B, cells per block side; R must be a multiple of it.
  cull_threshold: blocks whose largest training-ray weight is below this
    are dropped (PlenOctrees' weight threshold).
  sh_degree: degree of the baked colour (a NeRF-SH field bakes its own).
  projection_directions: directions the radiance of a non-SH field is seen
    along for the projection onto SH.
  step_ratio: the render step as a fraction of a cell (culling and
    rendering use the same step). One cell: on the lego at 256^3 half a
    cell scored 0.01 dB less and rendered 1.5x slower
    (docs/methods/speed.md).
  cull_ray_stride: every this many training rays take part in culling.
  density_threshold: vertices whose density is below this get density 0
    before culling, so a cell none of whose corners reaches it is empty
    (KiloNeRF's occupancy grid: a cell is occupied where the density
    reaches 10 at any of 3^3 points, its reference's lego config).
  cell_cull_threshold: vertices of no cell whose largest training-ray
    weight is above this get density 0 (`cull_cells`; 0: none).
  chunk: points per field evaluation.
  direction_resolution: T, the rows (theta) of a FastNeRF cache's direction
    table, of 2 T columns (phi); unused for SH colour.
  """

  resolution: int = 256
  block_size: int = 8
  cull_threshold: float = 1e-3
  sh_degree: int = 3
  projection_directions: int = 64
  step_ratio: float = 1.0
  cull_ray_stride: int = 1
  cell_cull_threshold: float = 0.0
  density_threshold: float = 0.0
  chunk: int = 2**16
  direction_resolution: int = 128


@dataclasses.dataclass
class BakedScene:
  """A baked scene on the host.

  block_index: [G, G, G] int32 (x, y, z), G = resolution / block_size: the
    block's row in the atlas, -1 where the block is empty.
  density: [num_blocks, B + 1, B + 1, B + 1] float32 (x, y, z) density at
    the vertices of each kept block.
  sh: [num_blocks, B + 1, B + 1, B + 1, 3, K] float32 SH coefficients of
    the colour (before the sigmoid), K = (sh_degree + 1)^2.
  bound: the scene box is [-bound, bound]^3.
  step_ratio: the render step as a fraction of a cell.
  white_bkgd: composite on white.
  method, step: the method and training step the scene was baked from.
  direction_table: None for SH colour; else a FastNeRF cache
    (jaxnerf/methods/fastnerf.py): [T, P, K] float32, the direction
    branch's K weights on the (theta, phi) grid of `direction_grid`, and
    `sh` holds the position branch's K components per channel instead of
    SH coefficients (the colour is sigmoid(sum_k c_k beta_k(d)) either
    way).
  networks: None, or KiloNeRF's tiny networks (jaxnerf/fields/kilo.py)
    that render the scene: density and colour come from them, the grid's
    density serves only as the occupancy (which cells hold anything), and
    `sh` is empty (K = 0). {layer name: (kernel [n, in, out], bias [n,
    out])} float32 for the n networks whose cells overlap a kept block.
  network_index: [Gk^3] int32, a network cell's row in `networks` (-1:
    not kept); None without networks.
  network_spec: {"resolution", "layers", "pos_freqs", "dir_freqs"} ints
    and "bound" of the networks (kilo.cells_and_local); None without.
  """

  block_index: np.ndarray
  density: np.ndarray
  sh: np.ndarray
  bound: float
  step_ratio: float
  white_bkgd: bool
  method: str
  step: int
  direction_table: Optional[np.ndarray] = None
  networks: Optional[dict] = None
  network_index: Optional[np.ndarray] = None
  network_spec: Optional[dict] = None

  @property
  def block_size(self) -> int:
    return self.density.shape[1] - 1

  @property
  def resolution(self) -> int:
    return self.block_index.shape[0] * self.block_size

  @property
  def sh_degree(self) -> int:
    """The SH degree of the colour; -1 for a FastNeRF cache or networks."""
    if self.direction_table is not None or self.networks is not None:
      return -1
    return int(round(np.sqrt(self.sh.shape[-1]))) - 1

  @property
  def num_blocks(self) -> int:
    return self.density.shape[0]

  @property
  def num_networks(self) -> int:
    """Tiny networks kept (0: none)."""
    return (0 if self.network_index is None else
            int(np.count_nonzero(self.network_index >= 0)))

  def describe_colour(self) -> str:
    """What colours the scene, for logs."""
    if self.networks is not None:
      return (f"{self.num_networks} of KiloNeRF's "
              f"{self.network_spec['resolution']}^3 tiny networks")
    if self.direction_table is not None:
      return ("FastNeRF cache: directions on a "
              f"{self.direction_table.shape[0]} x "
              f"{self.direction_table.shape[1]} grid")
    return f"SH degree {self.sh_degree}"

  @property
  def voxel_size(self) -> float:
    return 2 * self.bound / self.resolution

  def occupied_bounds(self) -> tuple[np.ndarray, np.ndarray]:
    """World-space corners [3], [3] of the box around the kept blocks."""
    ijk = np.argwhere(self.block_index >= 0)
    if not len(ijk):
      return np.zeros(3, np.float32), np.zeros(3, np.float32)
    block = self.block_size * self.voxel_size
    return ((ijk.min(0) * block - self.bound).astype(np.float32),
            ((ijk.max(0) + 1) * block - self.bound).astype(np.float32))


# Memory ----------------------------------------------------------------------


def bake_memory_bytes(resolution: int, block_size: int, sh_degree: int,
                      kept_fraction: float = 1.0) -> int:
  """Host memory a bake needs: the vertex density grid, the per-cell
  culling weights, the index grid and the atlas (density + SH, float32) of
  `kept_fraction` of the blocks."""
  r, b = resolution, block_size
  k = encoding.sh_basis_size(sh_degree)
  blocks = (r // b)**3
  atlas = kept_fraction * blocks * (b + 1)**3 * (1 + 3 * k) * 4
  return int((r + 1)**3 * 4 + r**3 * 4 + blocks * 4 + atlas)


def available_memory_bytes() -> int:
  """MemAvailable of /proc/meminfo (all physical memory elsewhere)."""
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(needed: int, what: str, flag: str) -> None:
  """Raises ResourceError (one line) when `needed` bytes exceed what is
  available."""
  available = available_memory_bytes()
  if needed > available:
    raise ResourceError(
        f"{flag}: {what} needs about {needed / 2**30:.1f} GiB of memory but "
        f"only {available / 2**30:.1f} GiB is available; lower it")


def march_steps(resolution: int, step_ratio: float) -> int:
  """Steps of the culling march: enough to cross the box's diagonal."""
  return int(np.ceil(np.sqrt(3) * resolution / step_ratio)) + 1


# Values the culling march holds per ray sample (times, positions, grid
# coordinates, corner indices and weights, weights, cells): about 16
# float32, an estimate from march_weights' arrays.
MARCH_BYTES_PER_SAMPLE = 64
CULL_CHUNK = 8192  # rays per culling call


def check_options(options: BakeOptions) -> None:
  """Every option, before any work (bake.py's flags).

  Raises:
    ConfigError: a value out of range, naming the flag; ResourceError: a
    bake that would not fit in memory.
  """
  r, b = options.resolution, options.block_size
  if r <= 0 or b <= 0 or r % b:
    raise ResourceError(f"--resolution: {r} must be a positive multiple of "
                        f"--block_size ({b})")
  if not 0 <= options.sh_degree <= encoding.MAX_SH_DEGREE:
    raise ConfigError(f"--sh_degree: {options.sh_degree} is not in [0, "
                      f"{encoding.MAX_SH_DEGREE}]")
  if not (np.isfinite(options.step_ratio) and options.step_ratio > 0):
    raise ConfigError(f"--step_ratio: {options.step_ratio} must be a finite "
                      "number > 0")
  if not 0 <= options.cull_threshold < 1:  # weights are at most 1
    raise ConfigError(f"--cull_threshold: {options.cull_threshold} is not in "
                      "[0, 1)")
  if not options.density_threshold >= 0:
    raise ConfigError(f"--density_threshold: {options.density_threshold} "
                      "is not >= 0")
  if not 0 <= options.cell_cull_threshold < 1:
    raise ConfigError(f"--cell_cull_threshold: "
                      f"{options.cell_cull_threshold} is not in [0, 1)")
  if options.cull_ray_stride < 1:
    raise ConfigError(f"--cull_ray_stride: {options.cull_ray_stride} must be "
                      ">= 1")
  if options.direction_resolution < 2:
    raise ConfigError(f"--direction_resolution: "
                      f"{options.direction_resolution} must be >= 2")
  if options.projection_directions < 1 or options.chunk < 1:
    raise ConfigError("BakeOptions: projection_directions and chunk must be "
                      ">= 1")
  # The dense parts (vertex densities, culling weights) come first; the
  # atlas is checked again once culling says how many blocks it keeps.
  check_memory(bake_memory_bytes(r, b, options.sh_degree, 0.0),
               f"a {r}^3 bake (vertex densities and culling weights)",
               "--resolution")
  steps = march_steps(r, options.step_ratio)
  check_memory(CULL_CHUNK * steps * MARCH_BYTES_PER_SAMPLE,
               f"culling with {steps} steps per ray (--step_ratio "
               f"{options.step_ratio:g} at --resolution {r})", "--step_ratio")


# Grid evaluation ---------------------------------------------------------------


def vertex_coordinates(resolution: int, bound: float) -> np.ndarray:
  """World coordinates [R + 1] of the grid's vertex planes along one axis."""
  return np.linspace(-bound, bound, resolution + 1, dtype=np.float32)


def evaluate_in_chunks(fn: Callable[[jax.Array], jax.Array],
                       points: np.ndarray, chunk: int) -> np.ndarray:
  """fn over points [M, 3] in fixed-size chunks (one compilation), written
  into one preallocated array (a list of chunks and its concatenation held
  the SH of a 256^3 bake, 4.7 GB, three times).

  Returns:
    [M, ...] numpy.
  """
  m = points.shape[0]
  out = None
  for start in range(0, m, chunk):
    piece = points[start:start + chunk]
    pad = chunk - piece.shape[0]
    if pad:
      piece = np.concatenate([piece, np.zeros((pad, 3), piece.dtype)])
    values = np.asarray(fn(jnp.asarray(piece)))[:chunk - pad]
    if out is None:
      out = np.empty((m,) + values.shape[1:], values.dtype)
    out[start:start + len(values)] = values
  return out if out is not None else np.zeros((0,), np.float32)


def density_grid(density_fn: Callable[[jax.Array], jax.Array],
                 resolution: int, bound: float, chunk: int) -> np.ndarray:
  """The density at every vertex: [R + 1, R + 1, R + 1] float32 (x, y, z).

  density_fn: jitted points [chunk, 3] -> [chunk].
  """
  v = vertex_coordinates(resolution, bound)
  out = np.empty((resolution + 1,) * 3, np.float32)
  # One x-plane at a time keeps the points array small.
  y, z = np.meshgrid(v, v, indexing="ij")
  yz = np.stack([y.ravel(), z.ravel()], -1)
  planes_per_call = max(1, chunk // len(yz))
  for i in range(0, resolution + 1, planes_per_call):
    xs = v[i:i + planes_per_call]
    pts = np.concatenate([np.concatenate(
        [np.full((len(yz), 1), x, np.float32), yz], -1) for x in xs])
    out[i:i + len(xs)] = evaluate_in_chunks(density_fn, pts, chunk).reshape(
        len(xs), resolution + 1, resolution + 1)
  return out


def trilinear_dense(grid: jax.Array, u: jax.Array) -> jax.Array:
  """Trilinear interpolation of vertex values grid [R + 1]^3 at continuous
  vertex coordinates u [..., 3] in [0, R]: [...]."""
  r = grid.shape[0] - 1
  u = jnp.clip(u, 0.0, r - 1e-4)
  i0 = jnp.floor(u).astype(jnp.int32)
  f = u - i0
  out = 0.0
  for dx in (0, 1):
    for dy in (0, 1):
      for dz in (0, 1):
        w = ((f[..., 0] if dx else 1 - f[..., 0]) *
             (f[..., 1] if dy else 1 - f[..., 1]) *
             (f[..., 2] if dz else 1 - f[..., 2]))
        out = out + w * grid[i0[..., 0] + dx, i0[..., 1] + dy, i0[..., 2] + dz]
  return out


def march_weights(grid: jax.Array, origins: jax.Array, directions: jax.Array,
                  near: jax.Array, far: jax.Array, bound: float,
                  step: float, num_steps: int):
  """Compositing weights of fixed steps along rays through a dense vertex
  density grid (the culling march).

  Args:
    grid: [R + 1]^3 densities; origins, directions: [N, 3]; near, far: [N].
    step: world-space step; num_steps: S, enough to cross the box.
  Returns:
    weights [N, S], cells [N, S] int32 flat cell index (x fastest... see
    `cell_ids`) or -1 outside the box.
  """
  from jaxnerf.render import occupancy
  r = grid.shape[0] - 1
  norm = jnp.linalg.norm(directions, axis=-1)
  t_min, t_max = occupancy.ray_aabb(origins, directions, bound)
  t_min = jnp.maximum(t_min, near)
  t_max = jnp.minimum(t_max, far)
  dt = step / norm
  t = t_min[:, None] + (jnp.arange(num_steps) + 0.5) * dt[:, None]
  inside = t < t_max[:, None]
  points = origins[:, None] + t[..., None] * directions[:, None]
  u = (points + bound) / (2 * bound) * r
  sigma = jnp.where(inside, trilinear_dense(grid, u), 0.0)
  weights = compositing.weights_from_deltas(
      jnp.maximum(sigma, 0.0), jnp.full_like(sigma, step))
  ijk = jnp.clip(jnp.floor(u).astype(jnp.int32), 0, r - 1)
  cells = (ijk[..., 0] * r + ijk[..., 1]) * r + ijk[..., 2]
  return weights, jnp.where(inside, cells, -1)


def max_ray_weights(grid: np.ndarray, rays, bound: float, step_ratio: float,
                    chunk: int = CULL_CHUNK) -> np.ndarray:
  """The largest weight each cell gets from any of `rays` (PlenOctrees'
  visibility culling): [R, R, R] float32 (x, y, z).

  Args:
    grid: [R + 1]^3 vertex densities.
    rays: Rays [N] (host numpy).
  """
  r = grid.shape[0] - 1
  step = step_ratio * 2 * bound / r
  num_steps = march_steps(r, step_ratio)
  n = rays.origins.shape[0]

  @jax.jit
  def update(best, grid, origins, directions, near, far):
    weights, cells = march_weights(grid, origins, directions, near, far,
                                   bound, step, num_steps)
    cells = jnp.where(cells >= 0, cells, r**3)  # out of range: dropped
    return best.at[cells.reshape(-1)].max(weights.reshape(-1), mode="drop")

  best = jnp.zeros((r**3,), jnp.float32)
  grid_d = jnp.asarray(grid)
  for start in range(0, n, chunk):
    sl = slice(start, min(start + chunk, n))
    pad = chunk - (sl.stop - sl.start)
    take = lambda x: np.concatenate([x[sl], np.repeat(x[sl][-1:], pad, 0)]) \
        if pad else x[sl]
    best = update(best, grid_d, take(rays.origins), take(rays.directions),
                  take(rays.near)[:, 0], take(rays.far)[:, 0])
  return np.asarray(best).reshape(r, r, r)


def keep_blocks(cell_weights: np.ndarray, block_size: int,
                threshold: float) -> np.ndarray:
  """Blocks holding a cell whose max weight exceeds `threshold`:
  [G, G, G] bool."""
  r = cell_weights.shape[0]
  g = r // block_size
  per_block = cell_weights.reshape(g, block_size, g, block_size, g,
                                   block_size).max(axis=(1, 3, 5))
  return per_block > threshold


def seen_vertices(cell_weights: np.ndarray, threshold: float) -> np.ndarray:
  """Vertices [R + 1]^3 bool of a cell whose max weight exceeds `threshold`
  (each vertex is a corner of up to 8 cells)."""
  seen = np.pad(cell_weights > threshold, 1)
  r = cell_weights.shape[0]
  out = np.zeros((r + 1,) * 3, bool)
  for dx, dy, dz in np.ndindex(2, 2, 2):
    out |= seen[dx:dx + r + 1, dy:dy + r + 1, dz:dz + r + 1]
  return out


def cull_cells(scene: "BakedScene", cell_weights: np.ndarray,
               threshold: float) -> "BakedScene":
  """PlenOctrees' weight culling at cell level in a vertex grid: the density
  of every atlas vertex none of whose cells any training ray weighed above
  `threshold` is set to 0 (a cell is not dropped alone, since its corners
  are shared with its neighbours; a cell all of whose corners go has
  density 0, and the marcher skips it: render.live_cells).

  cell_weights: [R, R, R] max_ray_weights of the scene's grid.
  """
  b = scene.block_size
  keep = seen_vertices(cell_weights, threshold)
  blocks = np.argwhere(scene.block_index >= 0)
  rows = scene.block_index[tuple(blocks.T)]
  xi, yi, zi = block_vertex_indices(blocks, b)
  mask = keep[xi[:, :, None, None], yi[:, None, :, None],
              zi[:, None, None, :]]
  density = scene.density.copy()
  density[rows] = np.where(mask, density[rows], 0.0)
  return dataclasses.replace(scene, density=density)


def block_vertex_indices(blocks: np.ndarray, block_size: int):
  """Vertex indices along x, y, z of each block's (B + 1)^3 vertices.

  Args:
    blocks: [n, 3] int block coordinates.
  Returns:
    three [n, B + 1] int arrays.
  """
  span = np.arange(block_size + 1)
  return tuple(blocks[:, a, None] * block_size + span for a in range(3))


def block_points(blocks: np.ndarray, block_size: int, resolution: int,
                 bound: float) -> np.ndarray:
  """World positions [n, B + 1, B + 1, B + 1, 3] of the blocks' vertices."""
  v = vertex_coordinates(resolution, bound)
  xi, yi, zi = block_vertex_indices(blocks, block_size)
  shape = (len(blocks),) + (block_size + 1,) * 3
  x = np.broadcast_to(v[xi][:, :, None, None], shape)
  y = np.broadcast_to(v[yi][:, None, :, None], shape)
  z = np.broadcast_to(v[zi][:, None, None, :], shape)
  return np.stack([x, y, z], -1)


# Colour as SH ----------------------------------------------------------------


def fibonacci_directions(n: int) -> np.ndarray:
  """n nearly uniform unit directions [n, 3] (a Fibonacci lattice)."""
  i = np.arange(n) + 0.5
  z = 1 - 2 * i / n
  phi = np.pi * (1 + np.sqrt(5)) * i
  rho = np.sqrt(1 - z * z)
  return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], -1).astype(
      np.float32)


def logit(p: jax.Array, eps: float = 1e-3) -> jax.Array:
  p = jnp.clip(p, eps, 1 - eps)
  return jnp.log(p) - jnp.log1p(-p)


def project_to_sh(radiance_fn: Callable, points: jax.Array, degree: int,
                  num_directions: int) -> jax.Array:
  """SH coefficients [M, 3, K] whose sigmoid best fits (least squares on the
  logit) the radiance of points [M, 3] seen along `num_directions`
  directions.

  radiance_fn: (points [P, 3], dirs [P, 3]) -> rgb [P, 3].
  """
  dirs = jnp.asarray(fibonacci_directions(num_directions))
  basis = encoding.spherical_harmonics(dirs, degree)  # [D, K]
  m = points.shape[0]
  rgb = radiance_fn(jnp.repeat(points, num_directions, axis=0),
                    jnp.tile(dirs, (m, 1))).reshape(m, num_directions, 3)
  solve = jnp.linalg.pinv(basis)  # [K, D]
  return jnp.einsum("kd,mdc->mck", solve, logit(rgb))


def field_sh_coefficients(module, points: jax.Array):
  """`sh_coefficients(points)` of a model, or of its `field` submodule;
  None where neither has SH colour. Call through `model.apply`."""
  for owner in (module, getattr(module, "field", None)):
    fn = getattr(owner, "sh_coefficients", None)
    if fn is not None:
      return fn(points)
  return None


# The direction cache (FastNeRF) ---------------------------------------------


def direction_grid(rows: int) -> np.ndarray:
  """Unit directions [T, 2 T, 3] at theta = pi i / (T - 1) (from +z) and
  phi = 2 pi j / (2 T) - pi: the vertices of a FastNeRF cache's direction
  table (phi wraps around; every phi of the first and last rows is the
  same pole)."""
  theta = np.linspace(0.0, np.pi, rows)
  phi = np.arange(2 * rows) * (np.pi / rows) - np.pi
  st = np.sin(theta)[:, None]
  return np.stack([st * np.cos(phi), st * np.sin(phi),
                   np.broadcast_to(np.cos(theta)[:, None],
                                   (rows, 2 * rows))], -1).astype(np.float32)


def direction_lookup(table: jax.Array, dirs: jax.Array) -> jax.Array:
  """Bilinear interpolation in (theta, phi) of a direction table [T, P, K]
  at unit directions [M, 3]: [M, K] (exact at `direction_grid`'s
  vertices)."""
  rows, cols = table.shape[0], table.shape[1]
  theta = jnp.arccos(jnp.clip(dirs[:, 2], -1.0, 1.0))
  phi = jnp.arctan2(dirs[:, 1], dirs[:, 0])
  u = theta / np.pi * (rows - 1)
  v = (phi + np.pi) / (2 * np.pi) * cols
  i0 = jnp.clip(jnp.floor(u).astype(jnp.int32), 0, rows - 2)
  j0 = jnp.floor(v).astype(jnp.int32)
  fu = (u - i0)[:, None]
  fv = (v - j0)[:, None]
  j0 = j0 % cols
  j1 = (j0 + 1) % cols
  return ((1 - fu) * ((1 - fv) * table[i0, j0] + fv * table[i0, j1]) +
          fu * ((1 - fv) * table[i0 + 1, j0] + fv * table[i0 + 1, j1]))


def has_factorised_colour(model) -> bool:
  """Whether a model's colour is FastNeRF's (position components times
  direction weights): it bakes a FastNeRF cache."""
  return (callable(getattr(model, "position_components", None)) and
          callable(getattr(model, "direction_weights", None)))


def has_tiny_networks(model) -> bool:
  """Whether a model renders with KiloNeRF's tiny networks: its scene keeps
  them (and no colour grid)."""
  return callable(getattr(model, "tiny_networks", None))


NETWORK_SPEC = {"resolution": int, "layers": int, "pos_freqs": int,
                "dir_freqs": int, "bound": float}


def kept_networks(block_index: np.ndarray, block_size: int, bound: float,
                  net_resolution: int) -> np.ndarray:
  """[Gk^3] bool (x fastest, as kilo.cells_and_local numbers the cells and
  the networks), the network cells of a Gk^3 grid over
  [-bound, bound]^3 that overlap a kept block of `block_index` [G, G, G]
  (a sample in a kept block is always in one of them)."""
  g = block_index.shape[0]
  keep = np.zeros((net_resolution,) * 3, bool)
  for ijk in np.argwhere(block_index >= 0):
    # The block's extent in network cells, its faces pulled in by a
    # hair so that a face on a cell border does not claim the next cell.
    lo = np.floor(ijk / g * net_resolution + 1e-6).astype(int)
    hi = np.ceil((ijk + 1) / g * net_resolution - 1e-6).astype(int)
    keep[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
  return keep.reshape(-1, order="F")


def bake_networks(model, variables, block_index: np.ndarray,
                  block_size: int, bound: float):
  """(networks, network_index, network_spec) of BakedScene: the model's
  tiny networks whose cells overlap a kept block."""
  layers, spec = model.apply(variables, method="tiny_networks")
  spec = {k: kind(spec[k]) for k, kind in NETWORK_SPEC.items()}
  keep = kept_networks(block_index, block_size, bound, spec["resolution"])
  rows = np.flatnonzero(keep)
  index = np.full(keep.shape, -1, np.int32)
  index[rows] = np.arange(len(rows), dtype=np.int32)
  networks = {name: tuple(np.asarray(a, np.float32)[rows] for a in pair)
              for name, pair in layers.items()}
  return networks, index, spec


def bake_colour(model, variables, blocks: np.ndarray, resolution: int,
                bound: float, options: BakeOptions, log):
  """(sh [n, B + 1, B + 1, B + 1, 3, K] of the n kept blocks' vertices,
  the direction table or None): the field's own SH, a FastNeRF cache, or
  the radiance projected onto SH (the module doc's step 3)."""
  b, chunk = options.block_size, options.chunk
  points = block_points(blocks, b, resolution, bound).reshape(-1, 3)
  sh_fn = jax.jit(lambda p: model.apply(variables, p,
                                        method=field_sh_coefficients))
  probe = jax.eval_shape(sh_fn, jax.ShapeDtypeStruct((chunk, 3), jnp.float32))
  num_sh = encoding.sh_basis_size(options.sh_degree)
  table = None
  if has_factorised_colour(model):
    dirs = direction_grid(options.direction_resolution)
    weights_fn = jax.jit(lambda d: model.apply(variables, d,
                                               method="direction_weights"))
    table = evaluate_in_chunks(weights_fn, dirs.reshape(-1, 3), chunk)
    table = table.reshape(dirs.shape[:2] + (-1,)).astype(np.float32)
    num_sh = table.shape[-1]
    log(f"colour: the FastNeRF cache ({num_sh} components; directions on "
        f"a {dirs.shape[0]} x {dirs.shape[1]} grid)")
    sh_fn = jax.jit(lambda p: model.apply(variables, p,
                                          method="position_components"))
  elif probe is not None and probe.shape[-1] == num_sh:
    log(f"colour: the field's own SH (degree {options.sh_degree})")
  else:
    log(f"colour: radiance projected onto SH of degree {options.sh_degree} "
        f"from {options.projection_directions} directions")
    radiance = lambda p, d: model.apply(variables, p, d, method="radiance")
    sub = max(1, chunk // options.projection_directions)
    sh_fn = jax.jit(lambda p: project_to_sh(
        radiance, p, options.sh_degree, options.projection_directions))
    chunk = sub
  sh = evaluate_in_chunks(sh_fn, points, chunk)
  return sh.reshape((len(blocks),) + (b + 1,) * 3 + (3, num_sh)), table


# The bake --------------------------------------------------------------------


def bake(model, variables, rays, bound: float, white_bkgd: bool,
         method: str, step: int, options: BakeOptions = BakeOptions(),
         log: Callable[[str], None] = print) -> BakedScene:
  """Bakes a model's field (see the module doc).

  Args:
    model, variables: a method's Flax model and its variables.
    rays: training Rays [N] (host), for visibility culling.
    bound: the scene box [-bound, bound]^3.
    method, step: recorded in the file.
  """
  check_options(options)
  r, b, chunk = options.resolution, options.block_size, options.chunk
  # A model whose `density` is not what it renders (a student distilled
  # everywhere, rendered through its occupancy grid) says so.
  name = ("rendered_density" if callable(getattr(model, "rendered_density",
                                                  None)) else "density")
  density_fn = jax.jit(lambda p: model.apply(variables, p, method=name))
  grid = density_grid(density_fn, r, bound, chunk)
  log(f"density at {r + 1}^3 vertices: max {grid.max():.1f}")
  if options.density_threshold:
    grid[grid < options.density_threshold] = 0.0
    log(f"density below {options.density_threshold:g}: 0 at "
        f"{100 * np.mean(grid == 0):.1f}% of the vertices")
  stride = max(1, options.cull_ray_stride)
  culled = jax.tree.map(lambda x: x[::stride], rays)
  weights = max_ray_weights(grid, culled, bound, options.step_ratio)
  keep = keep_blocks(weights, b, options.cull_threshold)
  blocks = np.argwhere(keep)
  g = r // b
  log(f"culling with {culled.origins.shape[0]} rays: {len(blocks)} of "
      f"{g**3} blocks kept ({100 * len(blocks) / g**3:.2f}%), "
      f"{100 * np.mean(weights > options.cull_threshold):.2f}% of cells "
      "seen")
  check_memory(bake_memory_bytes(r, b, options.sh_degree,
                                 len(blocks) / g**3),
               f"the atlas of {len(blocks)} blocks", "--resolution")
  block_index = np.full((g, g, g), -1, np.int32)
  block_index[tuple(blocks.T)] = np.arange(len(blocks), dtype=np.int32)
  xi, yi, zi = block_vertex_indices(blocks, b)
  density = grid[xi[:, :, None, None], yi[:, None, :, None],
                 zi[:, None, None, :]]
  del grid
  if not options.cell_cull_threshold:
    del weights

  networks, index, spec, table = None, None, None, None
  if has_tiny_networks(model):
    networks, index, spec = bake_networks(model, variables, block_index, b,
                                          bound)
    sh = np.zeros(density.shape + (3, 0), np.float32)
    log(f"colour and density: {np.count_nonzero(index >= 0)} of "
        f"{spec['resolution']**3} tiny networks (their cells overlap a "
        "kept block); the grid is their occupancy")
  else:
    sh, table = bake_colour(model, variables, blocks, r, bound, options, log)
  scene = BakedScene(block_index=block_index, density=density,
                     sh=sh.astype(np.float32, copy=False),
                     bound=float(bound),
                     step_ratio=float(options.step_ratio),
                     white_bkgd=bool(white_bkgd), method=method,
                     step=int(step), direction_table=table,
                     networks=networks, network_index=index,
                     network_spec=spec)
  if options.cell_cull_threshold:
    scene = cull_cells(scene, weights, options.cell_cull_threshold)
    log(f"cell culling at {options.cell_cull_threshold:g}: "
        f"{100 * np.mean(scene.density == 0):.1f}% of the atlas' vertices "
        "at density 0")
  return scene


# Files -----------------------------------------------------------------------

_NET = "network/"  # prefix of the tiny networks' arrays in the file


def save(path: str, scene: BakedScene) -> int:
  """Writes the scene (float16 values, compressed) to `path`, atomically (a
  temporary name beside it, renamed when complete: a killed bake leaves
  no partial file under `path`); returns its size in bytes."""
  meta = dict(format=FORMAT, version=FORMAT_VERSION, bound=scene.bound,
              step_ratio=scene.step_ratio, white_bkgd=scene.white_bkgd,
              method=scene.method, step=scene.step)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  # The .npz suffix: np.savez appends it to names without one.
  extra = {}
  if scene.direction_table is not None:  # float32: it is small
    extra["direction_table"] = scene.direction_table.astype(np.float32)
  if scene.networks is not None:  # float32: weights, not samples
    meta["network_spec"] = scene.network_spec
    extra["network_index"] = scene.network_index
    for name, (kernel, bias) in scene.networks.items():
      extra[f"{_NET}{name}_kernel"] = kernel.astype(np.float32)
      extra[f"{_NET}{name}_bias"] = bias.astype(np.float32)
  with files.atomic_path(path, suffix=".npz") as tmp:
    np.savez_compressed(tmp, meta=np.asarray(json.dumps(meta)),
                        block_index=scene.block_index,
                        # float16's largest: opaque at any step anyway
                        density=np.minimum(scene.density, 65504.0).astype(
                            np.float16),
                        sh=scene.sh.astype(np.float16), **extra)
  return os.path.getsize(path)


# What np.load and json raise on a file that is not a complete baked scene:
# a truncated or foreign zip (BadZipFile, EOFError), a damaged member
# (zlib.error, BadZipFile's CRC check), a missing member (KeyError), bad
# JSON or a pickled/foreign array (ValueError), an unreadable file
# (OSError).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, KeyError,
               ValueError, OSError)
_META_FIELDS = {"bound": float, "step_ratio": float, "white_bkgd": bool,
                "method": str, "step": int}


def is_baked_file(path: str) -> bool:
  """Whether `path` is a regular file (not a link) holding a baked scene of
  this program's format (any version): bake.py may replace it."""
  if os.path.islink(path) or not os.path.isfile(path):
    return False
  try:
    with np.load(path, allow_pickle=False) as f:
      meta = json.loads(str(f["meta"]))
  except (*_UNREADABLE, AttributeError, TypeError):
    return False  # AttributeError/TypeError: a bare .npy array
  return isinstance(meta, dict) and meta.get("format") == FORMAT


def load(path: str, method: Optional[str] = None) -> BakedScene:
  """Reads a baked scene.

  Args:
    method: if given, the file must have been baked from this method.
  Raises:
    BakedFileError: missing or unreadable file, another format version,
      another method, arrays of inconsistent shapes.
  """
  if not os.path.isfile(path):
    raise BakedFileError(f"{path}: no baked scene; run bake.py first")
  try:
    f = np.load(path, allow_pickle=False)
    if not isinstance(f, np.lib.npyio.NpzFile):  # a bare .npy array
      raise ValueError("an array, not an .npz archive")
    with f:
      meta = json.loads(str(f["meta"]))
      arrays = {k: f[k] for k in ("block_index", "density", "sh")}
      table = f["direction_table"] if "direction_table" in f.files else None
      networks, index = None, None
      if isinstance(meta, dict) and "network_spec" in meta:
        index = f["network_index"]
        names = sorted({k[len(_NET):].rsplit("_", 1)[0] for k in f.files
                        if k.startswith(_NET)})
        networks = {n: (f[f"{_NET}{n}_kernel"], f[f"{_NET}{n}_bias"])
                    for n in names}
  except _UNREADABLE as e:
    message = str(e).splitlines()[0] if str(e) else ""
    raise BakedFileError(f"{path}: not a baked scene ({type(e).__name__}: "
                         f"{message})") from None
  if not isinstance(meta, dict):
    raise BakedFileError(f"{path}: not a baked scene (meta is not an "
                         "object)")
  if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
    raise BakedFileError(
        f"{path}: baked scene format {meta.get('format')} version "
        f"{meta.get('version')}, this jaxnerf reads {FORMAT} version "
        f"{FORMAT_VERSION}; bake it again with bake.py")
  for key, kind in _META_FIELDS.items():
    value = meta.get(key)
    if not isinstance(value, kind) and not (
        kind is float and isinstance(value, int) and
        not isinstance(value, bool)):
      raise BakedFileError(f"{path}: meta field {key!r} is {value!r}, not "
                           f"a {kind.__name__}")
  spec = meta.get("network_spec")
  if networks is not None:
    if not (isinstance(spec, dict) and all(
        isinstance(spec.get(k), (int, float)) and
        not isinstance(spec.get(k), bool) and
        (kind is float or isinstance(spec.get(k), int))
        for k, kind in NETWORK_SPEC.items())):
      raise BakedFileError(f"{path}: meta field 'network_spec' is {spec!r}, "
                           f"not ints and a number for {list(NETWORK_SPEC)}")
    spec = {k: kind(spec[k]) for k, kind in NETWORK_SPEC.items()}
  check_arrays(path, **arrays, direction_table=table,
               networks=networks is not None)
  if networks is not None:
    check_networks(path, networks, index, spec)
  if method is not None and meta["method"] != method:
    raise BakedFileError(f"{path}: baked from method {meta['method']!r}, but "
                         f"the config's method is {method!r}")
  return BakedScene(block_index=arrays["block_index"].astype(np.int32),
                    density=arrays["density"].astype(np.float32),
                    sh=arrays["sh"].astype(np.float32),
                    bound=float(meta["bound"]),
                    step_ratio=float(meta["step_ratio"]),
                    white_bkgd=bool(meta["white_bkgd"]),
                    method=str(meta["method"]), step=int(meta["step"]),
                    direction_table=None if table is None else
                    table.astype(np.float32),
                    networks=networks, network_spec=spec,
                    network_index=None if index is None else
                    index.astype(np.int32))


def check_networks(path: str, networks: dict, index: np.ndarray,
                   spec: dict) -> None:
  """Raises BakedFileError unless the tiny networks form one set: every
  kernel [n, in, out] with its bias [n, out], the same n for all, the
  index [Gk^3] of rows -1..n-1, and layers that chain from the spec's
  encodings to density and colour (kilo.shade traced on shapes only)."""
  n = {pair[0].shape[0] if pair[0].ndim == 3 else -1
       for pair in networks.values()}
  ok = (len(n) == 1 and min(n) >= 0 and all(
      k.ndim == 3 and b.shape == (k.shape[0], k.shape[2])
      for k, b in networks.values()) and spec["resolution"] >= 1 and
      index.ndim == 1 and index.size == spec["resolution"]**3 and
      np.issubdtype(index.dtype, np.integer))
  if ok and index.size:
    ok = index.min() >= -1 and index.max() < min(n)
  if ok:
    try:
      out = jax.eval_shape(
          lambda p, x: kilo.shade(p, x, spec["layers"], spec["pos_freqs"],
                                  spec["dir_freqs"]),
          networks, jax.ShapeDtypeStruct((min(n), 1, 6), jnp.float32))
      ok = out.shape == (min(n), 1, 4)
    except (KeyError, TypeError, ValueError, IndexError):
      ok = False
  if not ok:
    shapes = {k: (a.shape, b.shape) for k, (a, b) in networks.items()}
    raise BakedFileError(
        f"{path}: not a baked scene (tiny networks of inconsistent shapes: "
        f"{shapes}, index {index.shape}, spec {spec})")


def check_arrays(path: str, block_index: np.ndarray, density: np.ndarray,
                 sh: np.ndarray,
                 direction_table: Optional[np.ndarray] = None,
                 networks: bool = False) -> None:
  """Raises BakedFileError unless the arrays form one scene: block_index
  [G, G, G] of rows -1..n-1, density [n, B+1, B+1, B+1], sh [n, B+1, B+1,
  B+1, 3, K] with K a square (0: tiny networks colour the scene), or, with
  a direction table [T, 2 T, K] (a FastNeRF cache), any K."""
  n = density.shape[0] if density.ndim == 4 else -1
  side = density.shape[1] if density.ndim == 4 else -1
  k = sh.shape[-1] if sh.ndim == 6 else -1
  ok = (block_index.ndim == 3 and len(set(block_index.shape)) == 1 and
        np.issubdtype(block_index.dtype, np.integer) and
        n >= 0 and side >= 2 and density.shape[1:] == (side,) * 3 and
        sh.shape[:5] == (n,) + (side,) * 3 + (3,) and k >= 0)
  if direction_table is None:
    ok = ok and round(np.sqrt(k))**2 == k and (k >= 1 or networks)
  else:
    t = direction_table
    ok = ok and (t.ndim == 3 and t.shape[0] >= 2 and
                 t.shape[1] == 2 * t.shape[0] and t.shape[2] == k and
                 k >= 1)
  if ok and block_index.size:
    ok = (block_index.min() >= -1 and block_index.max() < n)
  if not ok:
    raise BakedFileError(
        f"{path}: not a baked scene (arrays of inconsistent shapes: "
        f"block_index {block_index.shape}, density {density.shape}, sh "
        f"{sh.shape}" + ("" if direction_table is None else
                         f", direction_table {direction_table.shape}") +
        ")")
