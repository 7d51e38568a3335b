"""The MLP backbone: NeRF (Mildenhall et al., ECCV 2020) as JaxNeRF
implements it, with the components a paper adds.

Stratified coarse samples -> positional encoding -> coarse MLP -> volume
rendering; inverse-CDF fine samples from the coarse weights, merged with
the coarse ones -> fine MLP (separate parameters) -> volume rendering.
Components (jaxnerf.methods.base.Component) plug in where the pipeline has
their hook: `refine_cameras` before rays are cast (the engine calls it),
`encoding_weights` on the encodings' frequency bands (coarse to fine).

NeRF-SH (PlenOctrees, Yu et al. ICCV 2021), with `sh_degree` >= 0: the MLP
sees the position only and outputs 3 (sh_degree + 1)^2 spherical-harmonic
coefficients; the colour is rgb_activation(sum_k c_k Y_k(viewdir)), which a
baked grid reproduces exactly (jaxnerf/baked/bake.py). PlenOctrees' sparsity
loss (`sparsity_loss_mult` > 0) pushes the density of random points in the
scene box towards zero, so the baked grid keeps fewer cells.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import encoding, networks
from jaxnerf.render import compositing, losses, sampling
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.core.rays import Rays


def mlp_fields() -> ml_collections.ConfigDict:
  """The NeRF MLP, its encodings and sampling (shared with mip-NeRF)."""
  c = ml_collections.ConfigDict()
  c.num_coarse_samples = 64
  c.num_fine_samples = 128  # 0: a single level
  c.use_viewdirs = True
  c.lindisp = False  # sample linearly in disparity instead of depth
  c.noise_std = 0.0  # std of noise added to raw density during training
  c.netdepth = 8
  c.netwidth = 256
  c.netdepth_condition = 1
  c.netwidth_condition = 128
  c.skip_layer = 4  # concatenate the input again after this many layers
  c.min_deg_point = 0
  c.max_deg_point = 10
  c.deg_view = 4
  c.density_activation = "relu"
  c.rgb_activation = "sigmoid"
  c.coarse_loss_mult = 1.0  # weight of every level but the last in the loss
  c.weight_decay_mult = 0.0  # L2 on the MLP kernels
  return c


def config_fields() -> ml_collections.ConfigDict:
  c = mlp_fields()
  c.legacy_posenc_order = False  # JaxNeRF's interleaved sin/cos layout
  c.include_input = True  # positional encoding includes the identity
  # NeRF-SH: -1 is NeRF's view-conditioned colour; 0..3 outputs SH
  # coefficients of this degree instead (PlenOctrees uses 3 on Blender).
  c.sh_degree = -1
  losses.add_sparsity_fields(c)  # PlenOctrees' sparsity loss
  c.scene_bound = 1.5  # the scene box (Blender scenes lie in [-1.5, 1.5]^3)
  return c


def sh_degree(c) -> int:
  """The NeRF-SH degree, or -1 (NeRF's colour; mip-NeRF has no such field)."""
  return c.get("sh_degree", -1)


def make_mlp(c, output_features: bool = False) -> networks.MLP:
  degree = sh_degree(c)
  if degree > encoding.MAX_SH_DEGREE:
    raise ConfigError(f"config.sh_degree: {degree} is above "
                      f"{encoding.MAX_SH_DEGREE}")
  num_rgb = 3 if degree < 0 else 3 * encoding.sh_basis_size(degree)
  return networks.MLP(netdepth=c.netdepth, netwidth=c.netwidth,
                      netdepth_condition=c.netdepth_condition,
                      netwidth_condition=c.netwidth_condition,
                      skip_layer=c.skip_layer, num_rgb_channels=num_rgb,
                      output_features=output_features)


def add_density_noise(key, raw_density: jax.Array, noise_std: float,
                      randomized: bool) -> jax.Array:
  """NeRF's regularising noise on the raw density, during training only."""
  if randomized and noise_std > 0:
    return raw_density + noise_std * jax.random.normal(
        key, raw_density.shape, raw_density.dtype)
  return raw_density


class Nerf(nn.Module, base.Composed):
  """NeRF: stratified coarse samples, hierarchical fine samples, two MLPs;
  the components' submodules beside them."""

  config: Any  # base_config plus config_fields()
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()

  @property
  def levels(self) -> tuple[str, ...]:
    return ("coarse", "fine") if self.config.num_fine_samples > 0 else \
        ("coarse",)

  def setup(self):
    c = self.config
    self.setup_components()
    # The last level's trunk features, for components that read them.
    features = self.wants_features
    self.coarse_mlp = make_mlp(c, features and len(self.levels) == 1)
    if c.num_fine_samples > 0:
      self.fine_mlp = make_mlp(c, features)
    self.density_activation = networks.activation(c.density_activation,
                                                  "density_activation")
    self.rgb_activation = networks.activation(c.rgb_activation,
                                              "rgb_activation")

  def _encode_points(self, points: jax.Array,
                     progress: Optional[base.Progress] = None) -> jax.Array:
    c = self.config
    return encoding.positional_encoding(
        points, c.min_deg_point, c.max_deg_point, c.include_input,
        c.legacy_posenc_order,
        self.encoding_weights(progress, c.max_deg_point - c.min_deg_point))

  def _encode_viewdirs(self, viewdirs: jax.Array,
                       progress: Optional[base.Progress] = None
                       ) -> Optional[jax.Array]:
    c = self.config
    if not c.use_viewdirs or sh_degree(c) >= 0:  # NeRF-SH: position only
      return None
    return encoding.positional_encoding(
        viewdirs, 0, c.deg_view, True, c.legacy_posenc_order,
        self.encoding_weights(progress, c.deg_view))

  def _field_input(self, points: jax.Array, time: jax.Array, level: str,
                   progress: Optional[base.Progress]):
    """(the MLP's position input [N, S, D], per-sample stats [N * S]) at
    points [N, S, 3] of rays at times [N, 1]: the components' `warp`."""
    points, condition, stats = self.warp_dense(points, time, level)
    return base.joined(self._encode_points(points, progress),
                       condition), stats

  def _condition(self, viewdirs: jax.Array, camera: Optional[jax.Array],
                 level: str, progress: Optional[base.Progress]
                 ) -> Optional[jax.Array]:
    """The colour branch's per-ray input: the encoded direction and the
    components' `colour_condition`."""
    return base.joined(self._encode_viewdirs(viewdirs, progress),
                       self.colour_condition(camera, viewdirs.shape[0],
                                             level))

  def _colour(self, raw_rgb: jax.Array, viewdirs: jax.Array) -> jax.Array:
    """rgb [..., 3] from the MLP's raw colour [..., C]; viewdirs [..., 3]
    broadcast against its leading axes (NeRF-SH evaluates the SH there)."""
    degree = sh_degree(self.config)
    if degree >= 0:
      coeffs = raw_rgb.reshape(raw_rgb.shape[:-1] + (3, -1))
      basis = encoding.spherical_harmonics(viewdirs, degree)
      raw_rgb = jnp.sum(coeffs * basis[..., None, :], axis=-1)
    return self.rgb_activation(raw_rgb)

  def _render_level(self, mlp, level: str, key, rays: Rays, t: jax.Array,
                    randomized: bool,
                    progress: Optional[base.Progress] = None
                    ) -> dict[str, jax.Array]:
    c = self.config
    camera = rays.camera_index[:, 0]
    points = sampling.points_along_rays(rays.origins, rays.directions, t)
    x, sample_stats = self._field_input(points, rays.time, level, progress)
    raw = mlp(x, self._condition(rays.viewdirs, camera, level, progress))
    raw_density = add_density_noise(key, raw[1], c.noise_std, randomized)
    rgb = self._colour(raw[0], rays.viewdirs[:, None, :])
    density = self.density_activation(raw_density[..., 0])
    rgb, maps = self._shaded(level, raw, rgb, density, t, rays, progress)
    out = compositing.volumetric_rendering(rgb, density, t, rays.directions,
                                           c.white_bkgd)
    for name, value in maps.items():  # [N, k], [N] where k is 1
      out[name] = jnp.sum(out["weights"][..., None] * value, axis=1)
      if value.shape[-1] == 1:
        out[name] = out[name][:, 0]
    out["t"] = t
    if sample_stats:
      out["stats"] = {k: jnp.mean(v) for k, v in sample_stats.items()}
    return self.render_dense(
        out, level, raw, rgb, density,
        compositing.sample_deltas(t, rays.directions), camera, progress)

  def _shaded(self, level: str, raw: tuple, rgb: jax.Array,
              density: jax.Array, t: jax.Array, rays: Rays,
              progress: Optional[base.Progress]):
    """(rgb [N, S, 3], maps {name: [N, S, k]}): a shading component's
    colour of a level's samples (the `shade` hook on the trunk's features),
    or the MLP's own and no maps where none shades that level."""
    if len(raw) < 3 or not self.parts_with("shade"):
      return rgb, {}
    n, s = density.shape
    shaded = self.shade(
        level, raw[2].reshape(n * s, -1), t.reshape(-1),
        jnp.repeat(jnp.arange(n), s), rays,
        base.SampleLayout.dense(compositing.sample_deltas(t, rays.directions)),
        density.reshape(-1), self.density, lambda: rgb.reshape(-1, 3),
        progress)
    if shaded is None:
      return rgb, {}
    colour, maps = shaded
    return colour.reshape(n, s, 3), {k: v.reshape(n, s, -1)
                                     for k, v in maps.items()}

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N]: [coarse, fine] (or [coarse]) outputs of
    `rendering.composite`, each with `t` [N, S]."""
    c = self.config
    keys = jax.random.split(key, 5)
    t = sampling.stratified_t(keys[0], rays.near, rays.far,
                              c.num_coarse_samples, randomized, c.lindisp)
    outputs = [self._render_level(self.coarse_mlp, "coarse", keys[1], rays,
                                  t, randomized, progress)]
    if c.num_fine_samples > 0:
      t = sampling.hierarchical_t(keys[2], t, outputs[0]["weights"],
                                  c.num_fine_samples, randomized)
      outputs.append(self._render_level(self.fine_mlp, "fine", keys[3], rays,
                                        t, randomized, progress))
    if randomized and c.get("sparsity_loss_mult", 0.0) > 0:
      outputs[-1]["sparsity"] = losses.sparsity(
          keys[4], self.density, c.sparsity_samples, c.scene_bound,
          c.sparsity_lambda)
    return outputs

  def _final_mlp(self):
    return self.fine_mlp if self.config.num_fine_samples > 0 else \
        self.coarse_mlp

  def _query(self, points: jax.Array, viewdirs: jax.Array, progress):
    """The last level's MLP at points [M, 3] seen along [M, 3], at time 0
    with the components' field-interface inputs (e.g. the mean appearance
    code): (raw colour [M, 1, C], raw density [M, 1, 1], ...)."""
    level = self.levels[-1]
    time = jnp.zeros(points.shape[:1] + (1,), points.dtype)
    x, _ = self._field_input(points[:, None], time, level, progress)
    return self._final_mlp()(x, self._condition(viewdirs, None, level,
                                                progress))

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] of the reported (fine) level at points [M, 3]."""
    # The density does not depend on the view: any direction will do.
    any_direction = jnp.zeros_like(points).at[:, 2].set(1.0)
    raw_density = self._query(points, any_direction, progress)[1]
    return self.density_activation(raw_density[:, 0, 0])

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at points [M, 3] seen along unit directions [M, 3]
    (encodings weighted at `progress`)."""
    raw = self._query(points, viewdirs, progress)
    if self.parts_with("headlight"):
      return self.headlight(raw[2][:, 0], viewdirs)
    return self._colour(raw[0][:, 0], viewdirs)

  def sh_coefficients(self, points: jax.Array) -> Optional[jax.Array]:
    """NeRF-SH: the colour's SH coefficients [M, 3, (sh_degree + 1)^2]
    (before the sigmoid) at points [M, 3]; None if the colour is not SH
    with a sigmoid (baking then projects `radiance` onto SH)."""
    c = self.config
    if sh_degree(c) < 0 or c.rgb_activation != "sigmoid":
      return None
    raw_rgb, _ = self._final_mlp()(self._encode_points(points[:, None]), None)
    return raw_rgb[:, 0].reshape(points.shape[0], 3, -1)


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  terms = {**losses.rgb_terms(outputs, rays, rgb, config.coarse_loss_mult),
           **losses.weight_decay_terms(params, config.weight_decay_mult)}
  terms.update(losses.sparsity_terms(
      outputs, config.get("sparsity_loss_mult", 0.0)))
  return terms


BACKBONE = base.Backbone(
    name="mlp",
    fields=config_fields,
    build=lambda config, scene, components: Nerf(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
)
