"""mip-NeRF (Barron et al., ICCV 2021): cone tracing with one shared MLP.

Composition: stratified interval edges -> conical-frustum Gaussians
(`mip.cast_rays`) -> integrated positional encoding -> MLP -> interval
rendering; then the weights, max-blurred and padded, are resampled into new
edges (`sampling.resample_along_rays`) and the *same* MLP renders the fine
level. Gradients never flow through the resampling (mip-NeRF's
`stop_level_grad=True`, the paper's setting).

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
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import encoding, networks
from jaxnerf.render import compositing, losses, mip, sampling
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp
from jaxnerf.core.rays import Rays

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


class MipNerf(nn.Module):
  """mip-NeRF: cone-traced intervals, one MLP for both levels."""

  config: Any  # base_config plus config_fields()

  def setup(self):
    c = self.config
    if c.ray_shape not in RAY_SHAPES:
      raise ConfigError(f"config.ray_shape: unknown {c.ray_shape!r}; "
                        f"known: {list(RAY_SHAPES)}")
    self.mlp = mlp.make_mlp(c)
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

  def _encode_viewdirs(self, viewdirs: jax.Array) -> Optional[jax.Array]:
    c = self.config
    if not c.use_viewdirs:
      return None
    return encoding.positional_encoding(viewdirs, 0, c.deg_view, True)

  def _render_level(self, key: jax.Array, rays: Rays, t_edges: jax.Array,
                    randomized: bool) -> dict[str, jax.Array]:
    c = self.config
    means, cov_diag = mip.cast_rays(t_edges, rays.origins, rays.directions,
                                    rays.radii, c.ray_shape)
    if c.disable_integration:
      cov_diag = jnp.zeros_like(cov_diag)
    x = encoding.integrated_positional_encoding(means, cov_diag,
                                                c.min_deg_point,
                                                c.max_deg_point)
    raw_rgb, raw_density = self.mlp(x, self._encode_viewdirs(rays.viewdirs))
    raw_density = mlp.add_density_noise(key, raw_density, c.noise_std,
                                        randomized)
    rgb, density = self._colour_and_density(raw_rgb, raw_density)
    out = compositing.volumetric_rendering_intervals(
        rgb, density, t_edges, rays.directions, c.white_bkgd)
    out["t"] = 0.5 * (t_edges[..., 1:] + t_edges[..., :-1])
    out["t_edges"] = t_edges
    return out

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders a batch of rays.

    Args:
      rays: Rays with leading shape [N] (radii used for the cones).
      key: PRNG key for the stratified jitter, resampling and density noise.
      randomized: training mode (jitter and noise on).
    Returns:
      [coarse, fine] (or [coarse]) outputs of `rendering.composite`, each
      with `t` [N, S] (interval midpoints, matching `weights`) and
      `t_edges` [N, S + 1].
    """
    del progress
    c = self.config
    keys = jax.random.split(key, 4)
    t_edges = sampling.stratified_t(keys[0], rays.near, rays.far,
                                    c.num_coarse_samples + 1, randomized,
                                    c.lindisp)
    outputs = [self._render_level(keys[1], rays, t_edges, randomized)]
    if c.num_fine_samples > 0:
      t_edges = sampling.resample_along_rays(
          keys[2], t_edges, outputs[0]["weights"], c.num_fine_samples,
          randomized, c.resample_padding)
      outputs.append(self._render_level(keys[3], rays, t_edges, randomized))
    return outputs

  def _point_features(self, points: jax.Array) -> jax.Array:
    """Points [M, 3] as zero-size Gaussians: the IPE reduces to the PE."""
    c = self.config
    return encoding.integrated_positional_encoding(
        points[:, None], jnp.zeros_like(points[:, None]), c.min_deg_point,
        c.max_deg_point)

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at points [M, 3] (the integrated encoding of a point)."""
    del progress
    # The density does not depend on the view: any direction will do.
    any_direction = jnp.zeros_like(points).at[:, 2].set(1.0)
    raw_rgb, raw_density = self.mlp(self._point_features(points),
                                    self._encode_viewdirs(any_direction))
    return self._colour_and_density(raw_rgb, raw_density)[1][:, 0]

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at points [M, 3] seen along unit directions [M, 3]."""
    del progress
    raw_rgb, raw_density = self.mlp(self._point_features(points),
                                    self._encode_viewdirs(viewdirs))
    return self._colour_and_density(raw_rgb, raw_density)[0][:, 0]


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  return {**losses.rgb_terms(outputs, rays, rgb, config.coarse_loss_mult),
          **losses.weight_decay_terms(params, config.weight_decay_mult)}


METHOD = base.Method(
    name="mipnerf",
    fields=config_fields,
    # The paper's learning-rate warm-up (lr_init, lr_final: the engine's).
    engine_defaults=dict(lr_delay_steps=2500, lr_delay_mult=0.01),
    build_model=lambda config, scene: MipNerf(config=config),
    loss_terms=loss_terms,
)
