"""KiloNeRF's field (Reiser et al., ICCV 2021, "KiloNeRF: Speeding up
Neural Radiance Fields with Thousands of Tiny MLPs"): the scene box cut
into G^3 cells, each cell's points evaluated by its own tiny MLP.

Each network is the paper's (its reference code's `late_feed_direction`
network): the point in the cell's local coordinates [-1, 1]^3,
positionally encoded (`kilo_pos_freqs` bands, no factor pi, the input
kept), `kilo_layers` ReLU layers of `kilo_width`, then the density and a
linear feature layer; the feature with the encoded view direction
(`kilo_dir_freqs` bands) through one ReLU layer of `kilo_dir_width` to
the colour. Density through trunc_exp (log-density, as the hash-grid
field it is distilled from here), colour through a sigmoid.

The networks' parameters are stacked ([G^3, in, out] kernels), and each
point is evaluated by its own network only, by the block dispatch of
jaxnerf/fields/grouped.py (points sorted by cell into blocks of one
network each, the blocks' parameters gathered, one batched einsum a
layer): the cost of a point is one tiny network, whatever G.

Same interface as networks.HashGridField (`density`, `color`, `__call__`,
`radiance`), so the hash-grid backbone's occupancy grid, marcher and
compositing render it unchanged; the features `density` hands to `color`
are (feature [M, W], cell [M], the valid mask or None); the packed
samples' padding is left out of both passes.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding, grouped
from jaxnerf.fields import networks
from jaxnerf.fields.networks import trunc_exp


def num_networks(c) -> int:
  return c.kilo_resolution**3


def layer_shapes(c) -> list[tuple[str, int, int]]:
  """(name, inputs, outputs) of one tiny network's dense layers."""
  dx = encoding.positional_encoding_size(3, 0, c.kilo_pos_freqs, True)
  dv = encoding.positional_encoding_size(3, 0, c.kilo_dir_freqs, True)
  w = c.kilo_width
  shapes = [("trunk_0", dx, w)]
  shapes += [(f"trunk_{i}", w, w) for i in range(1, c.kilo_layers)]
  # Density and feature share one matmul (the reference fuses them too).
  return shapes + [("head", w, 1 + w), ("direction", w + dv, c.kilo_dir_width),
                   ("rgb", c.kilo_dir_width, 3)]


def network_parameters(c) -> int:
  """One tiny network's parameter count."""
  return sum(i * o + o for _, i, o in layer_shapes(c))


def cells_and_local(points: jax.Array, bound: float, resolution: int
                    ) -> tuple[jax.Array, jax.Array]:
  """(cell [M] int32, flat index x fastest; local [M, 3] coordinates in
  [-1, 1]^3 of the cell) of world points [M, 3] in [-bound, bound]^3
  (points outside are clipped to the border cells)."""
  u = (points + bound) / (2 * bound) * resolution
  ijk = jnp.clip(jnp.floor(u), 0, resolution - 1)
  local = jnp.clip(2 * (u - ijk) - 1, -1.0, 1.0)
  ijk = ijk.astype(jnp.int32)
  cell = ijk[:, 0] + resolution * (ijk[:, 1] + resolution * ijk[:, 2])
  return cell, local


def block_rows(c, num_items: int) -> int:
  """Rows of a dispatch block: `kilo_block`, or with 0 an even share of
  the points over the networks (at least 16, at most 256): the static
  padding bound is a block a network, so blocks stay small when the
  networks are many."""
  if c.kilo_block:
    return min(c.kilo_block, num_items)
  return min(256, grouped.block_size(num_items, num_networks(c),
                                     blocks_per_group=1, minimum=16))


def _dense(params: dict, name: str, x: jax.Array) -> jax.Array:
  kernel, bias = params[name]
  return grouped.stacked_dense(kernel, bias, x)


def trunk_names(layers: int) -> list[str]:
  """The layers `trunk` reads."""
  return [f"trunk_{i}" for i in range(layers)] + ["head"]


HEAD_NAMES = ["direction", "rgb"]


def trunk(params: dict, x: jax.Array, layers: int) -> jax.Array:
  """The networks' position part: params {name: (kernel [K, in, out], bias
  [K, out])}, x [K, B, Dx] (block k's encoded local points) -> [K, B,
  1 + W] (log-density, feature)."""
  h = x
  for i in range(layers):
    h = nn.relu(_dense(params, f"trunk_{i}", h))
  return _dense(params, "head", h)


def head(params: dict, h: jax.Array) -> jax.Array:
  """The view-dependent part: h [K, B, W + Dv] (feature, encoded view
  direction) -> [K, B, 3] colour logits."""
  return _dense(params, "rgb", nn.relu(_dense(params, "direction", h)))


