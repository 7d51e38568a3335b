"""The KiloNeRF backbone (Reiser et al., ICCV 2021): the hash-grid
backbone's occupancy grid, packed marcher (empty space skipped, rays
stopped once the grid's transmittance estimate is spent) and compositing,
on a field of G^3 tiny MLPs (jaxnerf/fields/kilo.py) in place of the hash
grid.

The paper's recipe is distillation from a trained teacher, then
fine-tuning on the images: the engine's distillation phase does the first
(`teacher_config`, `distill_steps`: jaxnerf/engine/distill.py, any
method's field as the teacher), the ordinary train step the second. The
occupancy grid follows the student's own density throughout, as the hash
grid's does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.errors import ConfigError
from jaxnerf.fields import kilo
from jaxnerf.render import samplers
from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid


def config_fields() -> ml_collections.ConfigDict:
  """The hash-grid backbone's fields (its occupancy grid and marcher; the
  hash_* fields unused) plus the tiny networks'."""
  c = hashgrid.config_fields()
  # Networks per axis over the scene box: G^3 of them. The paper's lego
  # has 9 x 16 x 10 over the object's bounding box (cells of about 0.14
  # units); 16 over the 3-unit box gives cells of 0.19.
  c.kilo_resolution = 16
  c.kilo_width = 32  # the paper's hidden width
  c.kilo_layers = 2  # hidden ReLU layers before the density
  c.kilo_dir_width = 32  # the view-dependent layer
  c.kilo_pos_freqs = 10  # bands of the local position's encoding
  c.kilo_dir_freqs = 4  # bands of the direction's encoding
  # Rows of a dispatch block (0: an even share, 16 to 256; see
  # jaxnerf/fields/kilo.py's block_rows).
  c.kilo_block = 0
  # The paper puts L2 1e-6 on the view-dependent layers only; the engine's
  # weight decay would take every kernel of the tiny networks: off.
  c.weight_decay_mult = 0.0
  return c


def check_config(c) -> None:
  base.check_integer_fields(c, (
      ("kilo_resolution", 1), ("kilo_width", 1), ("kilo_layers", 1),
      ("kilo_dir_width", 1), ("kilo_pos_freqs", 0), ("kilo_dir_freqs", 0),
      ("kilo_block", 0)))
  if c.get("sampler", "occupancy") != "occupancy":
    raise ConfigError(f"config.sampler: {c.sampler!r}: KiloNeRF marches "
                      "the occupancy grid (empty space skipping) only")
  if c.contraction != "none":
    raise ConfigError(f"config.contraction: {c.contraction!r}: the tiny "
                      "networks tile the bounded scene box only")


class KiloModel(hashgrid.HashGridModel):
  """The hash-grid backbone's pipeline on KiloNeRF's field."""

  def setup(self):
    c = self.config
    check_config(c)
    self.refuse_components("kilo")
    self.field = kilo.KiloField(config=c)
    self.proposals = []
    self.grid = self.variable("occupancy", "grid",
                              lambda: samplers.initial_grid(c))

  def field_density(self, points, condition, grid_weights, valid):
    """The networks at packed samples, the budget's padding left out."""
    return self.field.density(points, condition, grid_weights, valid)

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] of the networks at world points [M, 3] (zero outside
    the box), not masked by the occupancy grid: distillation fits the
    field everywhere, and the grid follows it."""
    del progress
    inside = jnp.all(jnp.abs(points) <= self.config.scene_bound, axis=-1)
    return jnp.where(inside, self.field.density(points)[0], 0.0)

  def rendered_density(self, points: jax.Array) -> jax.Array:
    """`density` as rendered: zero in the cells the occupancy grid marks
    empty (the marcher never samples them, so the networks there are
    unsupervised after distillation: a bake without this mask kept 97 % of
    the lego's blocks)."""
    return hashgrid.HashGridModel.density(self, points)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    del progress
    return self.field.radiance(points, viewdirs)

  def tiny_networks(self) -> tuple[dict, dict]:
    """(the networks' stacked layers, their spec): what bake.py keeps so
    that the baked scene renders with the networks themselves
    (jaxnerf/baked/bake.py's `networks`)."""
    c = self.config
    return self.field.stacked_layers(), dict(
        resolution=c.kilo_resolution, layers=c.kilo_layers,
        pos_freqs=c.kilo_pos_freqs, dir_freqs=c.kilo_dir_freqs,
        bound=float(c.scene_bound))


BACKBONE = base.Backbone(
    name="kilo",
    fields=config_fields,
    build=lambda config, scene, components: KiloModel(
        config=config, scene=scene, components=components),
    loss_terms=hashgrid.loss_terms,
    # The paper fine-tunes at 1e-3 for a million steps; in a few thousand
    # 5e-3 distils and fine-tunes further (docs/BENCHMARKS.md, KN2, KN3).
    engine_defaults={**hashgrid.ENGINE_DEFAULTS, "lr_init": 5e-3,
                     "lr_final": 1e-4},
)
