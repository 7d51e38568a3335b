"""D-NeRF for CPU budgets: a hash-grid canonical field with a small
deformation MLP, sampled by the occupancy grid's marcher or by proposal
fields (`sampler`, as instant_ngp), and its T-NeRF baseline with
`deformation = False`.

Why this variant: of the two the issue offers (a hash-grid canonical field
with a small deformation MLP, or a space-time grid factorisation such as
K-Planes), it reuses the pieces the library already trains fast on this CPU
(Instant-NGP's hash grid, occupancy grid and packed marcher; their speed on
the static embedded lego: docs/BENCHMARKS.md, row I6), keeps D-NeRF's own
structure (a canonical scene at t = 0 and a deformation into it, exactly
zero at t = 0), and adds only one small MLP per sample; TiNeuVox makes the
same choice (a voxel-grid field with a tiny deformation MLP). A factorised
space-time grid would be a new encoding with its own regularisers.

* Deformation: dx = MLP(enc(x), enc(t)) (`deform_depth` layers of
  `deform_width`; x with `deform_max_deg_point` frequencies, t with
  `max_deg_time`), zero at t = 0, its last layer starting at zero; its own
  Adam (`deform_lr_*`: the hash table's 1e-2 is too much for an MLP).
* Canonical field: `fields.HashGridField` at x + dx (Instant-NGP's fields).
* T-NeRF: no deformation; the encoded time joins the hash features at the
  density MLP's input.
* Occupancy grid in world space, refreshed from the density at uniformly
  random times (as nerfacc's dynamic examples), so it covers every place
  the scene occupies at some time. Proposal fields are time-blind for the
  same reason: the interlevel loss only penalises weight a proposal misses,
  so they learn the union over time, which bounds every time's weights.

The field interface (`density`, `radiance`) is the scene at time 0.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import encoding, networks
from jaxnerf.render import compositing, losses
from jaxnerf.render import samplers
from jaxnerf.methods import base, dnerf
from jaxnerf.methods.backbones import hashgrid
from jaxnerf.core.rays import Rays


def config_fields() -> ml_collections.ConfigDict:
  c = hashgrid.grid_fields()
  c.update(dnerf.time_fields())
  c.max_deg_time = 6
  c.deform_depth = 2
  c.deform_width = 64
  c.deform_max_deg_point = 6
  c.deform_lr_init = 1e-3
  c.deform_lr_final = 1e-4
  c.deform_lr_delay_steps = 0
  c.deform_lr_delay_mult = 1.0
  samplers.add_sampler_fields(c)
  return c


class DNerfNgp(nn.Module):
  """Deformation MLP -> hash-grid canonical field, marched through an
  occupancy grid of the scene at all times."""

  config: Any  # base_config plus config_fields()

  def setup(self):
    c = self.config
    samplers.check_config(c)
    # The deformation learns through the canonical field's gradient with
    # respect to its input points (the hash grid passes it on).
    self.field = networks.HashGridField(config=c)
    if c.deformation:
      self.deform = dnerf.DeformationMLP(c.deform_depth, c.deform_width, 0)
    self.proposals = samplers.proposal_densities(c)
    self.grid = self.variable("occupancy", "grid",
                              lambda: samplers.initial_grid(c))

  @property
  def state_update_every(self) -> int:
    return samplers.state_update_every(self.config)

  def canonical(self, points: jax.Array, time: jax.Array):
    """(canonical points [M, 3], density condition [M, D] or None,
    displacement [M, 3]) of world points [M, 3] at times [M, 1]."""
    c = self.config
    t_enc = dnerf.encode_time(time, c)
    if not c.deformation:
      return points, t_enc, jnp.zeros_like(points)
    x_enc = encoding.positional_encoding(points, 0, c.deform_max_deg_point,
                                         True)
    dx = dnerf.zero_at_canonical_time(self.deform(x_enc, t_enc), time)
    return points + dx, None, dx

  def update_state(self, step: jax.Array, key: jax.Array) -> None:
    """Refreshes the occupancy grid at uniformly random times."""
    def density_at_random_times(points, key):
      time = jax.random.uniform(key, points.shape[:1] + (1,))
      canonical, condition, _ = self.canonical(points, time)
      return self.field.density(canonical, condition)[0]

    self.grid.value = samplers.updated_grid(self.grid.value, step, key,
                                            self.config,
                                            density_at_random_times)

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N] at their times: one level (rgb, depth, disp, acc,
    loss_mask, stats)."""
    del progress
    c = self.config
    key, rays = samplers.jittered_rays(key, rays, c, randomized)
    n = rays.origins.shape[0]
    (samples, ids, points, budget), proposed = samplers.packed_samples(
        key, rays, c, self.proposals, self.grid.value, randomized)
    time = jnp.take(rays.time, ids, axis=0)
    canonical, condition, dx = self.canonical(points, time)
    density, rgb = self.field(canonical, ids, rays.viewdirs,
                              density_condition=condition)
    density = jnp.where(samples.valid, density, 0.0)
    weights = compositing.packed_compositing_weights(density, samples.delta,
                                                     samples.ray_ids)
    out = compositing.packed_composite(weights, rgb, samples.t, samples.ray_ids,
                                       n, c.white_bkgd)
    out.update(samplers.distortion_output(c, weights, samples, rays, n))
    out.update(samplers.loss_mask_and_stats(samples, self.grid.value, c, n,
                                            budget))
    out.update(samplers.proposal_outputs(proposed, weights))
    moved = jnp.where(samples.valid, jnp.linalg.norm(dx, axis=-1), 0.0)
    out["stats"]["displacement"] = (jnp.sum(moved) /
                                    jnp.maximum(jnp.sum(samples.valid), 1))
    return [out]

  def _at_time_zero(self, points: jax.Array):
    points = samplers.to_field(self.config, points)
    zero = jnp.zeros(points.shape[:1] + (1,), points.dtype)
    canonical, condition, _ = self.canonical(points, zero)
    return canonical, condition

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at time 0 at points [M, 3]."""
    del progress
    return self.field.density(*self._at_time_zero(points))[0]

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at time 0."""
    del progress
    canonical, condition = self._at_time_zero(points)
    ids = jnp.arange(points.shape[0])
    return self.field(canonical, ids, viewdirs,
                      density_condition=condition)[1]


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  return {**losses.rgb_terms(outputs, rays, rgb, 1.0),
          **losses.weight_decay_terms(params, config.weight_decay_mult),
          **samplers.regulariser_terms(config, outputs, rays, params)}


METHOD = base.Method(
    name="dnerf_ngp",
    fields=config_fields,
    engine_defaults=hashgrid.ENGINE_DEFAULTS,
    build_model=lambda config, scene: DNerfNgp(config=config),
    loss_terms=loss_terms,
    param_groups=(base.ParamGroup("deformation", prefix="deform_",
                                  match=base.match_prefix("deform")),
                  base.FIELD_GROUP),
)
