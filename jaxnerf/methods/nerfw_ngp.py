"""NeRF-W on Instant-NGP's hash-grid field (occupancy-grid marching or,
with sampler="proposal", proposal fields).

The NeRF-W parts of `jaxnerf.methods.nerfw` (appearance and transient
codes, the transient head, the joint compositing, the loss and the
left-half appearance fit) on `fields.HashGridField`:

* the appearance code joins the SH-encoded view direction at the colour
  MLP (`HashGridField.color`'s per-ray condition);
* the transient head reads the density MLP's features (`geo_features`)
  and the transient code;
* the occupancy grid is refreshed from the static density only (as
  nerfstudio places nerfacto's samples by the static weights): transients
  are rendered at the samples the static scene gets. Adding each photo's
  transient density kept the union of every photo's transients occupied
  (half the lego's box after 500 steps, 150 samples per ray), so the
  sample budget held 400 of 8192 rays and the static scene never formed
  on the lego in the wild (docs/BENCHMARKS.md, "NeRF-W on the lego in the
  wild").

Packed samples (a fixed budget per step, see instant_ngp) replace NeRF's
coarse and fine levels: one level, whose `rgb` is the static render.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import networks
from jaxnerf.render import compositing
from jaxnerf.render import samplers
from jaxnerf.methods import base, nerfw
from jaxnerf.methods.backbones import hashgrid
from jaxnerf.core.rays import Rays


def config_fields() -> ml_collections.ConfigDict:
  c = hashgrid.grid_fields()
  wild = nerfw.wild_fields()
  for key in wild:
    c[key] = wild[key]
  # A head the size of the hash field's MLPs, not of NeRF's.
  c.transient_depth = 2
  c.transient_width = 64
  # The occupancy grid or proposal fields (instant_ngp's sampler): the
  # proposals, like the grid, follow the static density only.
  samplers.add_sampler_fields(c)
  # NeRF-W's 0.01 lets the transient density stay up everywhere on the
  # hash grid; static density then grows in front of it (lowering beta),
  # the occupancy grid stays 0.76 full after 200 steps on the clean lego
  # and the sample budget holds 400 of 8192 rays. 1.0: 0.12 full, 2100+
  # rays (transient_density_bias -8 also carves, but then transients take
  # 13-24 % of the clean lego's rays). On the proposal sampler (which
  # follows the static density only) 0.1 and 1.0 scored alike with softplus
  # betas, which left the transient head unused; configs/nerfw_ngp_demo.py
  # takes the paper's 0.01 with beta_max 1, where the head is used
  # (docs/BENCHMARKS.md, the NeRF-W sections).
  c.lambda_u = 1.0
  for group in ("appearance_", "transient_"):
    c[group + "lr_init"] = 1e-2
    c[group + "lr_final"] = 1e-3
  # A fit step costs a fraction of a training step here, but there are 25
  # test views: fewer, smaller steps than nerfw's.
  c.test_time_steps = 40
  c.test_time_batch_size = 256
  return c


class NerfWNgp(nn.Module):
  """The hash-grid field with NeRF-W's codes and transient head."""

  config: Any
  num_cameras: int = 1

  def setup(self):
    c = self.config
    samplers.check_config(c)
    self.field = networks.HashGridField(config=c)
    self.appearance = nerfw.code_table(self, "appearance", self.num_cameras,
                                       c.appearance_dim, c.code_init_std)
    self.transient_code = nerfw.code_table(self, "transient_code",
                                           self.num_cameras, c.transient_dim,
                                           c.code_init_std)
    if c.transient_dim > 0:
      self.transient_head = nerfw.TransientHead(c.transient_depth,
                                                c.transient_width)
    self.proposals = samplers.proposal_densities(c)
    self.grid = self.variable("occupancy", "grid",
                              lambda: samplers.initial_grid(c))

  @property
  def state_update_every(self) -> int:
    return samplers.state_update_every(self.config)

  def update_state(self, step: jax.Array, key: jax.Array) -> None:
    """Refreshes the occupancy grid from the static density."""
    self.grid.value = samplers.updated_grid(
        self.grid.value, step, key, self.config,
        lambda points, key: self.field.density(points)[0])

  def _appearance_of(self, camera: jax.Array) -> Optional[jax.Array]:
    return None if self.appearance is None else self.appearance.value[camera]

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N]: one level with the static `rgb` and NeRF-W's maps
    (see nerfw)."""
    c = self.config
    key, rays = samplers.jittered_rays(key, rays, c, randomized)
    n = rays.origins.shape[0]
    camera = rays.camera_index[:, 0]
    (samples, ids, points, budget), proposed = samplers.packed_samples(
        key, rays, c, self.proposals, self.grid.value, randomized)
    static_density, feats = self.field.density(points)
    static_density = jnp.where(samples.valid, static_density, 0.0)
    static_rgb = self.field.color(feats, ids, rays.viewdirs,
                                  self._appearance_of(camera))
    weights = compositing.packed_compositing_weights(
        static_density, samples.delta, samples.ray_ids)
    out = compositing.packed_composite(weights, static_rgb, samples.t,
                                       samples.ray_ids, n, c.white_bkgd)
    out.update(samplers.distortion_output(c, weights, samples, rays, n))
    out.update(samplers.loss_mask_and_stats(samples, self.grid.value, c, n,
                                            budget))
    out.update(samplers.proposal_outputs(proposed, weights))
    if self.transient_code is None:
      return [nerfw.no_transient_outputs(out)]
    raw_td, raw_tc, raw_beta = self.transient_head(
        feats, lambda per_ray: jnp.take(per_ray, ids, axis=0),
        self.transient_code.value[camera])
    transient_density = jnp.where(
        samples.valid, nerfw.transient_density(c, raw_td, progress), 0.0)
    ray_sum = lambda x: jax.ops.segment_sum(x, samples.ray_ids,
                                            num_segments=n,
                                            indices_are_sorted=True)
    wild = nerfw.composite_with_transient(
        static_rgb, static_density * samples.delta, nn.sigmoid(raw_tc),
        transient_density * samples.delta, nerfw.sample_beta(c, raw_beta),
        lambda tau: compositing.packed_transmittance(tau, samples.ray_ids),
        ray_sum, c.white_bkgd, c.beta_min, c.beta_static_gradient)
    count = ray_sum(samples.valid.astype(jnp.float32))
    out.update(composite=wild["composite"], transient=wild["transient"],
               transient_acc=wild["transient_acc"], uncertainty=wild["beta"],
               mean_transient_density=(ray_sum(transient_density) /
                                       jnp.maximum(count, 1.0)))
    out["stats"].update(transient_acc=jnp.mean(wild["transient_acc"]),
                        beta=jnp.mean(wild["beta"]))
    return [out]

  def _mean_appearance(self, m: int) -> Optional[jax.Array]:
    if self.appearance is None:
      return None
    mean = jnp.mean(self.appearance.value, axis=0)
    return jnp.broadcast_to(mean, (m,) + mean.shape)

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Static density [M] at points [M, 3]."""
    del progress
    return self.field.density(samplers.to_field(self.config, points))[0]

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Static colour [M, 3] with the mean appearance code."""
    del progress
    _, feats = self.field.density(samplers.to_field(self.config, points))
    ids = jnp.arange(points.shape[0])
    return self.field.color(feats, ids, viewdirs,
                            self._mean_appearance(points.shape[0]))


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  """nerfw's loss on the one level (no coarse level to add) and the hash
  grid's regularisers."""
  return {**nerfw.loss_terms(config, outputs, rays, rgb, params),
          **samplers.regulariser_terms(config, outputs, rays, params)}


METHOD = base.Method(
    name="nerfw_ngp",
    fields=config_fields,
    engine_defaults=hashgrid.ENGINE_DEFAULTS,
    build_model=lambda config, scene: NerfWNgp(
        config=config, num_cameras=scene.num_cameras),
    loss_terms=loss_terms,
    param_groups=nerfw.PARAM_GROUPS,
    outputs=nerfw.OUTPUTS,
    test_time=nerfw.TEST_TIME,
    seen_camera_outputs=nerfw.SEEN_CAMERA_OUTPUTS,
)
