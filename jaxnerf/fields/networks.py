"""Fields: Flax modules that map points (and view directions) to density
and colour. Methods (jaxnerf/methods/) compose them with samplers and
renderers.

* `MLP`: NeRF's MLP on encoded inputs (NeRF, mip-NeRF).
* `HashGridField`: Instant-NGP's multiresolution hash grid with small
  density and colour MLPs.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf.fields import encoding, hashgrid
from jaxnerf.errors import ConfigError

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "softplus": nn.softplus,
    "sigmoid": nn.sigmoid,
    "exp": jnp.exp,
}


HASHGRID_COLOR_MODES = ("mlp", "sh")


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
  # Also return the trunk's last activations (NeRF-W's transient head
  # reads them).
  output_features: bool = False

  @nn.compact
  def __call__(self, x: jax.Array,
               condition: Optional[jax.Array] = None):
    """Evaluates the field.

    Args:
      x: [N, S, Dx] encoded sample positions.
      condition: [N, Dc] per-ray inputs of the colour branch (encoded view
        directions, and e.g. an appearance code), or None.
    Returns:
      raw_rgb [N, S, num_rgb_channels], raw_density [N, S, 1], both before
      activation; with `output_features` also the trunk's features
      [N, S, netwidth (+ Dx after a skip)].
    """
    dense = lambda width, **kw: nn.Dense(
        width, kernel_init=nn.initializers.glorot_uniform(), **kw)
    # The layers run on [N * S, D] rows: on [N, S, D] XLA's CPU backend
    # transposes every layer's activation gradient for the weight gradient
    # (a contraction over two axes), a large share of the MLP's time
    # (docs/BENCHMARKS.md has the measurement).
    num_rays, num_samples = x.shape[:-1]
    x = x.reshape(num_rays * num_samples, x.shape[-1])
    inputs = x
    for i in range(self.netdepth):
      x = nn.relu(dense(self.netwidth)(x))
      if self.skip_layer and i % self.skip_layer == 0 and i > 0:
        x = jnp.concatenate([x, inputs], axis=-1)
    features = x
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
    if self.output_features:
      return unflatten(raw_rgb), unflatten(raw_density), unflatten(features)
    return unflatten(raw_rgb), unflatten(raw_density)


@jax.custom_jvp
def trunc_exp(x: jax.Array) -> jax.Array:
  """exp with its gradient clipped at exp(15) (torch-ngp's trunc_exp)."""
  return jnp.exp(x)


@trunc_exp.defjvp
def _trunc_exp_jvp(primals, tangents):
  (x,), (dx,) = primals, tangents
  return jnp.exp(x), dx * jnp.exp(jnp.minimum(x, 15.0))


class SplitField:
  """`__call__` and `radiance` of a field made of a `density(points,
  condition, level_weights) -> (density, features)` and a `color(features,
  ray_ids, viewdirs, condition) -> rgb` (HashGridField; KiloNeRF's field
  of tiny networks), mixed into its Flax module."""

  def __call__(self, points: jax.Array, ray_ids: jax.Array,
               viewdirs: jax.Array,
               density_condition: Optional[jax.Array] = None,
               color_condition: Optional[jax.Array] = None,
               level_weights: Optional[jax.Array] = None
               ) -> tuple[jax.Array, jax.Array]:
    """Density [M] and rgb [M, 3] at points [M, 3] seen along rays.

    Args:
      ray_ids: [M] ray of each point (clipped into range).
      viewdirs: [N, 3] unit directions, one per ray.
      density_condition: optional [M, C] (see `density`).
      color_condition: optional [N, C'] per-ray inputs of the colour MLP
        (e.g. an appearance code); `color_mode="mlp"` only.
      level_weights: as `density`.
    """
    density, feats = self.density(points, density_condition, level_weights)
    return density, self.color(feats, ray_ids, viewdirs, color_condition)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               level_weights=None) -> jax.Array:
    """rgb [M, 3] at points [M, 3] seen from unit directions [M, 3]."""
    ids = jnp.arange(points.shape[0])
    return self(points, ids, viewdirs, level_weights=level_weights)[1]


