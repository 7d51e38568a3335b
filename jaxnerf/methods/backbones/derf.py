"""The DeRF backbone (Rebain et al., CVPR 2021, "DeRF: Decomposed Radiance
Fields"): NeRF's sampling and compositing (the MLP backbone,
jaxnerf/methods/backbones/mlp.py) with each level's MLP replaced by N
smaller NeRF heads (N = `derf_heads`) over a Voronoi decomposition of the
scene with learnable sites c_i [N, 3] shared by the levels.

* Training (randomized renders): every sample is evaluated by every head
  and the heads' raw outputs are blended by the soft Voronoi weights
  w_i(x) = softmax_i(-beta ||x - c_i||). beta rises geometrically from
  `derf_beta_init` to `derf_beta_final` over training (progress.fraction),
  so the blend ends near the hard partition the render uses. The sites get
  their gradient through the weights, and the paper's Voronoi loss, N sum_i
  s_i^2 - 1 with s_i head i's share of the compositing weight (0 when the
  heads share it evenly), balances the heads; like the paper's, it moves
  the decomposition only (the compositing weights are held constant in it).
* Rendering (deterministic renders, and the field interface): each sample
  is evaluated by the head of its cell (argmin_i ||x - c_i||) only, by the
  grouped evaluation of jaxnerf/fields/grouped.py: `derf_dispatch`
  "blocks" (the default: samples sorted by head into blocks of one head
  each, the blocks' parameters gathered, one batched einsum; no capacity,
  at most a block of padding a head) or "capacity" (MoE buffers of
  ceil(M / N * derf_capacity_factor) samples a head a round; overflow
  evaluated in further rounds, never dropped, so an unbalanced partition
  costs N times its largest cell). A sample costs one small head, so the
  render's cost does not grow with N. The paper composites
  the cells front to back with the painter's algorithm; evaluating each
  sample of the ordinary ray marching by its cell's head computes the same
  image without sorting the cells.

Total parameters stay those of one NeRF MLP of `netwidth`: with
`derf_head_width` 0 each head is the widest (netwidth_condition scaled
alike) whose N copies have at most that network's parameters
(`head_widths`), so N = 1 is that network exactly.

Blending the raw outputs (before the density and colour activations)
rather than the activated ones, as the paper's code does, keeps the
backbone's activations in one place; the two agree on the hard partition.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding, grouped, networks
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp


def config_fields() -> ml_collections.ConfigDict:
  """The MLP backbone's fields plus the decomposition's."""
  c = mlp.config_fields()
  c.derf_heads = 8  # N, the Voronoi cells (the paper's 8 to 64)
  # Each head's trunk width; 0: the widest keeping N heads within one
  # netwidth network's parameters (head_widths).
  c.derf_head_width = 0
  # Samples a head takes per round of the hard render, as a multiple of an
  # even share (M / N); more rounds run where a cell holds more.
  c.derf_capacity_factor = 1.25
  # How the hard render groups samples by head (jaxnerf/fields/grouped.py):
  # "blocks", blocks of rows each of one head, no capacity (the cost is
  # the samples plus a block of padding a head, whatever the balance);
  # "capacity", MoE-style buffers of derf_capacity_factor an even share a
  # head, more rounds where a cell holds more.
  c.derf_dispatch = "blocks"
  # The soft Voronoi weights' sharpness (per unit of distance), rising
  # geometrically over training.
  c.derf_beta_init = 1.0
  c.derf_beta_final = 100.0
  c.derf_balance_mult = 1e-3  # the Voronoi (balance) loss
  # From this fraction of training on, training evaluates each sample by
  # its cell's head only (block dispatch; the sites then stay), as the
  # paper's second stage trains heads on a fixed decomposition; 1: never.
  c.derf_hard_after = 1.0
  c.derf_site_bound = 1.0  # sites start uniform in [-bound, bound]^3
  c.update(base.schedule_fields("derf_site_", 1e-3, 1e-4))
  return c


DISPATCHES = ("blocks", "capacity")


def check_config(c) -> None:
  """Raises ConfigError naming the field of a bad decomposition setting."""
  base.check_integer_fields(c, (("derf_heads", 1), ("derf_head_width", 0)))
  if not 0 <= c.derf_hard_after <= 1:
    raise ConfigError(f"config.derf_hard_after: {c.derf_hard_after!r} must "
                      "be in [0, 1]")
  for name in ("derf_capacity_factor", "derf_beta_init", "derf_beta_final",
               "derf_site_bound"):
    if not c[name] > 0:
      raise ConfigError(f"config.{name}: {c[name]!r} must be > 0")
  if c.derf_dispatch not in DISPATCHES:
    raise ConfigError(f"config.derf_dispatch: unknown {c.derf_dispatch!r}; "
                      f"known: {list(DISPATCHES)}")
  if not c.derf_balance_mult >= 0:
    raise ConfigError(f"config.derf_balance_mult: {c.derf_balance_mult!r} "
                      "must be >= 0")
  if mlp.sh_degree(c) >= 0:
    raise ConfigError("config.sh_degree: derf heads have NeRF's "
                      "view-conditioned colour only (sh_degree -1)")


def _input_sizes(c) -> tuple[int, int]:
  """(encoded position size, encoded direction size (0: no viewdirs))."""
  dx = encoding.positional_encoding_size(3, c.min_deg_point, c.max_deg_point,
                                         c.include_input)
  dv = (encoding.positional_encoding_size(3, 0, c.deg_view, True)
        if c.use_viewdirs else 0)
  return dx, dv


def layer_shapes(c, width: int, width_condition: int
                 ) -> list[tuple[str, int, int]]:
  """(name, inputs, outputs) of one head's dense layers: NeRF's MLP
  (jaxnerf.fields.networks.MLP) of this width."""
  dx, dv = _input_sizes(c)
  shapes, width_in = [], dx
  for i in range(c.netdepth):
    shapes.append((f"trunk_{i}", width_in, width))
    width_in = width
    if c.skip_layer and i % c.skip_layer == 0 and i > 0:
      width_in += dx
  shapes.append(("density", width_in, 1))
  if not c.use_viewdirs:
    return shapes + [("rgb", width_in, 3)]
  shapes.append(("bottleneck", width_in, width))
  shapes.append(("colour_0", width + dv, width_condition))
  for i in range(1, c.netdepth_condition):
    shapes.append((f"colour_{i}", width_condition, width_condition))
  return shapes + [("rgb", width_condition, 3)]


def head_parameters(c, width: int, width_condition: int) -> int:
  """One head's parameter count."""
  return sum(i * o + o for _, i, o in layer_shapes(c, width, width_condition))


