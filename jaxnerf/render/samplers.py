"""The hash-grid backbone's samplers, behind one interface: the occupancy
grid's marcher (Instant-NGP's scheme, jaxnerf/render/occupancy.py) or
proposal fields (jaxnerf/render/proposal.py), chosen by `config.sampler`;
`packed_samples` gives either as packed samples. The grid's density is
supplied by the model, so it can cover what only some times hold (the time
component's moving parts) or leave out what it should not (NeRF-W's
transients).

Both take config.contraction: the grid, the marcher and the field then
live in mip-NeRF 360's contracted box (jaxnerf/render/contraction.py).

A sampler of the render layer, not a method.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from jaxnerf.render import contraction, footprint, losses, occupancy, proposal
from jaxnerf.fields import hashgrid
from jaxnerf.errors import ConfigError
from jaxnerf.core.rays import Rays


def step_size(c) -> float:
  """World-space marching step: the box diagonal over march_steps."""
  return 2 * math.sqrt(3) * c.scene_bound / c.march_steps


SAMPLERS = ("occupancy", "proposal")


def add_sampler_fields(c) -> None:
  """Adds the sampler's fields to config `c` (methods that offer both)."""
  # Sampler: "occupancy" (the grid and the marcher above) or "proposal"
  # (mip-NeRF 360 / nerfacto proposal fields, jaxnerf/render/proposal.py: dense
  # [batch_size, field_samples] samples, no budget; with a contraction the
  # intervals are drawn in nerfacto's piecewise disparity spacing out to
  # where the contracted shell is thinner than the finest hash cell).
  c.sampler = "occupancy"
  c.proposal_samples = (64, 32)  # intervals of each proposal level
  c.field_samples = 32  # intervals the hash-grid field renders
  c.proposal_hash_levels = 5
  c.proposal_hash_log2_size = 17
  c.proposal_hash_max_resolution = 128
  c.proposal_width = 16
  c.proposal_padding = 0.01  # weight everywhere before resampling
  c.interlevel_mult = 1.0  # the proposal loss (proposal.interlevel_loss)


def check_config(c) -> None:
  """One-line errors for an unknown config.contraction, ray_jitter or
  sampler."""
  if c.contraction not in contraction.KINDS:
    raise ConfigError(f"config.contraction: unknown {c.contraction!r}; "
                      f"known: {list(contraction.KINDS)}")
  footprint.check_shape(c.ray_jitter, "ray_jitter")
  if c.get("sampler", "occupancy") not in SAMPLERS:
    raise ConfigError(f"config.sampler: unknown {c.sampler!r}; known: "
                      f"{list(SAMPLERS)}")


def uses_proposals(c) -> bool:
  return c.get("sampler", "occupancy") == "proposal"


def state_update_every(c) -> int:
  """Steps between occupancy-grid refreshes: 0 (none) with the proposal
  sampler, which does not read the grid."""
  return 0 if uses_proposals(c) else c.occupancy_update_every


def proposal_densities(c) -> list:
  """The proposal fields (call in a module's setup): one
  proposal.ProposalDensity per entry of proposal_samples over the field's
  box, none with the occupancy sampler."""
  if not uses_proposals(c):
    return []
  return [proposal.ProposalDensity(
      bound=c.scene_bound, num_levels=c.proposal_hash_levels,
      log2_table_size=c.proposal_hash_log2_size,
      min_resolution=c.hash_min_resolution,
      max_resolution=c.proposal_hash_max_resolution,
      width=c.proposal_width, name=f"proposal_{i}")
          for i in range(len(c.proposal_samples))]


def proposal_edges(key: jax.Array, rays: Rays, c, densities: list,
                   randomized: bool):
  """The proposal sampler's intervals of rays [N]: (edges [N, field_samples
  + 1] in t along rays.directions, the proposal levels' (edges, weights)).

  Without a contraction the rays are sampled evenly inside the scene box
  (and near / far). With one, from near out to the sphere of radius
  r * hash_max_resolution / 2 (r = scene_bound / 2, the contraction's
  inner radius), beyond which the contracted shell is thinner than the
  finest hash cell, in nerfacto's piecewise disparity spacing with one
  unit = r; the proposal fields see contracted points.
  """
  density_fns = [lambda p, d=d: d(to_field(c, p)) for d in densities]
  if c.contraction == "none":
    t_min, t_max = occupancy.ray_aabb(rays.origins, rays.directions,
                                      c.scene_bound)
    t_min = jnp.maximum(t_min, rays.near[:, 0])
    t_max = jnp.maximum(jnp.minimum(t_max, rays.far[:, 0]), t_min)
    spacing = proposal.IDENTITY
  else:
    radius = c.scene_bound / 2
    norm = jnp.linalg.norm(rays.directions, axis=-1)
    _, far = contraction.sphere_interval(
        rays.origins, rays.directions / norm[:, None],
        radius * c.hash_max_resolution / 2)
    t_min = rays.near[:, 0]
    t_max = jnp.maximum(far / norm, t_min)
    spacing = proposal.disparity_spacing((radius / norm)[:, None])
  return proposal.propose(
      key if randomized else None, density_fns, rays.origins,
      rays.directions, t_min, t_max,
      tuple(c.proposal_samples) + (c.field_samples,), randomized,
      c.proposal_padding, spacing)


