"""BARF's pose refinement on the hash-grid field (Instant-NGP's field,
occupancy grid and packed marching), coarse to fine over the grid levels.

The cameras are refined exactly as in `jaxnerf.methods.barf` (per-camera
se(3) corrections, optional SCNeRF intrinsics, the same evaluation and
test-time pose optimisation). Coarse to fine: the features of grid level
l >= 1 are weighted by BARF's schedule over the L - 1 finer levels
(`encoding.coarse_to_fine_weights`), so early in training the field sees
the poses through its coarsest grid only (trilinear on 16^3 cells, a smooth
function of the points), the finer levels fading in between c2f_start and
c2f_end. Level 0 is always on: with every level off the field would be a
constant. The pose gradient flows through the trilinear weights of the grid
lookup (`hashgrid.interpolate`) and the ray origins and directions.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import networks
from jaxnerf.render import compositing, losses
from jaxnerf.core.cameras import Cameras
from jaxnerf.render import samplers
from jaxnerf.methods import barf, base, instant_ngp
from jaxnerf.core.rays import Rays


def config_fields() -> ml_collections.ConfigDict:
  c = instant_ngp.grid_fields()
  c.update(barf.pose_fields())
  return c


ENGINE_DEFAULTS = dict(instant_ngp.ENGINE_DEFAULTS, metrics_every=1000)


def level_weights(config, progress: Optional[base.Progress]
                  ) -> Optional[jax.Array]:
  """[hash_levels] weights: level 0 always on, the finer levels by BARF's
  schedule at `progress` (None: all on)."""
  finer = barf.band_weights(config, progress, config.hash_levels - 1)
  if finer is None:
    return None
  return jnp.concatenate([jnp.ones((1,), finer.dtype), finer])


class BarfHashGrid(nn.Module):
  """The hash-grid field rendered by occupancy-grid marching, with
  refinable cameras and coarse-to-fine grid levels."""

  config: Any
  num_cameras: int = 1

  def setup(self):
    c = self.config
    samplers.check_config(c)
    self.field = networks.HashGridField(config=c)
    self.cameras = barf.PoseRefinement(c, self.num_cameras, name="cameras")
    self.grid = self.variable("occupancy", "grid",
                              lambda: samplers.initial_grid(c))

  def refine_cameras(self, cameras: Cameras) -> Cameras:
    return self.cameras(cameras)

  @property
  def state_update_every(self) -> int:
    return self.config.occupancy_update_every

  @property
  def step_size(self) -> float:
    return samplers.step_size(self.config)

  def update_state(self, step: jax.Array, key: jax.Array) -> None:
    """Refreshes the occupancy grid from the full-resolution density (the
    coarse-to-fine field would carve away detail the finer levels will
    add)."""
    self.grid.value = samplers.updated_grid(
        self.grid.value, step, key, self.config,
        lambda points, key: self.field.density(points)[0])

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None):
    """Renders rays [N]: one level with rgb, depth, disp, acc, loss_mask
    and stats (as instant_ngp)."""
    c = self.config
    key, rays = samplers.jittered_rays(key, rays, c, randomized)
    n = rays.origins.shape[0]
    samples, ids, points, _ = samplers.march(key, rays, self.grid.value, c,
                                             randomized)
    density, rgb = self.field(points, ids, rays.viewdirs,
                              level_weights=level_weights(c, progress))
    density = jnp.where(samples.valid, density, 0.0)
    weights = compositing.packed_compositing_weights(density, samples.delta,
                                                     samples.ray_ids)
    out = compositing.packed_composite(weights, rgb, samples.t, samples.ray_ids,
                                       n, c.white_bkgd)
    out.update(samplers.distortion_output(c, weights, samples, rays, n))
    out["loss_mask"] = samples.ray_complete.astype(jnp.float32)
    out["stats"] = dict(rays_used=jnp.sum(out["loss_mask"]),
                        samples_per_ray=samples.num_samples / n)
    return [out]

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    weights = level_weights(self.config, progress)
    return self.field.density(samplers.to_field(self.config, points),
                              level_weights=weights)[0]

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    return self.field.radiance(samplers.to_field(self.config, points),
                               viewdirs, level_weights(self.config, progress))


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  return {**losses.rgb_terms(outputs, rays, rgb, 1.0),
          **losses.weight_decay_terms(params, config.weight_decay_mult),
          **samplers.regulariser_terms(config, outputs, rays, params)}


METHOD = base.Method(
    name="barf_hashgrid",
    fields=config_fields,
    engine_defaults=ENGINE_DEFAULTS,
    build_model=lambda config, scene: BarfHashGrid(
        config=config, num_cameras=scene.num_cameras),
    loss_terms=loss_terms,
    param_groups=barf.PARAM_GROUPS,
    casts_rays=True,
    test_time=base.TestTime(),
    eval_metrics=barf.pose_metrics,
    eval_cameras=barf.aligned_eval_cameras,
)
