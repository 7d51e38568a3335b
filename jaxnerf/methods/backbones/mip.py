"""The mip backbone: mip-NeRF (Barron et al., ICCV 2021)'s cone-traced MLP,
with the components a paper adds.

Stratified interval edges -> conical-frustum Gaussians (`mip.cast_rays`)
-> integrated positional encoding -> one MLP -> interval rendering; then the
weights, max-blurred and padded, are resampled into new edges
(`sampling.resample_along_rays`) and the *same* MLP renders the fine level.
Gradients never flow through the resampling (mip-NeRF's
`stop_level_grad=True`, the paper's setting). Its own backbone, not an
encoding option of NeRF's: the sampler (intervals, blurred resampling), the
single MLP of both levels and the interval compositing all differ.

Config fields (besides NeRF's MLP fields, `mlp.mlp_fields`), with the
paper's defaults:
  ray_shape: "cone" | "cylinder".
  disable_integration: use zero covariance (IPE becomes plain PE of the
    frustum means), the paper's ablation.
  resample_padding: added to the blurred weights before resampling (0.01).
  density_bias: added to the raw density before the activation (-1).
  rgb_padding: colour range widened to [-p, 1 + p] so 0 and 1 are reachable
    without saturating the sigmoid (0.001).
The levels use `num_coarse_samples` and `num_fine_samples` intervals (the
paper: 128 and 128); `num_fine_samples = 0` gives a single level.

Components plug in where the pipeline has their hook (jaxnerf.methods.base):
`warp` moves the frustums' means (their covariances stay: a deformation's
local stretch is not modelled), `colour_condition` joins the view
direction at the colour branch, `render_samples` reads the fine level's
intervals. With one MLP for both render levels the backbone has one field
level (`levels = ("",)`): a component's per-level parts (a deformation, the
codes at the colour branch) serve both.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core.rays import Rays
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding, networks
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp
from jaxnerf.render import compositing, losses, mip, sampling

RAY_SHAPES = ("cone", "cylinder")


def config_fields() -> ml_collections.ConfigDict:
  """NeRF's MLP fields with the paper's values, plus mip-NeRF's own."""
  c = mlp.mlp_fields()
  c.coarse_loss_mult = 0.1  # one MLP for both levels
  c.num_coarse_samples = 128
  c.num_fine_samples = 128
  c.min_deg_point, c.max_deg_point, c.deg_view = 0, 16, 4
  c.density_activation = "softplus"
  c.ray_shape = "cone"
  c.disable_integration = False
  c.resample_padding = 0.01
  c.density_bias = -1.0
  c.rgb_padding = 0.001
  return c