class HashGridField(SplitField, nn.Module):
  """Density and colour at world points (Instant-NGP's field).

  A hash-grid encoding of the point in the scene box [-scene_bound,
  scene_bound]^3, a density MLP (log-density through trunc_exp, plus
  features), and the colour from the features and the SH-encoded view
  direction by a small MLP (`color_mode="mlp"`) or as direct SH
  coefficients (`"sh"`).

  Attributes:
    config: hash_*, density_*, geo_features, color_*, sh_degree,
      scene_bound (the instant_ngp method's fields).
  """

  config: Any

  def setup(self):
    c = self.config
    if c.color_mode not in HASHGRID_COLOR_MODES:
      raise ConfigError(f"config.color_mode: unknown {c.color_mode!r}; known: "
                        f"{list(HASHGRID_COLOR_MODES)}")
    self.grid = hashgrid.HashGridEncoding(
        num_levels=c.hash_levels, features_per_level=c.hash_features,
        log2_table_size=c.hash_log2_size,
        min_resolution=c.hash_min_resolution,
        max_resolution=c.hash_max_resolution,
        smooth_gradient=c.hash_smooth_gradient)
    self.density_hidden = [nn.Dense(c.density_width, name=f"density_{i}")
                           for i in range(c.density_layers)]
    num_sh = encoding.sh_basis_size(c.sh_degree)
    out = 1 + (c.geo_features if c.color_mode == "mlp" else 3 * num_sh)
    self.density_out = nn.Dense(out, name="density_out")
    if c.color_mode == "mlp":
      self.color_geo = nn.Dense(c.color_width, name="color_geo")
      self.color_dir = nn.Dense(c.color_width, use_bias=False,
                                name="color_dir")
      self.color_hidden = [nn.Dense(c.color_width, name=f"color_{i}")
                           for i in range(1, c.color_layers)]
      self.color_out = nn.Dense(3, name="color_out")
      # Created only when a caller passes a colour condition.
      self.color_condition = nn.Dense(c.color_width, use_bias=False,
                                      name="color_condition")

  def density(self, points: jax.Array,
              condition: Optional[jax.Array] = None,
              level_weights: Optional[jax.Array] = None
              ) -> tuple[jax.Array, jax.Array]:
    """points: [M, 3] world -> density [M], features [M, D].

    condition: optional [M, C] inputs of the density MLP besides the
    encoding (e.g. an encoded time).
    level_weights: optional [hash_levels] factors of the grid levels'
    features (coarse to fine).
    """
    bound = self.config.scene_bound
    h = self.grid((points + bound) / (2 * bound), level_weights)
    if condition is not None:
      h = jnp.concatenate([h, condition], axis=-1)
    for layer in self.density_hidden:
      h = nn.relu(layer(h))
    h = self.density_out(h)
    return trunc_exp(h[..., 0]), h[..., 1:]

  def color(self, feats: jax.Array, ray_ids: jax.Array, viewdirs: jax.Array,
            condition: Optional[jax.Array] = None) -> jax.Array:
    """rgb [M, 3] from the density MLP's features [M, D] (see __call__)."""
    c = self.config
    sh = encoding.spherical_harmonics(viewdirs, c.sh_degree)  # [N, K]
    if condition is not None and c.color_mode != "mlp":
      raise ConfigError("config.color_mode: a conditioned colour (appearance "
                        "codes) needs color_mode='mlp'")
    if c.color_mode == "mlp":
      # Dense(concat(features, sh)) split in two so the direction term is
      # computed once per ray.
      per_ray = self.color_dir(sh)
      if condition is not None:
        per_ray = per_ray + self.color_condition(condition)
      h = nn.relu(self.color_geo(feats) +
                  jnp.take(per_ray, ray_ids, axis=0, mode="clip"))
      for layer in self.color_hidden:
        h = nn.relu(layer(h))
      rgb = nn.sigmoid(self.color_out(h))
    else:
      coeffs = feats.reshape(feats.shape[:-1] + (3, -1))  # [M, 3, K]
      basis = jnp.take(sh, ray_ids, axis=0, mode="clip")  # [M, K]
      rgb = nn.sigmoid(jnp.sum(coeffs * basis[:, None, :], axis=-1))
    return rgb

  def sh_coefficients(self, points: jax.Array) -> Optional[jax.Array]:
    """The colour's SH coefficients [M, 3, (sh_degree + 1)^2] before the
    sigmoid at points [M, 3] (`color_mode="sh"`, for baking); None for
    `"mlp"`, whose colour baking projects onto SH instead."""
    if self.config.color_mode != "sh":
      return None
    _, feats = self.density(points)
    return feats.reshape(feats.shape[:-1] + (3, -1))
