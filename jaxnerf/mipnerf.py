"""mip-NeRF (Barron et al., ICCV 2021): cone tracing with one shared MLP.

Composition: stratified interval edges -> conical-frustum Gaussians
(`mip.cast_rays`) -> integrated positional encoding -> MLP -> interval
rendering; then the weights, max-blurred and padded, are resampled into new
edges (`sampling.resample_along_rays`) and the *same* MLP renders the fine
level. Gradients never flow through the resampling (mip-NeRF's
`stop_level_grad=True`, the paper's setting).

Config fields (besides base_config's), read with `config.get`, so they need
to exist only in mip-NeRF configs; defaults are the paper's:
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

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf import encoding, mip, rendering, sampling
from jaxnerf.models import MLP, activation
from jaxnerf.rays import Rays

DEFAULTS = dict(ray_shape="cone", disable_integration=False,
                resample_padding=0.01, density_bias=-1.0, rgb_padding=0.001)


def add_config_fields(c):
  """Turns a base_config into the paper's mip-NeRF settings, in place.

  Sets model, the shared-MLP loss weights (coarse 0.1, fine 1.0), 128 + 128
  intervals, IPE degrees 0..16, softplus density, the learning-rate warm-up,
  and adds the mip-NeRF fields of `DEFAULTS` (so they can be overridden
  from the command line). Returns `c`.
  """
  c.model = "mipnerf"
  c.coarse_loss_mult = 0.1
  c.num_coarse_samples = 128
  c.num_fine_samples = 128
  c.min_deg_point, c.max_deg_point, c.deg_view = 0, 16, 4
  c.density_activation = "softplus"
  c.rgb_activation = "sigmoid"
  c.lr_init, c.lr_final = 5e-4, 5e-6
  c.lr_delay_steps, c.lr_delay_mult = 2500, 0.01
  for name, value in DEFAULTS.items():
    c[name] = value
  return c


def option(config, name: str):
  """A mip-NeRF config field, or its default when the config lacks it."""
  return config.get(name, DEFAULTS[name])


class MipNerfModel(nn.Module):
  """mip-NeRF: the method interface of `models.NerfModel`."""

  config: Any  # base_config fields plus the optional ones above

  def setup(self):
    c = self.config
    self.mlp = MLP(netdepth=c.netdepth, netwidth=c.netwidth,
                   netdepth_condition=c.netdepth_condition,
                   netwidth_condition=c.netwidth_condition,
                   skip_layer=c.skip_layer)
    self.density_activation = activation(c.density_activation,
                                         "density_activation")
    self.rgb_activation = activation(c.rgb_activation, "rgb_activation")

  def _render_level(self, key: jax.Array, rays: Rays, t_edges: jax.Array,
                    randomized: bool) -> dict[str, jax.Array]:
    c = self.config
    means, cov_diag = mip.cast_rays(t_edges, rays.origins, rays.directions,
                                    rays.radii, option(c, "ray_shape"))
    if option(c, "disable_integration"):
      cov_diag = jnp.zeros_like(cov_diag)
    x = encoding.integrated_positional_encoding(means, cov_diag,
                                                c.min_deg_point,
                                                c.max_deg_point)
    viewdirs = None
    if c.use_viewdirs:
      viewdirs = encoding.positional_encoding(rays.viewdirs, 0, c.deg_view,
                                              True)
    raw_rgb, raw_density = self.mlp(x, viewdirs)
    if randomized and c.noise_std > 0:
      raw_density = raw_density + c.noise_std * jax.random.normal(
          key, raw_density.shape, raw_density.dtype)
    pad = option(c, "rgb_padding")
    rgb = self.rgb_activation(raw_rgb) * (1.0 + 2.0 * pad) - pad
    density = self.density_activation(raw_density[..., 0] +
                                      option(c, "density_bias"))
    out = rendering.volumetric_rendering_intervals(
        rgb, density, t_edges, rays.directions, c.white_bkgd)
    out["t"] = 0.5 * (t_edges[..., 1:] + t_edges[..., :-1])
    out["t_edges"] = t_edges
    return out

  def __call__(self, rays: Rays, key: jax.Array,
               randomized: bool) -> list[dict[str, jax.Array]]:
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
    c = self.config
    keys = jax.random.split(key, 4)
    t_edges = sampling.stratified_t(keys[0], rays.near, rays.far,
                                    c.num_coarse_samples + 1, randomized,
                                    c.lindisp)
    outputs = [self._render_level(keys[1], rays, t_edges, randomized)]
    if c.num_fine_samples > 0:
      t_edges = sampling.resample_along_rays(
          keys[2], t_edges, outputs[0]["weights"], c.num_fine_samples,
          randomized, option(c, "resample_padding"))
      outputs.append(self._render_level(keys[3], rays, t_edges, randomized))
    return outputs
