"""Flax modules: the NeRF MLP and the NeRF method (coarse + fine).

A method module maps (rays, key, randomized) to a list of per-level render
outputs, coarsest first; the last level is the one reported and evaluated.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf import encoding, rendering, sampling
from jaxnerf.errors import ConfigError
from jaxnerf.rays import Rays

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "softplus": nn.softplus,
    "sigmoid": nn.sigmoid,
    "exp": jnp.exp,
}


def activation(name: str, field: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ConfigError(f"config.{field}: unknown activation {name!r}; known: "
                     f"{sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """NeRF's MLP: density from position only, colour also from the view.

  `netdepth` ReLU layers of `netwidth`, the input concatenated again after
  every `skip_layer` layers; density from the trunk; a bottleneck joined
  with the encoded view direction feeds `netdepth_condition` layers of
  `netwidth_condition` and then the colour.
  """

  netdepth: int = 8
  netwidth: int = 256
  netdepth_condition: int = 1
  netwidth_condition: int = 128
  skip_layer: int = 4
  num_rgb_channels: int = 3
  num_density_channels: int = 1

  @nn.compact
  def __call__(self, x: jax.Array,
               condition: Optional[jax.Array] = None):
    """Evaluates the field.

    Args:
      x: [N, S, Dx] encoded sample positions.
      condition: [N, Dc] encoded view directions (one per ray), or None.
    Returns:
      raw_rgb [N, S, num_rgb_channels], raw_density [N, S, 1], both before
      activation.
    """
    dense = lambda width, **kw: nn.Dense(
        width, kernel_init=nn.initializers.glorot_uniform(), **kw)
    # The layers run on [N * S, D] rows: on [N, S, D] XLA's CPU backend
    # transposes every layer's activation gradient for the weight gradient
    # (a contraction over two axes), ~20 % of the MLP's time at 4 x 128
    # (docs/BENCHMARKS.md).
    num_rays, num_samples = x.shape[:-1]
    x = x.reshape(num_rays * num_samples, x.shape[-1])
    inputs = x
    for i in range(self.netdepth):
      x = nn.relu(dense(self.netwidth)(x))
      if self.skip_layer and i % self.skip_layer == 0 and i > 0:
        x = jnp.concatenate([x, inputs], axis=-1)
    density_layer = dense(self.num_density_channels)
    if condition is None:
      raw_density = density_layer(x)
    else:
      bottleneck = dense(self.netwidth)
      condition_bottleneck = dense(self.netwidth_condition,
                                   name="condition_bottleneck")
      # Dense(concat(bottleneck, condition)) split in two, so the view term
      # is computed once per ray instead of once per sample. The bottleneck
      # has no activation, so Dense(Dense(x)) is one affine map of x:
      # composed (a width x width_condition product per call, not per
      # sample) and stacked with the density layer into one matmul. The
      # parameters and the function are those of the unfused layers.
      probe = jnp.zeros((1, x.shape[-1]), x.dtype)  # creates the parameters
      density_layer(probe)
      condition_bottleneck(bottleneck(probe))
      p_d, p_b, p_c = (layer.variables["params"] for layer in
                       (density_layer, bottleneck, condition_bottleneck))
      kernel = jnp.concatenate([p_d["kernel"], p_b["kernel"] @ p_c["kernel"]],
                               axis=-1)
      bias = jnp.concatenate([p_d["bias"],
                              p_b["bias"] @ p_c["kernel"] + p_c["bias"]])
      out = x @ kernel + bias
      raw_density = out[..., :self.num_density_channels]
      h = out[:, self.num_density_channels:].reshape(
          num_rays, num_samples, -1) + dense(
              self.netwidth_condition, use_bias=False,
              name="condition_viewdirs")(condition)[:, None, :]
      x = nn.relu(h.reshape(num_rays * num_samples, -1))
      for _ in range(self.netdepth_condition - 1):
        x = nn.relu(dense(self.netwidth_condition)(x))
    raw_rgb = dense(self.num_rgb_channels)(x)
    unflatten = lambda y: y.reshape(num_rays, num_samples, y.shape[-1])
    return unflatten(raw_rgb), unflatten(raw_density)


class NerfModel(nn.Module):
  """NeRF: stratified coarse samples, hierarchical fine samples, two MLPs."""

  config: Any  # a ConfigDict with the fields of jaxnerf.config.base_config

  def setup(self):
    c = self.config
    mlp = lambda: MLP(netdepth=c.netdepth, netwidth=c.netwidth,
                      netdepth_condition=c.netdepth_condition,
                      netwidth_condition=c.netwidth_condition,
                      skip_layer=c.skip_layer)
    self.coarse_mlp = mlp()
    if c.num_fine_samples > 0:
      self.fine_mlp = mlp()
    self.density_activation = activation(c.density_activation,
                                         "density_activation")
    self.rgb_activation = activation(c.rgb_activation, "rgb_activation")

  def _field(self, mlp, key, rays: Rays, t: jax.Array, randomized: bool):
    c = self.config
    points = sampling.points_along_rays(rays.origins, rays.directions, t)
    x = encoding.positional_encoding(points, c.min_deg_point, c.max_deg_point,
                                     c.include_input, c.legacy_posenc_order)
    viewdirs = None
    if c.use_viewdirs:
      viewdirs = encoding.positional_encoding(
          rays.viewdirs, 0, c.deg_view, True, c.legacy_posenc_order)
    raw_rgb, raw_density = mlp(x, viewdirs)
    if randomized and c.noise_std > 0:
      raw_density = raw_density + c.noise_std * jax.random.normal(
          key, raw_density.shape, raw_density.dtype)
    rgb = self.rgb_activation(raw_rgb)
    density = self.density_activation(raw_density[..., 0])
    return rendering.volumetric_rendering(rgb, density, t, rays.directions,
                                          c.white_bkgd)

  def __call__(self, rays: Rays, key: jax.Array,
               randomized: bool) -> list[dict[str, jax.Array]]:
    """Renders a batch of rays.

    Args:
      rays: Rays with leading shape [N].
      key: PRNG key for stratified jitter, PDF samples and density noise.
      randomized: training mode (jitter and noise on).
    Returns:
      [coarse, fine] outputs of `rendering.composite`, each with an added
      `t` [N, S].
    """
    c = self.config
    keys = jax.random.split(key, 4)
    t = sampling.stratified_t(keys[0], rays.near, rays.far,
                              c.num_coarse_samples, randomized, c.lindisp)
    coarse = self._field(self.coarse_mlp, keys[1], rays, t, randomized)
    coarse["t"] = t
    outputs = [coarse]
    if c.num_fine_samples > 0:
      t = sampling.hierarchical_t(keys[2], t, coarse["weights"],
                                  c.num_fine_samples, randomized)
      fine = self._field(self.fine_mlp, keys[3], rays, t, randomized)
      fine["t"] = t
      outputs.append(fine)
    return outputs


def construct_model(config) -> nn.Module:
  """The method module named by `config.model`."""
  models = {"nerf": NerfModel}
  try:  # Later methods register here when present.
    from jaxnerf import mipnerf  # noqa: F401
    models["mipnerf"] = mipnerf.MipNerfModel
  except ImportError:
    pass
  try:
    from jaxnerf import fast  # noqa: F401
    models["fast"] = fast.FastModel
  except ImportError:
    pass
  if config.model not in models:
    raise ConfigError(f"config.model: unknown model {config.model!r}; known: "
                     f"{sorted(models)}")
  return models[config.model](config=ml_collections.FrozenConfigDict(config))