def head_widths(c) -> tuple[int, int]:
  """(trunk width, colour width) of each head: `derf_head_width` (colour
  width scaled alike), or with 0 the widest whose derf_heads copies have
  at most the parameters of one head of netwidth (NeRF's MLP)."""
  scaled = lambda w: max(1, round(c.netwidth_condition * w / c.netwidth))
  if c.derf_head_width:
    return c.derf_head_width, scaled(c.derf_head_width)
  budget = head_parameters(c, c.netwidth, c.netwidth_condition)
  for w in range(c.netwidth, 0, -1):
    if c.derf_heads * head_parameters(c, w, scaled(w)) <= budget:
      return w, scaled(w)
  return 1, 1


def heads_forward(params: dict, c, x: jax.Array,
                  view: Optional[jax.Array]) -> tuple[jax.Array, jax.Array]:
  """The N heads on rows: (raw rgb [N, C, 3], raw density [N, C, 1]).

  Args:
    params: {layer name: (kernel [N, in, out], bias [N, out])}.
    x: [C, Dx] encoded positions for every head, or [N, C, Dx] each
      head's own.
    view: encoded directions [C, Dv] or [N, C, Dv] likewise, or None.
  """
  dense = lambda name, h: grouped.stacked_dense(*params[name], h)
  h = x
  for i in range(c.netdepth):
    h = nn.relu(dense(f"trunk_{i}", h))
    if c.skip_layer and i % c.skip_layer == 0 and i > 0:
      h = jnp.concatenate(
          [h, jnp.broadcast_to(x, h.shape[:2] + x.shape[-1:])], axis=-1)
  density = dense("density", h)
  if view is None:
    return dense("rgb", h), density
  view = jnp.broadcast_to(view, h.shape[:2] + view.shape[-1:])
  h = jnp.concatenate([dense("bottleneck", h), view], axis=-1)
  for i in range(c.netdepth_condition):
    h = nn.relu(dense(f"colour_{i}", h))
  return dense("rgb", h), density