def interlevel(edges: jax.Array, weights: jax.Array, levels) -> jax.Array:
  """[N] the proposal levels' interlevel losses against the field's
  weights [N, S] on edges [N, S + 1]."""
  return sum(proposal.interlevel_loss(edges, weights, prop_edges,
                                      prop_weights)
             for prop_edges, prop_weights in levels)


def dense_as_packed(edges: jax.Array, rays: Rays, c):
  """The proposal sampler's dense intervals (edges [N, S + 1]) as packed
  samples, for the methods that composite packed samples: as `march`
  returns, with every sample valid and every ray complete."""
  n, s = edges.shape[0], edges.shape[1] - 1
  norm = jnp.linalg.norm(rays.directions, axis=-1, keepdims=True)
  t, ids, points = dense_points(edges, rays, c)
  samples = occupancy.PackedSamples(
      ray_ids=ids, t=t.reshape(-1),
      delta=((edges[:, 1:] - edges[:, :-1]) * norm).reshape(-1),
      valid=jnp.ones((n * s,), bool), ray_complete=jnp.ones((n,), bool),
      num_samples=jnp.asarray(n * s, jnp.int32))
  return samples, ids, points, n * s


def packed_samples(key: jax.Array, rays: Rays, c, proposals: list,
                   grid: jax.Array, randomized: bool):
  """Packed samples of rays [N] from the config's sampler, for the methods
  that composite packed samples: the proposal fields' dense intervals or
  the occupancy grid's marcher.

  Returns:
    (samples, ids, points, budget) as `march` returns, and the proposal
    intervals (edges, levels) for `proposal_outputs`, None with the grid.
  """
  if uses_proposals(c):
    edges, levels = proposal_edges(key, rays, c, proposals, randomized)
    return dense_as_packed(edges, rays, c), (edges, levels)
  return march(key, rays, grid, c, randomized), None


def proposal_outputs(proposed, weights: jax.Array) -> dict:
  """{"interlevel": [N]} for packed weights [N * S] of the intervals
  `packed_samples` proposed; {} with the grid."""
  if proposed is None:
    return {}
  edges, levels = proposed
  return {"interlevel": interlevel(
      edges, weights.reshape(edges.shape[0], -1), levels)}


def dense_points(edges: jax.Array, rays: Rays, c):
  """(interval midpoints t [N, S], ray id of each [N * S], the points
  [N * S, 3] in the field's box) of dense intervals edges [N, S + 1]."""
  n, s = edges.shape[0], edges.shape[1] - 1
  t = 0.5 * (edges[:, 1:] + edges[:, :-1])
  points = to_field(c, (rays.origins[:, None] + t[..., None] *
                        rays.directions[:, None]).reshape(-1, 3))
  return t, jnp.repeat(jnp.arange(n), s), points


def jittered_rays(key: jax.Array, rays: Rays, c, randomized: bool
                  ) -> tuple[jax.Array, Rays]:
  """(key for the rest of the render, rays [N]): when training with
  config.ray_jitter, each ray through a random point of its pixel's
  footprint (footprint.jitter_rays). The key is split only then, so runs
  without jitter keep their random stream."""
  if not randomized or c.ray_jitter == "none":
    return key, rays
  key, key_jitter = jax.random.split(key)
  return key, footprint.jitter_rays(key_jitter, rays, c.ray_jitter)


def to_field(c, points: jax.Array) -> jax.Array:
  """World points [..., 3] -> the field's box (contracted if set)."""
  if c.contraction == "none":
    return points
  return contraction.contract(points, c.scene_bound / 2)


def initial_grid(c) -> jax.Array:
  """Every cell just above the threshold: all space is marched until four
  updates have seen the field there (as instant_ngp)."""
  return jnp.full((c.occupancy_resolution**3,),
                  c.occupancy_threshold / c.occupancy_decay**4, jnp.float32)


