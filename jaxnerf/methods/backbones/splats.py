"""The Gaussian-splat backbone: 3D Gaussian Splatting (Kerbl et al.,
SIGGRAPH 2023) rasterised by jaxnerf/render/splatting.py, trained with
3DGS-MCMC (Kheradmand et al., NeurIPS 2024)'s relocation and noise.

Why MCMC and not the paper's clone/split/prune: those change the number of
Gaussians, so every change would recompile the step (or need padded pools
whose unused slots cost compute anyway). MCMC keeps a fixed count G from
the first step: every `splat_relocate_every` steps the Gaussians whose
opacity fell below `splat_min_opacity` move onto live ones drawn in
proportion to opacity, the pair's opacity and scale set so the rendered
image is nearly unchanged (their eq. 9), and every step adds noise to the
means scaled by each Gaussian's covariance and transparency (their SGLD
term). One compiled step, static shapes, no host round trip.

Image space: the model renders pixels of cameras (`render_pixels`). A
training batch is config.patch_size squares (each a view with its own tile
grid); a render hands it the tiles of one camera in tile-major order
(config.render_tile pixels a side; jaxnerf.engine.parallel.render_image).

Parameters (top level, so a checkpoint reads like a 3DGS PLY): means [G, 3],
log_scales [G, 3], quats [G, 4] (w, x, y, z), opacity_logits [G], sh_dc
[G, 1, 3] and sh_rest [G, (d + 1)^2 - 1, 3] (inria's layout and SH basis).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnerf.core import cameras as camera_lib
from jaxnerf.core import metrics
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding
from jaxnerf.methods import base
from jaxnerf.render import splatting

INITS = ("box", "frustum", "sfm")


def config_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.splat_count = 20_000  # G slots, fixed for the whole run (MCMC)
  # Slots in use at the start; each relocation grows them by splat_growth
  # (3DGS-MCMC's 5 %) up to splat_count. Unused slots are dead (opacity 0):
  # no tile lists them.
  c.splat_init_count = 5000
  c.splat_growth = 0.05
  # Initial means: "box" uniform in [-splat_box, splat_box]^3 (Blender),
  # "frustum" along random training rays between near and far (any posed
  # scene), "sfm" the training scene's sparse points (process_data.py).
  c.splat_init = "box"
  c.splat_box = 1.3
  c.splat_init_opacity = 0.1
  # Initial scale: this times the mean spacing of the splat_init_count
  # Gaussians in use at the start.
  c.splat_init_scale = 1.0
  c.splat_sh_degree = 3
  c.splat_sh_interval = 1000  # steps between SH bands switched on
  # Tile lists: "dense" (every tile tests every Gaussian's box in depth
  # order: no Gaussian is cut; cheaper on a CPU at these sizes) or "sort"
  # (one sort of tile/depth keys, a Gaussian in at most splat_max_tiles).
  c.splat_binning = "dense"
  c.splat_max_tiles = 32  # tiles one Gaussian may touch ("sort")
  c.splat_capacity = 256  # Gaussians per tile
  # Tiles binned at once (memory; 0: [tiles, slots] tests of ~2^22).
  c.splat_tiles_per_step = 64
  # Tiles composited in this many groups of similar list lengths, each
  # looping to its own longest list (1: every tile as long as the longest).
  c.splat_tile_groups = 8
  c.splat_ssim_weight = 0.2  # L1 (1 - w) + w D-SSIM
  # The screen-space low-pass filter (pixels^2): inria's 0.3 dilation, or
  # with splat_antialias Mip-Splatting's 2D filter (its 0.1) whose opacity
  # compensation keeps each Gaussian's integral (splatting.project).
  c.splat_low_pass = splatting.LOW_PASS
  c.splat_antialias = False
  # 3DGS-MCMC.
  c.splat_relocate_every = 100
  c.splat_relocate_start = 500
  c.splat_relocate_stop = 25_000
  c.splat_min_opacity = 0.005
  c.splat_max_copies = 51
  c.splat_noise_lr = 5e5
  c.splat_opacity_reg = 0.01
  c.splat_scale_reg = 0.01
  # Per-parameter learning rates (3DGS-MCMC's; the means' decay x10^-2).
  # The SH band 0 is the engine's lr_* group.
  for prefix, lr_init, lr_final in (("means_", 1.6e-4, 1.6e-6),
                                    ("scales_", 5e-3, 5e-3),
                                    ("rotations_", 1e-3, 1e-3),
                                    ("opacities_", 5e-2, 5e-2),
                                    ("sh_rest_", 1.25e-4, 1.25e-4)):
    for key, value in base.schedule_fields(prefix, lr_init, lr_final).items():
      c[key] = value
  # The means' rates (and the SGLD noise that follows them) are in units
  # of the scene's size: 0 is the training cameras' extent (3DGS's
  # spatial_lr_scale), set by train.py. One rate for every scene: the
  # lego's on a capture's unit-scale cameras was 4.6x too fast and lost
  # 4-6 dB (docs/BENCHMARKS.md, G54-G59).
  c.means_lr_scale = 0.0
  return c


ENGINE_DEFAULTS = dict(lr_init=2.5e-3, lr_final=2.5e-3, adam_b1=0.9,
                       adam_b2=0.999, adam_eps=1e-15, patch_size=96,
                       batch_size=96 * 96, max_steps=30_000, render_tile=16,
                       chunk=2**20)

PARAM_GROUPS = tuple(
    base.ParamGroup(name, prefix, base.match_prefix(param))
    for name, prefix, param in (("means", "means_", "means"),
                                ("scales", "scales_", "log_scales"),
                                ("rotations", "rotations_", "quats"),
                                ("opacities", "opacities_", "opacity_logits"),
                                ("sh_rest", "sh_rest_", "sh_rest")))


DEAD_LOGIT = -20.0  # an unused slot's opacity logit


def in_use(c, step) -> jax.Array:
  """[] int32 slots in use after `step` updates: splat_init_count, times
  1 + splat_growth at every relocation so far, at most splat_count."""
  step = jnp.asarray(step)
  events = jnp.clip(
      (jnp.minimum(step, c.splat_relocate_stop - 1) - c.splat_relocate_start)
      // c.splat_relocate_every + 1, 0, None)
  # (1 + 1e-6): 100 x 1.05 is 104.99999 in float32.
  grown = jnp.floor(c.splat_init_count * (1.0 + 1e-6) *
                    (1.0 + c.splat_growth) ** events.astype(jnp.float32))
  return jnp.minimum(grown, c.splat_count).astype(jnp.int32)


def check_config(c) -> None:
  if c.splat_init not in INITS:
    raise ConfigError(f"config.splat_init: {c.splat_init!r} is not one of "
                      f"{list(INITS)}")
  if c.splat_binning not in ("dense", "sort"):
    raise ConfigError(f"config.splat_binning: {c.splat_binning!r} is not "
                      "'dense' or 'sort'")
  if not 0 <= c.splat_sh_degree <= encoding.MAX_SH_DEGREE:
    raise ConfigError(f"config.splat_sh_degree: {c.splat_sh_degree} is not "
                      f"in 0..{encoding.MAX_SH_DEGREE}")
  if not 1 <= c.splat_init_count <= c.splat_count:
    raise ConfigError(f"config.splat_init_count: {c.splat_init_count} is not "
                      f"in 1..splat_count ({c.splat_count})")
  for field in ("splat_count", "splat_max_tiles", "splat_capacity",
                "splat_relocate_every", "splat_max_copies", "render_tile",
                "splat_tile_groups"):
    if c[field] < 1:
      raise ConfigError(f"config.{field}: must be at least 1, got "
                        f"{c[field]}")
  for field in ("splat_low_pass", "means_lr_scale"):
    if not c[field] >= 0:
      raise ConfigError(f"config.{field}: must be at least 0, got "
                        f"{c[field]}")
  if c.patch_size % c.render_tile:
    raise ConfigError(f"config.patch_size: {c.patch_size} is not a multiple "
                      f"of config.render_tile {c.render_tile}")


def initial_splats(c, scene: base.SceneInfo, key
                   ) -> tuple[jax.Array, jax.Array]:
  """[G, 3] starting means (see config_fields' splat_init) and [G, 3]
  starting colours in [0, 1]: with "sfm", each Gaussian's point's colour
  (inria's init); random where the points carry none or for the other
  inits."""
  g = c.splat_count
  k_means, k_colour = jax.random.split(key)
  random_colours = jax.random.uniform(k_colour, (g, 3))
  if c.splat_init == "sfm":
    if scene.points is None:
      if scene.training:
        raise ConfigError("config.splat_init: 'sfm' needs the scene's sparse "
                          "points (process_data.py's sparse_pc.ply or a "
                          "COLMAP model); this dataset has none: use "
                          "'frustum'")
    else:
      points = jnp.asarray(scene.points.xyz, jnp.float32)
      k1, k2 = jax.random.split(k_means)
      pick = jax.random.randint(k1, (g,), 0, points.shape[0])
      spread = jnp.std(points, axis=0) * 0.01
      colours = random_colours if scene.points.rgb is None else jnp.asarray(
          scene.points.rgb, jnp.float32)[pick]
      # Points drawn twice (G above the SfM count) must not coincide.
      return points[pick] + spread * jax.random.normal(k2, (g, 3)), colours
  if c.splat_init == "frustum" and scene.frustum is not None:
    return scene.frustum.sample(k_means, g), random_colours
  return jax.random.uniform(k_means, (g, 3), minval=-c.splat_box,
                            maxval=c.splat_box), random_colours


def _spacing(means: jax.Array, count: int) -> jax.Array:
  """[] the mean spacing of `count` points spread over the bounding box of
  means [G, 3]."""
  lo, hi = jnp.percentile(means, 2, axis=0), jnp.percentile(means, 98, axis=0)
  volume = jnp.prod(jnp.maximum(hi - lo, 1e-6))
  return jnp.cbrt(volume / count)


def pinhole_pixels(cameras, pixels: jax.Array, views: jax.Array
                   ) -> jax.Array:
  """Where the rays through a distorted camera's pixels cross its pinhole
  image plane (the pixels undistorted, in pixels): the EWA projection lives
  on that plane, so compositing there renders the lens exactly per pixel
  (each Gaussian's footprint stays the pinhole one, locally affine, as
  without distortion). pixels: [V, T, P, 2] of the cameras `views` [V]."""
  fx, fy, cx, cy = (getattr(cameras, f)[views][:, None, None]
                    for f in ("fx", "fy", "cx", "cy"))
  x, y = camera_lib.undistort((pixels[..., 0] - cx) / fx,
                              (pixels[..., 1] - cy) / fy,
                              cameras.distortion[views][:, None, None])
  return jnp.stack([cx + fx * x, cy + fy * y], -1).astype(pixels.dtype)


def band_weights(c, progress: Optional[base.Progress]) -> jax.Array:
  """[(d + 1)^2]: 1 for the SH bands switched on at `progress` (one more
  every splat_sh_interval steps), else 0."""
  d = c.splat_sh_degree
  degree = jnp.asarray(d) if progress is None else jnp.minimum(
      d, progress.step // c.splat_sh_interval)
  band = jnp.floor(jnp.sqrt(jnp.arange((d + 1)**2)))
  return (band <= degree).astype(jnp.float32)


class SplatModel(nn.Module, base.Composed):
  """G Gaussians and their rasteriser; the components' submodules beside."""

  config: Any
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()
  levels = ("",)

  def setup(self):
    c = self.config
    check_config(c)
    self.setup_components()
    g = c.splat_count
    # Per-image appearance (a component's colour_condition): a code ->
    # per-view gains and offsets of the Gaussians' colours, zero at the
    # start (the image's exposure and white balance, not the geometry).
    self.appearance_head = (nn.Dense(6, kernel_init=nn.initializers.zeros,
                                     name="appearance_head")
                            if self.parts_with("colour_condition") else None)

    # Means and band 0 come from one draw (a Gaussian takes its SfM point's
    # colour), made when the parameters are created; flax also runs the
    # initialisers for their shapes on every apply: zeros then.
    start = (initial_splats(c, self.scene, self.make_rng("params"))
             if self.is_initializing() else
             (np.zeros((g, 3), np.float32), np.zeros((g, 3), np.float32)))
    self.means = self.param("means", lambda key, s: start[0], (g, 3))

    def init_scales(key, shape):
      del key
      spacing = _spacing(jax.lax.stop_gradient(self.means),
                         c.splat_init_count)
      return jnp.full(shape, jnp.log(spacing * c.splat_init_scale))

    self.log_scales = self.param("log_scales", init_scales, (g, 3))
    self.quats = self.param(
        "quats", lambda key, s: jnp.tile(jnp.array([1.0, 0, 0, 0]),
                                         (s[0], 1)), (g, 4))
    o = c.splat_init_opacity
    self.opacity_logits = self.param(
        "opacity_logits", lambda key, s: jnp.where(
            jnp.arange(s[0]) < in_use(c, 0), np.log(o / (1 - o)),
            DEAD_LOGIT), (g,))
    # sh_colours' 0.5 + Y_0 sh_dc, Y_0 constant: band 0 renders the colour.
    self.sh_dc = self.param(
        "sh_dc", lambda key, s: ((start[1] - 0.5) / encoding._SH_C0)[:, None],
        (g, 1, 3))
    self.sh_rest = self.param(
        "sh_rest", nn.initializers.zeros,
        (g, encoding.sh_basis_size(c.splat_sh_degree) - 1, 3))

  def gaussians(self):
    """(means, covariances, opacities, sh [G, K, 3])."""
    return (self.means, splatting.covariances(self.log_scales, self.quats),
            nn.sigmoid(self.opacity_logits),
            jnp.concatenate([self.sh_dc, self.sh_rest], axis=1))

  def render_views(self, cameras, views: jax.Array, pixels: jax.Array,
                   origins: jax.Array, grids: jax.Array,
                   progress: Optional[base.Progress]):
    """Tiles of V views. views: [V] camera index; pixels [V, T, t^2, 2];
    origins [V, 2]; grids [V, 2] tiles a side. -> (maps [V, T, t^2, ...],
    stats)."""
    c = self.config
    means, covs, opacity, sh = self.gaussians()
    weights = band_weights(c, progress)
    affine = jnp.zeros((views.shape[0], 6))
    codes = self.colour_condition(views, views.shape[0], self.levels[-1])
    if self.appearance_head is not None and codes is not None:
      affine = self.appearance_head(codes)

    def view(cam, pix, origin, grid, affine):
      c2w = cameras.camtoworlds[cam]
      proj = splatting.project(
          means, covs, c2w, cameras.fx[cam], cameras.fy[cam],
          cameras.cx[cam], cameras.cy[cam], cameras.width[cam],
          cameras.height[cam], low_pass=c.splat_low_pass,
          antialias=c.splat_antialias)
      colours = splatting.sh_colours(means, sh, c2w[:, 3], c.splat_sh_degree,
                                     weights)
      colours = colours * jnp.exp(affine[:3]) + affine[3:]
      return splatting.render_tiles(
          proj, opacity, colours, pix, origin, grid[0], grid[1],
          c.render_tile, c.splat_max_tiles, c.splat_capacity,
          c.splat_tiles_per_step, c.splat_binning, c.splat_tile_groups)

    # One view at a time (lax.map, not vmap): vmap would batch the
    # compositing loops' conditions, a select on every carry at every step
    # and every view looping as long as the slowest.
    maps, stats = jax.lax.map(lambda args: view(*args),
                              (views, pixels, origins, grids, affine))
    return maps, jax.tree.map(jnp.sum, stats)

  def render_pixels(self, cameras, pixels, key, randomized, progress=None):
    """Training (randomized): pixels [N] are N / p^2 row-major p x p
    patches, one view each. Rendering (and test-time fits): N / t^2 tiles
    of one camera anywhere in it, each row-major, tile after tile
    (render_image's `tile` layout)."""
    del key
    c = self.config
    if cameras.ndc:
      raise ConfigError("config.llff_ndc: splats render pinhole cameras, "
                        "not NDC rays; set it to false")
    t = c.render_tile
    xy = pixels.xy
    cam = pixels.camera_index[:, 0]
    n = xy.shape[0]
    if randomized and c.patch_size:
      p = c.patch_size
      b, s = n // (p * p), p // t
      tiles = xy.reshape(b, s, t, s, t, 2).transpose(0, 1, 3, 2, 4, 5)
      tiles = tiles.reshape(b, s * s, t * t, 2)
      views = cam.reshape(b, p * p)[:, 0]
      origins = xy.reshape(b, p * p, 2)[:, 0] - 0.5
      grids = jnp.full((b, 2), s)
    elif self.is_initializing() and n % (t * t):
      # model.init's few pixels: the parameters exist after setup (and
      # the appearance head's after its first call).
      codes = self.colour_condition(cam[:1], 1, self.levels[-1])
      if self.appearance_head is not None and codes is not None:
        self.appearance_head(codes)
      zeros = jnp.zeros((n,))
      return [{"rgb": jnp.zeros((n, 3)),
               "depth": zeros, "acc": zeros}]
    else:
      if n % (t * t):
        raise ValueError(f"render_pixels: {n} pixels are not whole "
                         f"{t}x{t} tiles")
      tiles = xy.reshape(1, n // (t * t), t * t, 2)
      views = cam[:1]
      origins = jnp.zeros((1, 2))
      grids = jnp.stack([-(-cameras.width[views] // t),
                         -(-cameras.height[views] // t)], -1)
    if cameras.distorted:
      if c.splat_binning != "dense":
        raise ConfigError("config.splat_binning: 'sort' bins tiles of a "
                          "pinhole grid; these cameras have lens distortion, "
                          "set it to 'dense'")
      tiles = pinhole_pixels(cameras, tiles, views)
    maps, stats = self.render_views(cameras, views, tiles, origins, grids,
                                    progress)
    if randomized and c.patch_size:
      unpatch = lambda x: x.reshape((b, s, s, t, t) + x.shape[3:]).transpose(
          (0, 1, 3, 2, 4) + tuple(range(5, x.ndim + 2))).reshape(
              (n,) + x.shape[3:])
      maps = jax.tree.map(unpatch, maps)
    else:
      maps = jax.tree.map(lambda x: x.reshape((n,) + x.shape[3:]), maps)
    acc = maps["acc"]
    rgb = maps["rgb"]
    if c.white_bkgd:
      rgb = rgb + (1.0 - acc[:, None])
    out = {"rgb": rgb, "depth": maps["depth"], "acc": acc}
    if randomized and c.patch_size:
      # The layout, static in its shape, for the loss (D-SSIM on patches).
      out["patches"] = jnp.zeros((b, c.patch_size, c.patch_size, 0))
    if randomized:
      out["stats"] = {"tile_overflow": stats["overflow"].astype(jnp.float32),
                      "tiles_cut": stats["cut"].astype(jnp.float32),
                      "live": jnp.sum(nn.sigmoid(self.opacity_logits) >
                                      c.splat_min_opacity).astype(jnp.float32)}
    return [out]

  def __call__(self, rays, key, randomized: bool, progress=None):
    raise ValueError("the splat backbone renders pixels of cameras "
                     "(render_pixels), not rays")

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """[M]: the Gaussians' summed opacity-weighted kernels at points [M, 3]
    (a density-like field for exports; every Gaussian at every point)."""
    del progress
    means, covs, opacity, _ = self.gaussians()
    inv = jnp.linalg.inv(covs)

    def at(point):
      d = point - means
      return jnp.sum(opacity * jnp.exp(-0.5 * jnp.einsum(
          "gi,gij,gj->g", d, inv, d)))

    return jax.lax.map(at, points, batch_size=256)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """[M, 3]: the kernel-weighted mean colour of the Gaussians at points
    [M, 3] seen along unit directions [M, 3]."""
    c = self.config
    means, covs, opacity, sh = self.gaussians()
    inv = jnp.linalg.inv(covs)
    weights = band_weights(c, progress)

    def at(args):
      point, direction = args
      d = point - means
      w = opacity * jnp.exp(-0.5 * jnp.einsum("gi,gij,gj->g", d, inv, d))
      colours = splatting.sh_colours(means, sh, point - direction,
                                     c.splat_sh_degree, weights)
      return (w @ colours) / jnp.maximum(jnp.sum(w), 1e-10)

    return jax.lax.map(at, (points, viewdirs), batch_size=256)


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  """L1 (1 - w) + w D-SSIM on the patches (3DGS), and 3DGS-MCMC's opacity
  and scale regularisers."""
  c = config
  pred = outputs[-1]["rgb"]
  weight = rays.lossmult[..., 0]
  l1 = jnp.sum(weight * jnp.mean(jnp.abs(pred - rgb), -1)) / jnp.sum(weight)
  terms = {"l1": (1.0 - c.splat_ssim_weight) * l1}
  patches = outputs[-1].get("patches")  # absent: tiles (test-time fits)
  if c.splat_ssim_weight and patches is not None and patches.shape[1] >= 11:
    shape = patches.shape[:3] + (3,)
    # Pixels out of the loss (lossmult 0) match the target in D-SSIM too.
    seen = jnp.where(weight[:, None] > 0, pred, rgb)
    ssim = metrics.ssim(seen.reshape(shape), rgb.reshape(shape), clip=False)
    terms["dssim"] = c.splat_ssim_weight * (1.0 - jnp.mean(ssim))
  # Means over the Gaussians in use (3DGS-MCMC's count), not the slots:
  # unused ones (opacity ~0) would dilute the weights.
  opacity = nn.sigmoid(params["opacity_logits"])
  used = jax.lax.stop_gradient(opacity >= splatting.MIN_ALPHA)
  count = jnp.maximum(jnp.sum(used), 1.0)
  terms["opacity_reg"] = c.splat_opacity_reg * jnp.sum(
      jnp.where(used, opacity, 0.0)) / count
  terms["scale_reg"] = c.splat_scale_reg * jnp.sum(
      jnp.where(used[:, None], jnp.exp(params["log_scales"]), 0.0)) / (
          3 * count)
  return terms


# 3DGS-MCMC ---------------------------------------------------------------------


def relocation(opacity: jax.Array, copies: jax.Array, max_copies: int):
  """3DGS-MCMC's eq. 9: a Gaussian of opacity o split into N copies keeps
  its image when each copy has opacity 1 - (1 - o)^(1/N) and its scales
  times o / sum_{i=1}^{N} sum_{k=0}^{i-1} C(i-1, k) (-1)^k o'^(k+1) /
  sqrt(k + 1).

  Args:
    opacity: [G]; copies: [G] int N >= 1 (at most max_copies).
  Returns:
    (new opacity [G], scale factor [G]).
  """
  n = jnp.minimum(copies, max_copies).astype(jnp.float32)
  new = 1.0 - jnp.power(1.0 - opacity, 1.0 / n)
  k = np.arange(max_copies)
  binom = np.array([[math.comb(i, j) if j <= i else 0 for j in k]
                    for i in k], np.float64)
  coef = jnp.asarray(binom * (-1.0)**k / np.sqrt(k + 1.0), jnp.float32)
  powers = new[:, None] ** (k + 1.0)  # [G, K]
  inner = powers @ coef.T  # [G, i]: sum_k C(i, k) (-1)^k o'^(k+1)/sqrt(k+1)
  denom = jnp.sum(jnp.where(k[None] < n[:, None], inner, 0.0), -1)
  return new, opacity / denom


def reset_rows(tree, rows: jax.Array, num: int):
  """`tree` (an optimiser state) with rows [G] bool zeroed in every float
  leaf whose leading size is the Gaussians' count `num` (Adam's moments of
  the per-Gaussian parameters)."""

  def reset(x):
    if (hasattr(x, "shape") and x.ndim >= 1 and x.shape[0] == num and
        jnp.issubdtype(x.dtype, jnp.floating)):
      return jnp.where(rows.reshape((-1,) + (1,) * (x.ndim - 1)), 0.0, x)
    return x

  return jax.tree.map(reset, tree)


def relocate(c, params: dict, opt_state, step, key):
  """Dead Gaussians (opacity <= splat_min_opacity) of the slots in use
  after `step` (the newly used ones too) moved onto live ones drawn in
  proportion to opacity; sources and copies share the source's relocated
  opacity and scales; their Adam moments restart."""
  g = c.splat_count
  original = params
  logits = params["opacity_logits"]
  opacity = jax.nn.sigmoid(logits)
  alive = opacity > c.splat_min_opacity
  dead = ~alive & (jnp.arange(g) < in_use(c, step))
  # Sources in proportion to opacity, without replacement (Gumbel top-k)
  # while live ones last: 3DGS-MCMC draws with replacement, which piles
  # copies of the most opaque onto one spot, past a tile's static capacity.
  score = jnp.where(alive, jnp.log(jnp.maximum(opacity, 1e-12)) +
                    jax.random.gumbel(key, (g,)), -jnp.inf)
  ranked = jnp.argsort(-score)
  rank = jnp.cumsum(dead) - 1
  draw = ranked[rank % jnp.maximum(jnp.sum(alive), 1)]
  source = jnp.where(dead, draw, jnp.arange(g))
  copies = jnp.zeros(g, jnp.int32).at[draw].add(dead.astype(jnp.int32)) + 1
  new_opacity, factor = relocation(opacity, copies, c.splat_max_copies)
  moved = copies > 1
  new_opacity = jnp.clip(new_opacity, c.splat_min_opacity, 1.0 - 1e-6)
  params = dict(params)
  params["opacity_logits"] = jnp.where(
      moved, jnp.log(new_opacity) - jnp.log1p(-new_opacity), logits)
  params["log_scales"] = jnp.where(
      moved[:, None], params["log_scales"] + jnp.log(factor)[:, None],
      params["log_scales"])
  gathered = {k: v[source] if hasattr(v, "shape") and v.shape[:1] == (g,)
              else v for k, v in params.items()}
  reset = dead | moved
  ok = jnp.any(alive) & jnp.any(dead)
  keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new,
                                       old)
  return (keep(gathered, original),
          keep(reset_rows(opt_state, reset, g), opt_state))


def camera_extent(camtoworlds) -> float:
  """3DGS's cameras_extent of [C, 3, 4] cameras: 1.1 x their largest
  distance from their mean centre."""
  centres = np.asarray(camtoworlds, np.float64)[:, :3, 3]
  return 1.1 * float(np.max(np.linalg.norm(centres - centres.mean(0),
                                           axis=-1)))


def scene_fields(c, scene: base.SceneInfo) -> dict:
  """means_lr_scale from the training cameras (base.Method.scene_fields)."""
  del c
  extent = camera_extent(scene.frustum.cameras.camtoworlds)
  if not extent > 0:
    raise ConfigError("config.means_lr_scale: the training cameras share one "
                      "centre, so the scene has no extent to scale the means' "
                      "rate by; set it")
  return {"means_lr_scale": extent}


def add_noise(c, params: dict, key, means_lr) -> dict:
  """3DGS-MCMC's SGLD term: means += lr_means * noise_lr * s(o) * Sigma eps,
  s(o) = sigmoid(100 ((1 - o) - 0.995)): transparent Gaussians explore,
  opaque ones stay. The step is the covariance (length^2) times the means'
  rate, which is in units of the scene's extent (means_lr_scale): the
  lego's rate on a capture's unit-scale cameras made it 4.6x too large and
  flung Gaussians out of the scene (docs/BENCHMARKS.md, G54-G59)."""
  opacity = jax.nn.sigmoid(params["opacity_logits"])
  covs = splatting.covariances(params["log_scales"], params["quats"])
  eps = jax.random.normal(key, params["means"].shape)
  gate = jax.nn.sigmoid(100.0 * ((1.0 - opacity) - 0.995))
  noise = jnp.einsum("gij,gj->gi", covs, eps) * (
      means_lr * c.splat_noise_lr * gate)[:, None]
  return {**params, "means": params["means"] + noise}


def after_step(c, params, opt_state, step, key, learning_rate):
  """The train step's edit after each update (base.Method.after_step)."""
  key_move, key_noise = jax.random.split(key)
  due = ((step % c.splat_relocate_every == 0) &
         (step >= c.splat_relocate_start) & (step < c.splat_relocate_stop))
  params, opt_state = jax.lax.cond(
      due, lambda a: relocate(c, a[0], a[1], step, key_move), lambda a: a,
      (params, opt_state))
  if c.splat_noise_lr:
    params = add_noise(c, params, key_noise, learning_rate("means_"))
  return params, opt_state


BACKBONE = base.Backbone(
    name="splats",
    fields=config_fields,
    build=lambda config, scene, components: SplatModel(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    engine_defaults=ENGINE_DEFAULTS,
    outputs={"rgb": "rgb", "depth": "depth", "acc": "opacity"},
    image_space=True,
    param_groups=PARAM_GROUPS,
    after_step=after_step,
    scene_fields=scene_fields,
)