def shade(params: dict, x: jax.Array, layers: int, pos_freqs: int,
          dir_freqs: int) -> jax.Array:
  """Both parts at once: x [K, B, 6] (block k's local points in [-1, 1]^3
  and unit view directions) -> [K, B, 4] (log-density, colour logits),
  encoded inside the block (a dispatch then moves 6 values a point, not
  the encodings' 90)."""
  out = trunk_at(params, x[..., :3], layers, pos_freqs)
  rgb = head_at(params, out[..., 1:], x[..., 3:], dir_freqs)
  return jnp.concatenate([out[..., :1], rgb], axis=-1)


def trunk_at(params: dict, local: jax.Array, layers: int,
             pos_freqs: int) -> jax.Array:
  """`trunk` of local points [K, B, 3], encoded here."""
  return trunk(params, encoding.positional_encoding(local, 0, pos_freqs,
                                                    True), layers)


def head_at(params: dict, feature: jax.Array, viewdirs: jax.Array,
            dir_freqs: int) -> jax.Array:
  """`head` of features [K, B, W] and unit view directions [K, B, 3],
  encoded here."""
  return head(params, jnp.concatenate(
      [feature, encode_directions(viewdirs, dir_freqs)], axis=-1))


def encode_directions(viewdirs: jax.Array, freqs: int) -> jax.Array:
  """Encoded unit view directions [N, Dv]."""
  return encoding.positional_encoding(viewdirs, 0, freqs, True)


class KiloField(networks.SplitField, nn.Module):
  """G^3 tiny MLPs over the scene box (see the module docstring).

  Attributes:
    config: kilo_* fields and scene_bound.
  """

  config: Any

  def setup(self):
    c = self.config
    n = num_networks(c)
    kernel_init = nn.initializers.variance_scaling(
        2.0, "fan_in", "uniform", in_axis=-2, out_axis=-1, batch_axis=(0,))
    self.layers = grouped.stacked_params(self, layer_shapes(c), n,
                                         kernel_init)

  def _grouped(self, fn, names, rows: jax.Array, cells: jax.Array,
               valid: Optional[jax.Array]):
    params = {name: self.layers[name] for name in names}
    out, _ = grouped.blocked_apply(fn, params, rows, cells,
                                   num_networks(self.config),
                                   block_rows(self.config, rows.shape[0]),
                                   valid)
    return out

  def density(self, points: jax.Array,
              condition: Optional[jax.Array] = None,
              level_weights: Optional[jax.Array] = None,
              valid: Optional[jax.Array] = None) -> tuple[jax.Array, tuple]:
    """points: [M, 3] world -> density [M], features (feature [M, W],
    cell [M], valid). `valid`: optional [M] bool, the points evaluated
    (the others, a render's padding, cost nothing and get density 1 and
    zero features). `condition` and `level_weights` (a hash grid's) must
    be None: the tiny networks take neither."""
    if condition is not None or level_weights is not None:
      raise ConfigError("kilonerf: the tiny networks take no density "
                        "condition or level weights (no components)")
    c = self.config
    cells, local = cells_and_local(points, c.scene_bound, c.kilo_resolution)
    # Encoded before the dispatch: encoding inside the blocks, as the
    # render does, was no faster for a training step's gradient.
    x = encoding.positional_encoding(local, 0, c.kilo_pos_freqs, True)
    out = self._grouped(lambda p, h: trunk(p, h, c.kilo_layers),
                        trunk_names(c.kilo_layers), x, cells, valid)
    return trunc_exp(out[:, 0]), (out[:, 1:], cells, valid)

  def color(self, feats: tuple, ray_ids: jax.Array,
            viewdirs: jax.Array, condition: Optional[jax.Array] = None
            ) -> jax.Array:
    """rgb [M, 3] from `density`'s features, the ray of each point [M]
    and the rays' unit directions [N, 3]."""
    if condition is not None:
      raise ConfigError("kilonerf: the tiny networks take no colour "
                        "condition (no appearance component)")
    c = self.config
    feature, cells, valid = feats
    view = encode_directions(viewdirs, c.kilo_dir_freqs)
    rows = jnp.concatenate(
        [feature, jnp.take(view, ray_ids, axis=0, mode="clip")], axis=-1)
    return nn.sigmoid(self._grouped(head, HEAD_NAMES, rows, cells, valid))

  def stacked_layers(self) -> dict:
    """The G^3 networks' parameters {name: (kernel [G^3, in, out], bias
    [G^3, out])} (what a baked scene keeps to render with them)."""
    return dict(self.layers)

  def sh_coefficients(self, points: jax.Array) -> None:
    """No SH colour (baking projects the colour onto SH instead)."""
    del points
    return None