def updated_grid(grid: jax.Array, step: jax.Array, key: jax.Array, c,
                 density_fn: Callable[[jax.Array, jax.Array], jax.Array]
                 ) -> jax.Array:
  """One refresh: a sweep of cells, the density at a jittered point of
  each (`density_fn(points [K, 3], key) -> [K]`, e.g. at random times or
  with random images' codes), decayed max into the grid."""
  res = c.occupancy_resolution
  num_cells = res**3
  count = max(1, int(num_cells * c.occupancy_update_fraction))
  cells = occupancy.update_cells(step // c.occupancy_update_every, key,
                                 num_cells, count)
  key_jitter, key_density = jax.random.split(key)
  jitter = jax.random.uniform(key_jitter, (count, 3))
  points = occupancy.points_in_cells(cells, jitter, res, c.scene_bound)
  density = jax.lax.stop_gradient(density_fn(points, key_density))
  if c.contraction != "none":  # a step there is longer in the world
    density = density * contraction.world_step_scale(points,
                                                     c.scene_bound / 2)
  return occupancy.update_grid(grid, cells, density * step_size(c),
                               c.occupancy_decay)


def march(key: jax.Array, rays: Rays, grid: jax.Array, c, randomized: bool):
  """Packed samples of rays [N] in occupied cells.

  The budget is samples_budget when training, at most
  render_samples_per_ray per ray.

  Returns:
    (samples: occupancy.PackedSamples (t along the world ray), ids [B] ray
    of each sample clipped into range, points [B, 3] in the field's box,
    budget B).
  """
  n = rays.origins.shape[0]
  # Never more than render_samples_per_ray per ray: a few hundred rays (a
  # test-time fit) would otherwise pay for a training batch's padding.
  budget = n * c.render_samples_per_ray
  if randomized:
    budget = min(budget, c.samples_budget)
  budget = max(budget, c.march_steps)  # one whole ray always fits
  if c.contraction == "none":
    samples = occupancy.march(
        key, rays, grid, c.scene_bound, c.occupancy_resolution, step_size(c),
        c.march_steps, budget, c.occupancy_threshold, c.early_stop_eps,
        randomized)
  else:
    samples = contraction.march(
        key, rays, grid, c.scene_bound, c.occupancy_resolution, step_size(c),
        budget, c.occupancy_threshold, c.early_stop_eps, randomized)
  ids = jnp.minimum(samples.ray_ids, n - 1)
  points = to_field(c, jnp.take(rays.origins, ids, axis=0) +
                    samples.t[:, None] * jnp.take(rays.directions, ids, axis=0))
  return samples, ids, points, budget


def loss_mask_and_stats(samples, grid: jax.Array, c, num_rays: int,
                        budget: int) -> dict:
  """`loss_mask` (rays whose samples all fit the budget) and the training
  log's `stats` of a packed render."""
  mask = samples.ray_complete.astype(jnp.float32)
  stats = dict(rays_used=jnp.sum(mask),
               samples_per_ray=samples.num_samples / num_rays,
               budget_fill=jnp.minimum(samples.num_samples, budget) / budget)
  if not uses_proposals(c):  # else the grid is not read
    stats["occupied_fraction"] = jnp.mean(occupancy.occupied(
        grid, c.occupancy_threshold).astype(jnp.float32))
  return {"loss_mask": mask, "stats": stats}


def distortion_output(c, weights: jax.Array, samples, rays: Rays,
                      num_rays: int) -> dict:
  """{"distortion": [N]} per-ray distortion loss of a packed render
  (distances in world units), or {} when config.distortion_mult is 0."""
  if c.distortion_mult <= 0:
    return {}
  ids = jnp.minimum(samples.ray_ids, num_rays - 1)
  norm = jnp.linalg.norm(jnp.take(rays.directions, ids, axis=0), axis=-1)
  return {"distortion": losses.packed_distortion(
      weights, samples.t * norm, samples.delta, samples.ray_ids, num_rays)}


def regulariser_terms(config, outputs, rays: Rays, params) -> dict:
  """The loss terms of the shared regularisers that are on: `distortion`
  (distortion_mult), `interlevel` (the proposal sampler) and `grid_l2`
  (grid_l2_mult, Zip-NeRF's normalised decay of the hash table at
  params["field"]["grid"]["table"])."""
  terms = losses.distortion_terms(outputs, rays, config.distortion_mult)
  if uses_proposals(config) and config.interlevel_mult > 0:
    out = outputs[-1]
    w = losses.ray_weights(out, rays)
    terms["interlevel"] = config.interlevel_mult * jnp.sum(
        w * out["interlevel"]) / jnp.sum(w)
  if config.grid_l2_mult > 0:
    levels = hashgrid.level_layout(
        config.hash_levels, config.hash_log2_size, config.hash_min_resolution,
        config.hash_max_resolution)
    terms["grid_l2"] = config.grid_l2_mult * losses.grid_l2(
        params["field"]["grid"]["table"],
        [(lv.offset, lv.size) for lv in levels])
  return terms