def voronoi_weights(points: jax.Array, sites: jax.Array,
                    beta: jax.Array) -> jax.Array:
  """Soft Voronoi weights [M, N] = softmax_i(-beta ||x - c_i||) of points
  [M, 3] over sites [N, 3]; each row sums to one."""
  dist = jnp.linalg.norm(points[:, None, :] - sites[None], axis=-1)
  return jax.nn.softmax(-beta * dist, axis=-1)


def voronoi_cells(points: jax.Array, sites: jax.Array) -> jax.Array:
  """The hard partition: [M] int32 index of each point's nearest site."""
  dist = jnp.sum((points[:, None, :] - sites[None]) ** 2, axis=-1)
  return jnp.argmin(dist, axis=-1).astype(jnp.int32)


def beta_at(c, progress: Optional[base.Progress]) -> jax.Array:
  """The soft weights' sharpness at `progress`: geometric from
  derf_beta_init to derf_beta_final over the soft part of training (up to
  derf_hard_after); the final value without progress."""
  f = 1.0 if progress is None else jnp.clip(
      progress.fraction / max(c.derf_hard_after, 1e-6), 0.0, 1.0)
  return c.derf_beta_init * (c.derf_beta_final / c.derf_beta_init) ** f


class DerfHeads(nn.Module):
  """One level's N heads, parameters stacked [N, ...].

  Called like fields.MLP, on x [N_rays, S, Dx + 3] (the encoded position
  with the raw point last, `Derf._field_input`) and condition [N_rays,
  Dv]: returns raw rgb [N_rays, S, 3], raw density [N_rays, S, 1] and each
  sample's weights over the heads [N_rays, S, N] (soft in training, one-
  hot in the hard render), which the backbone's `render_samples` reads.
  """

  config: Any
  width: int
  width_condition: int

  def setup(self):
    c = self.config
    n = c.derf_heads
    kernel_init = nn.initializers.glorot_uniform(in_axis=-2, out_axis=-1,
                                                 batch_axis=(0,))
    self.layers = grouped.stacked_params(
        self, layer_shapes(c, self.width, self.width_condition), n,
        kernel_init)

  def __call__(self, x: jax.Array, condition: Optional[jax.Array] = None, *,
               sites: jax.Array, soft: bool = False,
               progress: Optional[base.Progress] = None):
    c = self.config
    num_rays, num_samples = x.shape[:2]
    m = num_rays * num_samples
    points = x[..., -3:].reshape(m, 3)
    x = x[..., :-3].reshape(m, -1)
    view = None
    if condition is not None:
      view = jnp.repeat(condition, num_samples, axis=0)  # [M, Dv]
    params = dict(self.layers)
    unflatten = lambda y: y.reshape(num_rays, num_samples, y.shape[-1])

    def blended(params, sites):
      """(raw [M, 4], weights [M, N], stats): every head, softly."""
      weights = voronoi_weights(points, sites, beta_at(c, progress))
      raw = jnp.concatenate(heads_forward(params, c, x, view), axis=-1)
      zero = jnp.int32(0)
      return jnp.einsum("gmk,mg->mk", raw, weights), weights, (
          zero, zero, jnp.int32(m * c.derf_heads))

    def hard(params, sites, dispatch=c.derf_dispatch):
      """(raw [M, 4], one-hot weights [M, N], stats): the cell's head."""
      cells = voronoi_cells(points, sites)
      raw, stats = self._grouped(params, x, view, cells, dispatch)
      return raw, jax.nn.one_hot(cells, c.derf_heads), stats

    if not soft:
      raw, weights, stats = hard(params, sites)
    elif c.derf_hard_after >= 1 or progress is None:
      raw, weights, stats = blended(params, sites)
    else:  # the paper's second stage: heads on fixed cells
      # Blocks: differentiable (the capacity dispatch's loop is not).
      raw, weights, stats = jax.lax.cond(
          progress.fraction < c.derf_hard_after, blended,
          functools.partial(hard, dispatch="blocks"), params, sites)
    # The bench reads these with mutable=["intermediates"]; elsewhere a
    # no-op.
    for name, value in zip(("overflow", "rounds", "evaluated"), stats):
      self.sow("intermediates", name, value)
    return (unflatten(raw[:, :3]), unflatten(raw[:, 3:]), unflatten(weights))

  def _grouped(self, params: dict, x: jax.Array, view: Optional[jax.Array],
               cells: jax.Array, dispatch: str):
    """(raw [M, 4] of each sample's own head, (overflow, rounds, head
    rows evaluated)): x [M, Dx], view [M, Dv] or None, cells [M]; by the
    `dispatch` of derf_dispatch."""
    c = self.config
    m, dx = x.shape
    rows = x if view is None else jnp.concatenate([x, view], axis=-1)

    def run(p, buffer):  # [K, rows, Dx + Dv] -> [K, rows, 4]
      out = heads_forward(p, c, buffer[..., :dx],
                          None if view is None else buffer[..., dx:])
      return jnp.concatenate(out, axis=-1)

    n = c.derf_heads
    if dispatch == "blocks":
      out, evaluated = grouped.blocked_apply(
          run, params, rows, cells, n, grouped.block_size(m, n))
      return out, (jnp.int32(0), jnp.int32(1), evaluated.astype(jnp.int32))
    cap = grouped.capacity(m, n, c.derf_capacity_factor)
    out, d = grouped.grouped_apply(functools.partial(run, params), rows,
                                   cells, n, cap)
    return out, (d.overflow, d.rounds, d.rounds * n * cap)


