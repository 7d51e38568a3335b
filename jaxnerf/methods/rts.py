"""RtS (Cole et al., ICCV 2021), "rasterize then splat", as a surface NeRF:
the SDF backbone's field (jaxnerf/methods/backbones/sdf.py: hash grid,
geometric sphere init, colour from features, normal and view direction)
rendered from its surface points only, one field evaluation (with its
gradient) per surface layer instead of NeuS's 48 samples a ray.

Image space (`render_pixels`): the splats need each pixel's neighbours,
so a batch is square patches of whole pixels (`patch_size`) and a render
is tiles (`render_tile`). For a tile of T x T pixels the model casts the
rays of the tile and a one-pixel apron, (T + 2)^2 of them, finds each
ray's first `rts_layers` crossings of f = 0 (no gradient), re-attaches the
points to the field (x = x0 - f g / |g|^2), shades them at the re-attached
points, projects them into the camera and splats them depth-aware into the
tile (jaxnerf/render/rts.py). Per pixel: rgb over the background, depth
(coverage times camera z, the engine's unnormalised form), acc (the
coverage), normal ((n + 1) / 2, as NeuS's) and the Eikonal term of its
surface points and of `rts_free_points` random points on its ray.

A surface renderer learns geometry only where surfaces are seen (the
colour's derivative through the re-attached points, the silhouettes'
through the splats); from the init sphere it cannot make a surface where
none is visible. So training starts volumetric: for the first
`rts_volume_fraction` of training the same patches are rendered by NeuS
(the backbone's own renderer), then by RtS; renders (eval.py, videos) are
always RtS. `rts_volume_fraction = 0` is RtS alone from the sphere.

`export.py mesh` extracts the zero level set (the backbone's `sdf`).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf.core import cameras as cameras_lib
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.methods.backbones import sdf
from jaxnerf.render import neus, rts


def config_fields():
  c = sdf.config_fields()
  # Surface layers per pixel: 1 is the visible surface alone (every splat
  # then lands in one buffer: no occlusion reasoning); 2 adds the surface
  # behind it, which the paper's depth-aware splatting needs to tell a
  # neighbour's splat in front from one behind.
  c.rts_layers = 2
  # The fraction of training rendered by NeuS before RtS takes over.
  c.rts_volume_fraction = 0.25
  # Random points per ray (in its stretch of the box) for the Eikonal
  # term while RtS trains: the surface points alone leave f unconstrained
  # away from the surface, where the search reads it.
  c.rts_free_points = 1
  return c


# 3 patches of 20 x 20 a step (the apron makes (22 / 20)^2 = 1.21 rays a
# pixel); renders in 20-pixel tiles (the 100-pixel lego in 25 of them).
ENGINE_DEFAULTS = dict(sdf.ENGINE_DEFAULTS, batch_size=1200, patch_size=20,
                       render_tile=20)


def check_config(config) -> None:
  """One-line errors for settings RtS cannot render (and the backbone's)."""
  sdf.check_config(config)
  if config.background != "none":
    raise ConfigError(
        f"config.background: {config.background!r}: RtS splats the SDF's "
        "surface points only (no background model); set "
        "--config.background=none")
  base.check_integer_fields(config, (("rts_layers", 1),
                                     ("rts_free_points", 0)))
  if not 0.0 <= config.rts_volume_fraction <= 1.0:
    raise ConfigError("config.rts_volume_fraction: must be in [0, 1], got "
                      f"{config.rts_volume_fraction}")
  if config.render_tile < 1:
    raise ConfigError("config.render_tile: RtS splats into tiles of whole "
                      f"pixels; must be at least 1, got {config.render_tile}")
  if config.patch_size < 1:
    raise ConfigError("config.patch_size: RtS trains on patches of whole "
                      f"pixels; must be at least 1, got {config.patch_size}")
  if config.get("patch_stride", 1) != 1:
    raise ConfigError("config.patch_stride: RtS splats into neighbouring "
                      f"pixels; must be 1, got {config.patch_stride}")
  if config.surface_rendering != "neus":
    raise ConfigError("config.surface_rendering: RtS trains first with "
                      "NeuS's volume rendering; must be 'neus', got "
                      f"{config.surface_rendering!r}")


class RtSModel(sdf.SDFModel):
  """The SDF field rendered by RtS in image space (see the module doc)."""

  def setup(self):
    check_config(self.config)
    super().setup()

  def _surface_tiles(self, cameras, corners: jax.Array, views: jax.Array,
                     size: int, key: jax.Array, randomized: bool):
    """RtS's render of B tiles of size x size pixels.

    Args:
      corners: [B, 2] each tile's top-left corner (pixel units);
      views: [B] its camera.
    Returns:
      maps {name: [B * size^2, ...]} row-major in each tile, tile after
      tile; stats.
    """
    c = self.config
    b, block, layers = corners.shape[0], size + 2, c.rts_layers
    # The tile's pixels and a one-pixel apron (block pixel i is tile pixel
    # i - 1), row-major.
    offsets = jnp.arange(block, dtype=jnp.float32) - 0.5
    grid = jnp.stack(jnp.meshgrid(offsets, offsets, indexing="xy"), -1)
    xy = (corners[:, None, None] + grid).reshape(-1, 2)
    index = jnp.repeat(views, block * block)[:, None]
    rays = cameras_lib.cast_rays(cameras, cameras_lib.Pixels(
        xy=xy, camera_index=index, lossmult=jnp.ones_like(xy[:, :1])))
    origins, directions = rays.origins, rays.directions
    t_min, t_max = sdf.box_interval(rays, c.scene_bound)

    def sdf_at(t):
      points = origins[:, None] + t[..., None] * directions[:, None]
      return self.field.geometry(points.reshape(-1, 3))[0].reshape(t.shape)

    hit, t_s = rts.surface_search(sdf_at, t_min, t_max, c.root_samples,
                                  layers, c.secant_steps)
    x0 = (origins[:, None] + t_s[..., None] * directions[:, None]
          ).reshape(-1, 3)
    f0, g0, _ = neus.with_gradient(self.field.geometry, x0)
    points = rts.reattach(x0, f0, g0)
    dirs = jnp.repeat(rays.viewdirs, layers, axis=0)
    _, grad, rgb = self.field(points, dirs)
    unit = grad / jnp.maximum(jnp.linalg.norm(grad, axis=-1, keepdims=True),
                              1e-8)

    def project(cam, corner, x):
      pix, z = cameras_lib.project_points(cam.camtoworlds, cam.fx, cam.fy,
                                          cam.cx, cam.cy, x)
      return pix - corner + 1.0, z  # the block's frame

    cams = jax.tree.map(lambda a: a[views], cameras)
    pix, z = jax.vmap(project)(cams, corners, points.reshape(b, -1, 3))
    to_block = lambda a: jnp.moveaxis(
        a.reshape((b, block, block, layers) + a.shape[2:]), 3, 1)
    # Each point carries its colour, depth and normal (ray-major, then
    # layer, as the points).
    values = to_block(jnp.concatenate(
        [rgb, z.reshape(-1, 1), (unit + 1.0) * 0.5], -1).reshape(b, -1, 7))
    valid = to_block(hit.reshape(b, -1).astype(jnp.float32))
    z = to_block(z)
    matched = jnp.where(valid > 0, jax.lax.stop_gradient(z), rts.EMPTY_DEPTH)
    out = jax.vmap(rts.splat)(to_block(pix), matched, values, valid)
    out = out.reshape(b * size * size, 8)
    acc = out[:, 7]
    background = 1.0 if c.white_bkgd else 0.0
    inner = lambda a: a.reshape((b, block, block) + a.shape[1:])[
        :, 1:-1, 1:-1].reshape((b * size * size,) + a.shape[1:])
    # The Eikonal term of each pixel's surface points (and free points).
    eik = inner((neus.eikonal(grad) * hit.reshape(-1)).reshape(-1, layers))
    count = inner(hit.astype(jnp.float32))
    eik, count = jnp.sum(eik, -1), jnp.sum(count, -1)
    if randomized and c.rts_free_points:
      lo, hi = inner(t_min), inner(t_max)
      u = jax.random.uniform(key, (lo.shape[0], c.rts_free_points))
      t = lo[:, None] + (hi - lo)[:, None] * u
      free = (inner(origins)[:, None] + t[..., None] *
              inner(directions)[:, None]).reshape(-1, 3)
      _, g_free, _ = neus.with_gradient(self.field.geometry, free)
      inside = (hi > lo).astype(jnp.float32)
      eik = eik + inside * jnp.sum(
          neus.eikonal(g_free).reshape(-1, c.rts_free_points), -1)
      count = count + inside * c.rts_free_points
    maps = dict(rgb=out[:, :3] + (1.0 - acc[:, None]) * background,
                depth=out[:, 3], acc=acc, normal=out[:, 4:7],
                eikonal=eik / jnp.maximum(count, 1.0))
    return maps, jnp.mean(inner(hit[:, 0].astype(jnp.float32)))

  def _volume_pixels(self, cameras, pixels, key, progress):
    """NeuS's render of the pixels [N] (the volumetric start); its
    `surface_hits` stat is -1 (no surface search in this phase)."""
    rays = cameras_lib.cast_rays(cameras, pixels)
    out = sdf.SDFModel.__call__(self, rays, key, True, progress)[0]
    return ({k: out[k] for k in ("rgb", "depth", "acc", "normal",
                                 "eikonal")},
            jnp.asarray(-1.0, jnp.float32))

  def render_pixels(self, cameras, pixels, key, randomized, progress=None):
    """Training (randomized, patch_size p): pixels [N] are N / p^2
    row-major p x p patches of one camera each. Rendering: N / t^2 tiles
    (render_tile t), each row-major, tile after tile (render_image's
    `tile` layout)."""
    c = self.config
    if cameras.ndc or cameras.distorted:
      raise ConfigError("config.llff_ndc: RtS projects its surface points "
                        "into pinhole cameras without NDC or distortion")
    cameras = jax.tree.map(jnp.asarray, cameras)
    size = c.patch_size if randomized else c.render_tile
    n = pixels.xy.shape[0]
    count = n
    if n % (size * size):
      if not self.is_initializing():
        raise ValueError(f"render_pixels: {n} pixels are not whole "
                         f"{size}x{size} tiles")
      # model.init's few pixels: one tile from the first.
      count = size * size
    views = pixels.camera_index[::size * size, 0]
    corners = pixels.xy[::size * size] - 0.5
    key_surface, key_volume = jax.random.split(key)
    surface = lambda mdl: mdl._surface_tiles(cameras, corners, views, size,
                                             key_surface, randomized)
    if randomized and c.rts_volume_fraction > 0 and count == n:
      volume = (progress.fraction < c.rts_volume_fraction
                if progress is not None else jnp.asarray(False))
      maps, hits = nn.cond(
          volume,
          lambda mdl: mdl._volume_pixels(cameras, pixels, key_volume,
                                         progress),
          surface, self)
    else:
      volume = jnp.asarray(False)
      maps, hits = surface(self)
    if count != n:
      maps = jax.tree.map(lambda a: a[:n], maps)
    eps = 1e-10
    disp = maps["acc"] / jnp.maximum(maps["depth"], eps)
    maps["disp"] = jnp.where((disp > 0) & (maps["acc"] > eps), disp, 1 / eps)
    maps["stats"] = dict(inv_s=self.field.inv_s(),
                         volume_rendering=volume.astype(jnp.float32),
                         surface_hits=hits)
    return [maps]

  def __call__(self, rays, key, randomized, progress=None):
    raise ValueError("RtS renders pixels of cameras (render_pixels), not "
                     "rays")


BACKBONE = dataclasses.replace(
    sdf.BACKBONE, fields=config_fields, image_space=True,
    engine_defaults=ENGINE_DEFAULTS,
    build=lambda config, scene, components: RtSModel(
        config=config, scene=scene, components=components))

METHOD = base.compose("rts", {"sdf": BACKBONE})
