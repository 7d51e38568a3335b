"""Reflectance under a known light: Neural Reflectance Fields (Bi et al.
2020), for a backbone that calls the `shade` hook of
jaxnerf.methods.base.

Instead of a view-dependent colour, each sample has a material, read from
the field's features by a small head: base colour (albedo), roughness and
a unit normal (predicted, as in the paper). Its radiance towards the
camera is the microfacet BRDF (jaxnerf/render/brdf.py) times the light's
radiant intensity over the squared distance, times the cosine at the
surface and the transmittance from the light to the sample:

  L_i = T_light(x_i) I / |x_l - x_i|^2 f(n_i, v, l) (n_i . l)^+

An environment (SH of degree 2 in the light vector) adds the diffuse
lobe under its irradiance and a Fresnel-weighted mirror term, without
occlusion (`environment`: the paper lights by point lights only).

With the light at the camera (the paper's training setting: a flash),
the light's path is the camera ray's, so T_light(x_i) is the camera
transmittance T_i the compositing already has. A light elsewhere (a test
view) sends one shadow ray per camera ray, from the ray's expected
surface point towards the light through the field's density
(`shadow_samples` steps inside the scene box), shared by the ray's
samples: the paper marches one per sample; near a surface those agree.

Radiance is linear; the images are sRGB (Blender's Standard view
transform: the OETF of the radiance clipped at 1), so each sample's colour
is the sRGB of its radiance before compositing (a surface's samples are
within a few steps of each other). The rays' lights come from the data
(`Rays.light`, jaxnerf/core/lighting.py); where the data names none (a
render path) a flash of `light_intensity` at the camera is used.

Outputs besides the relit colour: albedo (the composited base colour),
roughness and the normal (shown as n / 2 + 1/2). Ref-NeRF's orientation
loss (`orientation_mult`) keeps normals facing the camera where there is
density.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core import lighting
from jaxnerf.core.rays import Rays
from jaxnerf.methods import base
from jaxnerf.methods.components import visibility
from jaxnerf.render import brdf

SHADOW_OFFSET = 0.03  # leave the surface before marching to the light


def reflectance_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.reflectance_layers = 2
  c.reflectance_width = 64
  # W/sr of the flash of views the data gives no light (a render path):
  # the generator's flash (a white surface at distance 4 shows its albedo).
  c.light_intensity = 16.0 * 3.141592653589793
  c.shadow_samples = 64
  c.orientation_mult = 0.1
  # Ref-NeRF's tie of the predicted normals to the density's: the squared
  # difference from the finite-difference gradient normal (a tetrahedron
  # of 4 density reads `normal_fd_step` apart, NeuS2's), on the first
  # `normal_tie_samples` samples of a batch (0: off).
  c.normal_tie_mult = 0.0
  c.normal_tie_samples = 8192
  c.normal_fd_step = 0.01
  # Geometry first: for this fraction of training the colour is blended
  # from the backbone's own view-dependent colour into the shaded one
  # (linearly; 0: shaded from the start, the paper's).
  c.reflectance_warmup = 0.0
  # NeRV's visibility of environments (components/visibility.py).
  c.update(visibility.visibility_fields())
  return c


def linear_to_srgb(x: jax.Array) -> jax.Array:
  """sRGB OETF of linear values, clipped to [0, 1] first (Blender's
  Standard view transform)."""
  x = jnp.clip(x, 0.0, 1.0)
  safe = jnp.maximum(x, 0.0031308)
  return jnp.where(x <= 0.0031308, 12.92 * x,
                   1.055 * safe ** (1.0 / 2.4) - 0.055)


TETRAHEDRON = ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0),
               (1.0, 1.0, 1.0))


def gradient_normals(density_fn: Callable[[jax.Array], jax.Array],
                     points: jax.Array, step: float) -> jax.Array:
  """[M, 3] unit normals -grad(density) / |grad| at points [M, 3], by
  finite differences on a regular tetrahedron's corners v_k, `step` from
  each point (4 reads, not central differences' 6): the sum of v_k
  density(x + step v_k) is 4 step grad plus a step^2 term of the Hessian's
  off-diagonal, so the direction is first-order accurate."""
  v = jnp.asarray(TETRAHEDRON)
  sigma = density_fn((points[:, None] + step * v[None]).reshape(-1, 3))
  grad = jnp.sum(sigma.reshape(-1, 4, 1) * v[None], axis=1)
  return -grad / jnp.maximum(jnp.linalg.norm(grad, axis=-1, keepdims=True),
                             1e-9)


def box_exit(points: jax.Array, dirs: jax.Array, bound: float) -> jax.Array:
  """[N] distance from points [N, 3] (inside) along unit dirs [N, 3] to
  the faces of the box [-bound, bound]^3."""
  safe = jnp.where(jnp.abs(dirs) < 1e-9, 1e-9, dirs)
  far = (jnp.sign(safe) * bound - points) / safe
  return jnp.maximum(jnp.min(far, axis=-1), 0.0)


def shadow_transmittance(density_fn: Callable[[jax.Array], jax.Array],
                         surface: jax.Array, light_pos: jax.Array,
                         bound: float, steps: int) -> jax.Array:
  """[N] transmittance from points [N, 3] to lights at [N, 3] through
  `density_fn` (world points [M, 3] -> [M]), `steps` midpoint steps from
  SHADOW_OFFSET past the point to the light or the box's face."""
  to_light = light_pos - surface
  dist = jnp.linalg.norm(to_light, axis=-1)
  dirs = to_light / jnp.maximum(dist, 1e-9)[:, None]
  end = jnp.minimum(dist, box_exit(jnp.clip(surface, -bound, bound), dirs,
                                   bound))
  length = jnp.maximum(end - SHADOW_OFFSET, 0.0)
  s = SHADOW_OFFSET + (jnp.arange(steps) + 0.5)[None] / steps * length[:, None]
  points = surface[:, None] + s[..., None] * dirs[:, None]
  sigma = density_fn(points.reshape(-1, 3)).reshape(s.shape)
  return jnp.exp(-jnp.sum(sigma, axis=-1) * length / steps)


def environment(normal, view, albedo, sh):
  """[M, 3] radiance towards `view` of surfaces [M] under environments
  given by SH [M, 9, 3], without occlusion (the paper lights by point
  lights; NeRV's point is what this misses): the diffuse lobe under the
  SH irradiance, weighted by what the specular surface lets through, plus
  Schlick's dielectric Fresnel times the environment in the mirror
  direction (degree 2 is already as blurred as a rough lobe)."""
  n_dot_v = jnp.clip(jnp.sum(normal * view, -1, keepdims=True), 0.0, 1.0)
  fresnel = brdf.fresnel_schlick(n_dot_v, brdf.DIELECTRIC_F0)
  mirror = 2.0 * n_dot_v * normal - view
  diffuse = (1.0 - fresnel) * albedo / jnp.pi * lighting.sh_irradiance(
      sh, normal)
  return jnp.maximum(diffuse + fresnel * lighting.sh_radiance(sh, mirror),
                     0.0)


class Reflectance(nn.Module):
  """The component's submodule: the material head."""

  config: Any
  levels: tuple[str, ...]

  def setup(self):
    if self.config.visibility_directions > 0:
      self.visibility = visibility.Visibility(self.config)

  @nn.compact
  def materials(self, feats: jax.Array):
    """albedo [M, 3], roughness [M], unit normal [M, 3] from features."""
    c = self.config
    h = feats
    for i in range(c.reflectance_layers):
      h = nn.relu(nn.Dense(c.reflectance_width, name=f"material_{i}")(h))
    out = nn.Dense(7, name="material_out")(h)
    normal = out[:, 4:7]
    normal = normal / jnp.maximum(
        jnp.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    return nn.sigmoid(out[:, :3]), nn.sigmoid(out[:, 3]), normal

  def shade(self, level: str, feats: jax.Array, t: jax.Array,
            ray_ids: jax.Array, rays: Rays, layout: base.SampleLayout,
            density: jax.Array,
            density_fn: Callable[[jax.Array], jax.Array],
            field_colour: Callable[[], jax.Array],
            progress: Optional[base.Progress]):
    """(sRGB colour [M, 3], per-sample maps to composite) of a level's
    samples, or None on levels other than the last. `field_colour()`: the
    backbone's own colour of the samples (the warm-up's)."""
    if level != self.levels[-1]:
      return None
    c = self.config
    light = lighting.resolve(rays.light, rays.origins, c.light_intensity)
    at = lambda per_ray: layout.to_samples(per_ray)
    points = at(rays.origins) + t[:, None] * at(rays.directions)
    light_pos = at(lighting.position(light))
    to_light = light_pos - points
    dist2 = jnp.maximum(jnp.sum(to_light ** 2, axis=-1), 1e-6)
    l = to_light / jnp.sqrt(dist2)[:, None]
    v = -at(rays.viewdirs)
    albedo, roughness, normal = self.materials(feats)
    radiance = (brdf.reflected(normal, v, l, albedo, roughness) *
                at(lighting.intensity(light)) / dist2[:, None])
    camera_t, weights = layout.weights(density)
    flash = lighting.collocated(light)
    depth = layout.ray_sum(weights * t) / jnp.maximum(
        layout.ray_sum(weights), 1e-6)
    # Each ray's expected surface, where its light rays start.
    surface = rays.origins + depth[:, None] * rays.directions

    def shadows():
      return shadow_transmittance(
          density_fn, surface, lighting.position(light),
          c.scene_bound, c.shadow_samples)

    # Rays without a point light (an environment alone) need no shadows.
    unlit = jnp.all(lighting.intensity(light) <= 0.0, axis=-1)
    light_t = jax.lax.cond(jnp.all(flash | unlit),
                           lambda: jnp.ones_like(flash, jnp.float32), shadows)
    light_t = jnp.where(at(flash), camera_t, at(light_t))
    sh = lighting.environment_sh(light)  # [N, 9, 3]
    maps = {}
    if c.visibility_directions > 0:
      dirs = visibility.sphere_directions(c.visibility_directions)
      # V learns from its supervision alone (components/visibility.py).
      fixed = jax.lax.stop_gradient(surface)
      # (Before the cond: V's parameters exist in both of its branches.)
      maps["visibility_error"] = at(self.visibility_error(
          fixed, dirs, density_fn))[:, None]

      def seen(module, sh):
        visible = jax.lax.stop_gradient(module.visibility(fixed, dirs))
        return visibility.visible_sh(sh, visible, dirs)

      # Read V only where a ray has an environment (not under a flash).
      sh = nn.cond(jnp.any(lighting.has_environment(light)), seen,
                   lambda module, sh: sh, self, sh)
    radiance = radiance * light_t[:, None] + at(
        lighting.has_environment(light))[:, None] * environment(
            normal, v, albedo, at(sh))
    rgb = linear_to_srgb(radiance)
    if c.reflectance_warmup > 0:
      mix = (1.0 if progress is None else
             jnp.clip(progress.fraction / c.reflectance_warmup, 0.0, 1.0))
      rgb = mix * rgb + (1.0 - mix) * field_colour()
    facing = jnp.maximum(jnp.sum(normal * at(rays.viewdirs), -1), 0.0) ** 2
    maps.update({"albedo": albedo, "roughness": roughness[:, None],
                 "normal": normal * 0.5 + 0.5,
                 "orientation": facing[:, None]})
    if c.normal_tie_mult > 0:
      k = min(c.normal_tie_samples, points.shape[0])
      tied = gradient_normals(density_fn, points[:k], c.normal_fd_step)
      err = jnp.sum((normal[:k] - tied) ** 2, axis=-1)
      maps["normal_tie"] = jnp.concatenate(
          [err, jnp.zeros(points.shape[0] - k, err.dtype)])[:, None]
    return rgb, maps

  def visibility_error(self, surface: jax.Array, dirs: jax.Array,
                       density_fn: Callable[[jax.Array], jax.Array]
                       ) -> jax.Array:
    """[N] mean squared error of V at the first `visibility_rays` surface
    points [N, 3] in directions [K, 3] against the transmittance marched
    through the density (0 for the other rays)."""
    c = self.config
    r, k = min(c.visibility_rays, surface.shape[0]), dirs.shape[0]
    points = jnp.repeat(surface[:r], k, 0)
    # Far enough that the box's face ends every march.
    far = points + jnp.tile(dirs, (r, 1)) * (4.0 * c.scene_bound)
    target = jax.lax.stop_gradient(shadow_transmittance(
        density_fn, points, far, c.scene_bound,
        c.visibility_steps)).reshape(r, k)
    err = jnp.mean((self.visibility(surface[:r], dirs) - target) ** 2, -1)
    return jnp.concatenate([err, jnp.zeros(surface.shape[0] - r)])

  def headlight(self, feats: jax.Array, viewdirs: jax.Array) -> jax.Array:
    """sRGB colour [M, 3] seen along unit viewdirs [M, 3] under a light at
    the eye bringing unit irradiance (pi f (n . v)^+: a white diffuse
    surface facing it shows white): the field interface's radiance
    (exports, the viewer), which knows no camera position."""
    albedo, roughness, normal = self.materials(feats)
    v = -viewdirs
    return linear_to_srgb(jnp.pi * brdf.reflected(normal, v, v, albedo,
                                                  roughness))


def normal_terms(config, outputs, rays, rgb, params):
  """Ref-NeRF's orientation loss (the weighted (n . d)^+ squared) and its
  tie of predicted to density normals (where on), means over the rays."""
  del rgb, params
  last = outputs[-1]
  weights = rays.lossmult[..., 0] * last.get("loss_mask", 1.0)
  mean = lambda x: jnp.sum(weights * x) / jnp.maximum(jnp.sum(weights), 1.0)
  terms = {"orientation": config.orientation_mult *
           mean(last["orientation"])}
  if "normal_tie" in last:
    terms["normal_tie"] = config.normal_tie_mult * mean(last["normal_tie"])
  if "visibility_error" in last:
    terms["visibility"] = config.visibility_mult * mean(
        last["visibility_error"])
  return terms


COMPONENT = base.Component(
    name="reflectance",
    fields=reflectance_fields,
    module=lambda config, scene, levels: Reflectance(config=config,
                                                     levels=levels),
    loss_terms=normal_terms,
    outputs={"albedo": "rgb", "roughness": "scalar", "normal": "rgb"},
)
