"""FastNeRF (Garbin et al., ICCV 2021): the field factorised into a
position branch and a direction branch whose outputs are cached apart.

  F_pos(x) -> sigma, (u_i, v_i, w_i) for i = 1..D  (D = fastnerf_components)
  F_dir(d) -> beta_i                                 (i = 1..D)
  colour = sigmoid(sum_i beta_i (u_i, v_i, w_i))

The position branch here is Instant-NGP's hash grid and density MLP (the
hash-grid backbone, jaxnerf/methods/backbones/hashgrid.py, with its
occupancy grid and marcher): the paper's 8-layer MLP trains for days on a
GPU; on 2 CPU cores the hash grid reaches a usable field in minutes, and the
factorisation, which is what the cache needs, is the same. The direction
branch is a small MLP on the SH-encoded direction.

The colour has the form of direct SH colour (`color_mode="sh"`: a sum of
per-point coefficients times a basis of the direction) with a learned
basis, so the cache is the baked grid's (jaxnerf/baked/bake.py): the
position branch's density and D x 3 components at the vertices of the kept
blocks, and beta on a grid of directions (`direction_table`); the baked
renderer marches it with lookups only (jaxnerf/baked/render.py).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding, hashgrid as hashgrid_encoding, networks
from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid


def config_fields() -> ml_collections.ConfigDict:
  """The hash-grid backbone's fields plus the factorisation's."""
  c = hashgrid.config_fields()
  # D, the components of the position branch per colour channel (the
  # paper's 8) and the outputs of the direction branch.
  c.fastnerf_components = 8
  # The direction branch: an MLP of this many hidden layers and width on
  # the SH encoding of degree fastnerf_dir_degree of the direction.
  c.fastnerf_dir_layers = 2
  c.fastnerf_dir_width = 32
  c.fastnerf_dir_degree = 3
  return c


def check_config(c) -> None:
  """Raises ConfigError naming the field of a bad factorisation setting."""
  base.check_integer_fields(c, (
      ("fastnerf_components", 1), ("fastnerf_dir_layers", 0),
      ("fastnerf_dir_width", 1), ("fastnerf_dir_degree", 0)))
  if c.fastnerf_dir_degree > encoding.MAX_SH_DEGREE:
    raise ConfigError(f"config.fastnerf_dir_degree: {c.fastnerf_dir_degree} "
                      f"is above {encoding.MAX_SH_DEGREE}")


class FastNerfField(networks.HashGridField):
  """The factorised field: `density` (the position branch's sigma and its
  3 x D components as features), `direction_weights` (the direction
  branch) and the colour from both."""

  def setup(self):
    c = self.config
    check_config(c)
    self.grid = hashgrid_encoding.HashGridEncoding(
        num_levels=c.hash_levels, features_per_level=c.hash_features,
        log2_table_size=c.hash_log2_size,
        min_resolution=c.hash_min_resolution,
        max_resolution=c.hash_max_resolution,
        smooth_gradient=c.hash_smooth_gradient)
    self.density_hidden = [nn.Dense(c.density_width, name=f"density_{i}")
                           for i in range(c.density_layers)]
    self.density_out = nn.Dense(1 + 3 * c.fastnerf_components,
                                name="density_out")
    self.dir_hidden = [nn.Dense(c.fastnerf_dir_width, name=f"dir_{i}")
                       for i in range(c.fastnerf_dir_layers)]
    self.dir_out = nn.Dense(c.fastnerf_components, name="dir_out")

  def direction_weights(self, viewdirs: jax.Array) -> jax.Array:
    """beta [M, D] of unit directions [M, 3] (F_dir)."""
    h = encoding.spherical_harmonics(viewdirs,
                                     self.config.fastnerf_dir_degree)
    for layer in self.dir_hidden:
      h = nn.relu(layer(h))
    return self.dir_out(h)

  def position_components(self, points: jax.Array) -> jax.Array:
    """(u, v, w) [M, 3, D] at points [M, 3] (F_pos's colour part)."""
    _, feats = self.density(points)
    return feats.reshape(feats.shape[:-1] + (3, -1))

  def color(self, feats: jax.Array, ray_ids: jax.Array, viewdirs: jax.Array,
            condition: Optional[jax.Array] = None) -> jax.Array:
    """rgb [M, 3] = sigmoid(sum_i beta_i(d) (u_i, v_i, w_i)): feats [M,
    3 D] of the position branch, viewdirs [N, 3] one per ray, ray_ids
    [M]."""
    if condition is not None:
      raise ConfigError("config.method: fastnerf has no conditioned colour "
                        "(appearance codes)")
    beta = self.direction_weights(viewdirs)  # once per ray
    coeffs = feats.reshape(feats.shape[:-1] + (3, -1))
    beta = jnp.take(beta, ray_ids, axis=0, mode="clip")
    return factorised_colour(coeffs, beta)

  def sh_coefficients(self, points: jax.Array) -> None:
    """None: the colour is not SH (the cache bakes `position_components`)."""
    return None


def factorised_colour(coeffs: jax.Array, beta: jax.Array) -> jax.Array:
  """sigmoid(sum_i beta_i c_i): coeffs [M, 3, D], beta [M, D] -> [M, 3]."""
  return jax.nn.sigmoid(jnp.sum(coeffs * beta[:, None, :], axis=-1))


class FastNerfModel(hashgrid.HashGridModel):
  """The hash-grid backbone's model with the factorised field; adds the
  two branches the cache samples (`position_components`,
  `direction_weights`)."""

  def setup(self):
    c = self.config
    from jaxnerf.render import samplers
    samplers.check_config(c)
    self.setup_components()
    self.field = FastNerfField(config=c)
    self.proposals = samplers.proposal_densities(c)
    self.grid = self.variable("occupancy", "grid",
                              lambda: samplers.initial_grid(c))

  def position_components(self, points: jax.Array) -> jax.Array:
    """The position branch's (u, v, w) [M, 3, D] at world points [M, 3]."""
    return self.field.position_components(self._at_time_zero(points)[0])

  def direction_weights(self, viewdirs: jax.Array) -> jax.Array:
    """The direction branch's beta [M, D] of unit directions [M, 3]."""
    return self.field.direction_weights(viewdirs)


BACKBONE = dataclasses.replace(
    hashgrid.BACKBONE, fields=config_fields,
    build=lambda config, scene, components: FastNerfModel(
        config=config, scene=scene, components=components))

METHOD = base.compose("fastnerf", {"hashgrid": BACKBONE})
