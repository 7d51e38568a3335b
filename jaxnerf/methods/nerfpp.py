"""NeRF++ (Zhang et al., 2020): NeRF for unbounded scenes by an
inside/outside split of space.

Inside a sphere of radius R (holding every camera) a foreground NeRF is
sampled in depth, from the near bound to where the ray leaves the sphere.
Outside it, a background NeRF takes the inverted-sphere parametrisation of
a point p at distance r = |p| > R from the origin,

    (x / r, y / r, z / r, R / r)      (the paper's (x', y', z', 1/r), R = 1)

and the ray is sampled uniformly in inverse distance R / r in (0, 1], the
last background sample extending to infinity (the paper's code composites
the background in that coordinate). The pixel colour is

    C = C_fg + T_fg * C_bg,

T_fg the transmittance left when the ray leaves the sphere. Each half has a
coarse and a fine MLP (NeRF's, jaxnerf/methods/backbones/mlp.py) with
hierarchical fine samples from its own coarse weights. rays.far is not used.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import encoding, networks
from jaxnerf.render import compositing, losses, sampling
from jaxnerf.render.contraction import sphere_interval
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp as mlp_backbone
from jaxnerf.core.rays import Rays


def config_fields() -> ml_collections.ConfigDict:
  c = mlp_backbone.config_fields()
  # Foreground sphere radius. Posed captures are normalised so the cameras
  # lie in [-1, 1]^3 (auto_scale_poses), within sqrt(3) of the origin.
  c.sphere_radius = 2.0
  c.num_bg_coarse_samples = 64
  c.num_bg_fine_samples = 128  # with num_fine_samples > 0
  return c


def background_points(origins: jax.Array, directions: jax.Array,
                      inv: jax.Array, radius: float
                      ) -> tuple[jax.Array, jax.Array]:
  """Points at distance r = radius / inv from the origin along the rays.

  Args:
    origins, directions: [N, 3] (origins inside the sphere); inv: [N, S]
      inverse distances radius / r in (0, 1].
  Returns:
    (inputs [N, S, 4]: (p / r, radius / r), t [N, S] along `directions`).
  """
  norm = jnp.linalg.norm(directions, axis=-1, keepdims=True)
  unit = directions / norm
  r = radius / inv  # [N, S]
  b = jnp.sum(origins * unit, axis=-1, keepdims=True)
  c = jnp.sum(origins * origins, axis=-1, keepdims=True)
  s = -b + jnp.sqrt(jnp.maximum(b * b - c + r * r, 0.0))  # exit of |p| = r
  points = origins[:, None, :] + s[..., None] * unit[:, None, :]
  inputs = jnp.concatenate([points / r[..., None], inv[..., None]], axis=-1)
  return inputs, s / norm


def sphere_exit_t(rays: Rays, radius: float) -> jax.Array:
  """t [N, 1] where rays leave the sphere (at least just past near)."""
  norm = jnp.linalg.norm(rays.directions, axis=-1)
  unit = rays.directions / norm[:, None]
  _, exit_ = sphere_interval(rays.origins, unit, radius)
  return jnp.maximum(exit_ / norm, rays.near[:, 0] * 1.001 + 1e-6)[:, None]


class NerfPP(nn.Module):
  """Foreground NeRF in the sphere, background NeRF on the inverted sphere."""

  config: Any  # base_config plus config_fields()

  def setup(self):
    c = self.config
    levels = 2 if c.num_fine_samples > 0 else 1
    self.fg_mlps = [mlp_backbone.make_mlp(c) for _ in range(levels)]
    self.bg_mlps = [mlp_backbone.make_mlp(c) for _ in range(levels)]
    self.density_activation = networks.activation(c.density_activation,
                                                  "density_activation")
    self.rgb_activation = networks.activation(c.rgb_activation,
                                              "rgb_activation")

  def _encode(self, x: jax.Array) -> jax.Array:
    c = self.config
    return encoding.positional_encoding(x, c.min_deg_point, c.max_deg_point,
                                        c.include_input, c.legacy_posenc_order)

  def _viewdirs(self, viewdirs: jax.Array) -> Optional[jax.Array]:
    c = self.config
    if not c.use_viewdirs:
      return None
    return encoding.positional_encoding(viewdirs, 0, c.deg_view, True,
                                        c.legacy_posenc_order)

  def _field(self, mlp, key, inputs, viewdirs, randomized):
    raw_rgb, raw_density = mlp(self._encode(inputs), self._viewdirs(viewdirs))
    raw_density = mlp_backbone.add_density_noise(
        key, raw_density, self.config.noise_std, randomized)
    return (self.rgb_activation(raw_rgb),
            self.density_activation(raw_density[..., 0]))

  def _level(self, i: int, keys, rays: Rays, t_fg, t_exit, q_bg,
             randomized: bool) -> dict:
    """Renders one level at foreground depths t_fg [N, S] and background
    coordinates q_bg = 1 - inverse distance [N, S'] (sorted)."""
    c = self.config
    points = sampling.points_along_rays(rays.origins, rays.directions, t_fg)
    rgb_fg, density_fg = self._field(self.fg_mlps[i], keys[0], points,
                                     rays.viewdirs, randomized)
    # The last foreground interval ends on the sphere, not at infinity.
    delta = jnp.concatenate([t_fg[:, 1:], t_exit], -1) - t_fg
    delta = delta * jnp.linalg.norm(rays.directions, axis=-1, keepdims=True)
    w_fg = compositing.weights_from_deltas(density_fg, delta)
    transmittance = jnp.exp(-jnp.sum(density_fg * delta, axis=-1))  # [N]
    inputs, t_bg = background_points(rays.origins, rays.directions,
                                     1.0 - q_bg, c.sphere_radius)
    rgb_bg, density_bg = self._field(self.bg_mlps[i], keys[1], inputs,
                                     rays.viewdirs, randomized)
    # Intervals in the inverted coordinate (NeRF++'s code); the last one
    # reaches infinity.
    delta_bg = jnp.concatenate([q_bg[:, 1:] - q_bg[:, :-1], jnp.full_like(
        q_bg[:, :1], compositing.FAR_DELTA)], -1)
    w_bg = compositing.weights_from_deltas(density_bg, delta_bg)
    fg = compositing.composite(w_fg, rgb_fg, t_fg, False)
    bg = compositing.composite(w_bg, rgb_bg, t_bg, False)
    rgb = fg["rgb"] + transmittance[:, None] * bg["rgb"]
    if c.white_bkgd:
      rgb = rgb + (transmittance * (1.0 - bg["acc"]))[:, None]
    acc = fg["acc"] + transmittance * bg["acc"]
    depth = fg["depth"] + transmittance * bg["depth"]
    eps = 1e-10
    disp = acc / depth
    disp = jnp.where((disp > 0) & (disp < 1 / eps) & (acc > eps), disp,
                     1 / eps)
    return dict(rgb=rgb, depth=depth, disp=disp, acc=acc,
                fg_weights=w_fg, bg_weights=w_bg, bg_fraction=transmittance)

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None) -> list[dict]:
    """Renders rays [N]: [coarse, fine] (or [coarse]) levels with rgb,
    depth, disp, acc and bg_fraction (T_fg) [N]."""
    del progress
    c = self.config
    keys = jax.random.split(key, 8)
    t_exit = sphere_exit_t(rays, c.sphere_radius)
    t_fg = sampling.stratified_t(keys[0], rays.near, t_exit,
                                 c.num_coarse_samples, randomized, False)
    zeros = jnp.zeros_like(rays.near)
    # q = 1 - R / r in [0, 1): from the sphere (q = 0) outwards; the last
    # sample stays short of infinity.
    q_max = 1.0 - 1.0 / c.num_bg_coarse_samples
    q_bg = sampling.stratified_t(keys[1], zeros, zeros + q_max,
                                 c.num_bg_coarse_samples, randomized, False)
    outputs = [self._level(0, keys[2:4], rays, t_fg, t_exit, q_bg,
                           randomized)]
    if c.num_fine_samples > 0:
      coarse = outputs[0]
      t_fg = sampling.hierarchical_t(keys[4], t_fg, coarse["fg_weights"],
                                     c.num_fine_samples, randomized)
      q_bg = sampling.hierarchical_t(keys[5], q_bg, coarse["bg_weights"],
                                     c.num_bg_fine_samples, randomized)
      outputs.append(self._level(1, keys[6:8], rays, t_fg, t_exit, q_bg,
                                 randomized))
    for out in outputs:
      del out["fg_weights"], out["bg_weights"]
    return outputs

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at world points [M, 3] (fine level): the foreground
    field inside the sphere, the background field outside."""
    del progress
    c = self.config
    r = jnp.linalg.norm(points, axis=-1, keepdims=True)
    inv = c.sphere_radius / jnp.maximum(r, c.sphere_radius)
    bg_inputs = jnp.concatenate([points / jnp.maximum(r, 1e-9), inv], -1)
    any_direction = jnp.zeros_like(points).at[:, 2].set(1.0)
    view = self._viewdirs(any_direction)
    fg = self.fg_mlps[-1](self._encode(points[:, None]), view)[1]
    bg = self.bg_mlps[-1](self._encode(bg_inputs[:, None]), view)[1]
    raw = jnp.where(r <= c.sphere_radius, fg[:, 0], bg[:, 0])[:, 0]
    return self.density_activation(raw)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at world points [M, 3] seen along viewdirs [M, 3]."""
    del progress
    c = self.config
    r = jnp.linalg.norm(points, axis=-1, keepdims=True)
    inv = c.sphere_radius / jnp.maximum(r, c.sphere_radius)
    bg_inputs = jnp.concatenate([points / jnp.maximum(r, 1e-9), inv], -1)
    view = self._viewdirs(viewdirs)
    fg = self.fg_mlps[-1](self._encode(points[:, None]), view)[0][:, 0]
    bg = self.bg_mlps[-1](self._encode(bg_inputs[:, None]), view)[0][:, 0]
    return self.rgb_activation(jnp.where(r <= c.sphere_radius, fg, bg))


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  return {**losses.rgb_terms(outputs, rays, rgb, config.coarse_loss_mult),
          **losses.weight_decay_terms(params, config.weight_decay_mult)}


METHOD = base.Method(
    name="nerfpp",
    fields=config_fields,
    build_model=lambda config, scene: NerfPP(config=config),
    loss_terms=loss_terms,
    outputs={**base.STANDARD_OUTPUTS, "bg_fraction": "scalar"},
)