class Derf(mlp.Nerf):
  """NeRF's levels, each on N Voronoi heads (see the module docstring)."""

  def setup(self):
    c = self.config
    check_config(c)
    self.refuse_components("derf")
    width, width_condition = head_widths(c)
    self.coarse_mlp = DerfHeads(c, width, width_condition)
    if c.num_fine_samples > 0:
      self.fine_mlp = DerfHeads(c, width, width_condition)
    bound = c.derf_site_bound
    self.sites = self.param(
        "derf_sites", lambda key, shape: jax.random.uniform(
            key, shape, jnp.float32, -bound, bound), (c.derf_heads, 3))
    self.density_activation = networks.activation(c.density_activation,
                                                  "density_activation")
    self.rgb_activation = networks.activation(c.rgb_activation,
                                              "rgb_activation")

  def _field_input(self, points, time, level, progress):
    """The heads' input: the encoded (warped) points with the points
    themselves last, [N, S, Dx + 3] (the heads split them off)."""
    points, condition, stats = self.warp_dense(points, time, level)
    x = base.joined(self._encode_points(points, progress), condition)
    return jnp.concatenate([x, points], axis=-1), stats

  def _render_level(self, heads, level, key, rays, t, randomized,
                    progress=None):
    return super()._render_level(
        functools.partial(heads, sites=self.sites, soft=randomized,
                          progress=progress),
        level, key, rays, t, randomized, progress)

  def _final_mlp(self):
    return functools.partial(super()._final_mlp(), sites=self.sites)

  def render_samples(self, out, level, layout, features, rgb, density,
                     camera, progress):
    """Adds `head_mass` [N_rays, N]: each head's share of the ray's
    compositing weight (features: the samples' head weights [M, N]), for
    the Voronoi loss; the weights held constant (the loss moves the
    decomposition only)."""
    n, s = out["weights"].shape
    mass = jnp.sum(jax.lax.stop_gradient(out["weights"])[..., None]
                   * features.reshape(n, s, -1), axis=1)
    return {**out, "head_mass": mass}


def balance(head_mass: jax.Array) -> jax.Array:
  """The Voronoi loss N sum_i s_i^2 - 1 of per-ray head masses [N_rays,
  N]: s_i = head i's share of the batch's compositing weight; 0 when the
  heads share it evenly, N - 1 when one head takes it all."""
  total = jnp.sum(head_mass, axis=0)
  share = total / jnp.maximum(jnp.sum(total), 1e-10)
  return head_mass.shape[-1] * jnp.sum(share**2) - 1.0


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  terms = mlp.loss_terms(config, outputs, rays, rgb, params)
  if config.derf_balance_mult > 0:
    terms["voronoi"] = config.derf_balance_mult * sum(
        balance(level["head_mass"]) for level in outputs
        if "head_mass" in level)
  return terms


BACKBONE = base.Backbone(
    name="derf",
    fields=config_fields,
    build=lambda config, scene, components: Derf(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    param_groups=(base.ParamGroup(
        "sites", prefix="derf_site_",
        match=lambda path: bool(path) and path[-1] == "derf_sites"),),
)