class MipNerf(nn.Module, base.Composed):
  """mip-NeRF: cone-traced intervals, one MLP for both levels; the
  components' submodules beside it."""

  config: Any  # base_config plus config_fields()
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()

  levels = ("",)  # one MLP: one field level for both render levels

  def setup(self):
    c = self.config
    if c.ray_shape not in RAY_SHAPES:
      raise ConfigError(f"config.ray_shape: unknown {c.ray_shape!r}; "
                        f"known: {list(RAY_SHAPES)}")
    self.setup_components()
    self.mlp = mlp.make_mlp(c, self.wants_features)
    self.density_activation = networks.activation(c.density_activation,
                                                  "density_activation")
    self.rgb_activation = networks.activation(c.rgb_activation,
                                              "rgb_activation")

  def _colour_and_density(self, raw_rgb, raw_density):
    c = self.config
    pad = c.rgb_padding
    rgb = self.rgb_activation(raw_rgb) * (1.0 + 2.0 * pad) - pad
    density = self.density_activation(raw_density[..., 0] + c.density_bias)
    return rgb, density

  def _condition(self, viewdirs: jax.Array, camera: Optional[jax.Array],
                 level: str) -> Optional[jax.Array]:
    """The colour branch's per-ray input: the encoded direction and the
    components' `colour_condition`."""
    c = self.config
    directions = (encoding.positional_encoding(viewdirs, 0, c.deg_view, True)
                  if c.use_viewdirs else None)
    return base.joined(directions, self.colour_condition(
        camera, viewdirs.shape[0], level))

  def _field_input(self, means: jax.Array, cov_diag: jax.Array,
                   time: jax.Array, level: str):
    """(the MLP's input [N, S, D], per-sample stats) of frustum Gaussians
    (means, diagonal covariances [N, S, 3]) of rays at times [N, 1]."""
    c = self.config
    means, condition, stats = self.warp_dense(means, time, level)
    x = encoding.integrated_positional_encoding(means, cov_diag,
                                                c.min_deg_point,
                                                c.max_deg_point)
    return base.joined(x, condition), stats

  def _render_level(self, key: jax.Array, rays: Rays, t_edges: jax.Array,
                    randomized: bool, last: bool,
                    progress: Optional[base.Progress]
                    ) -> dict[str, jax.Array]:
    c = self.config
    level = ""
    camera = rays.camera_index[:, 0]
    means, cov_diag = mip.cast_rays(t_edges, rays.origins, rays.directions,
                                    rays.radii, c.ray_shape)
    if c.disable_integration:
      cov_diag = jnp.zeros_like(cov_diag)
    x, sample_stats = self._field_input(means, cov_diag, rays.time, level)
    raw = self.mlp(x, self._condition(rays.viewdirs, camera, level))
    raw_density = mlp.add_density_noise(key, raw[1], c.noise_std, randomized)
    rgb, density = self._colour_and_density(raw[0], raw_density)
    out = compositing.volumetric_rendering_intervals(
        rgb, density, t_edges, rays.directions, c.white_bkgd)
    out["t"] = 0.5 * (t_edges[..., 1:] + t_edges[..., :-1])
    out["t_edges"] = t_edges
    if sample_stats:
      out["stats"] = {k: jnp.mean(v) for k, v in sample_stats.items()}
    if not last:
      return out
    delta = (t_edges[..., 1:] - t_edges[..., :-1]) * jnp.linalg.norm(
        rays.directions[..., None, :], axis=-1)
    return self.render_dense(out, level, raw, rgb, density, delta, camera,
                             progress)

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N] (radii used for the cones): [coarse, fine] (or
    [coarse]) outputs of `rendering.composite`, each with `t` [N, S]
    (interval midpoints, matching `weights`) and `t_edges` [N, S + 1]."""
    c = self.config
    keys = jax.random.split(key, 4)
    t_edges = sampling.stratified_t(keys[0], rays.near, rays.far,
                                    c.num_coarse_samples + 1, randomized,
                                    c.lindisp)
    outputs = [self._render_level(keys[1], rays, t_edges, randomized,
                                  c.num_fine_samples == 0, progress)]
    if c.num_fine_samples > 0:
      t_edges = sampling.resample_along_rays(
          keys[2], t_edges, outputs[0]["weights"], c.num_fine_samples,
          randomized, c.resample_padding)
      outputs.append(self._render_level(keys[3], rays, t_edges, randomized,
                                        True, progress))
    return outputs

  def _query(self, points: jax.Array, viewdirs: jax.Array):
    """The MLP at points [M, 3] as zero-size Gaussians (the IPE reduces to
    the PE) seen along [M, 3], at time 0 with the components' field
    interface inputs: (rgb [M, 1, 3], density [M, 1])."""
    level = ""
    time = jnp.zeros(points.shape[:1] + (1,), points.dtype)
    x, _ = self._field_input(points[:, None], jnp.zeros_like(points[:, None]),
                             time, level)
    raw = self.mlp(x, self._condition(viewdirs, None, level))
    return self._colour_and_density(raw[0], raw[1])

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at points [M, 3]."""
    del progress
    # The density does not depend on the view: any direction will do.
    any_direction = jnp.zeros_like(points).at[:, 2].set(1.0)
    return self._query(points, any_direction)[1][:, 0]

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at points [M, 3] seen along unit directions [M, 3]."""
    del progress
    return self._query(points, viewdirs)[0][:, 0]


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  return {**losses.rgb_terms(outputs, rays, rgb, config.coarse_loss_mult),
          **losses.weight_decay_terms(params, config.weight_decay_mult)}


BACKBONE = base.Backbone(
    name="mip",
    fields=config_fields,
    build=lambda config, scene, components: MipNerf(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    # The paper's learning-rate warm-up (lr_init, lr_final: the engine's).
    engine_defaults=dict(lr_delay_steps=2500, lr_delay_mult=0.01),
)
