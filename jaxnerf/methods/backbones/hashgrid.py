"""The hash-grid backbone: Instant-NGP (Mueller et al., SIGGRAPH 2022)'s
hash-grid field, occupancy grid and packed ray marching (or, with
sampler="proposal", mip-NeRF 360 / nerfacto proposal fields), in pure JAX on
the shared rays, rendering and training modules, with the components a
paper adds:

  rays -> occupancy.march (fixed steps in occupied cells, packed into a
  static sample budget) -> fields.HashGridField (hash grid -> density MLP ->
  colour from SH-encoded directions, by a small MLP or as direct SH
  coefficients) -> rendering.packed_composite.

Components (jaxnerf.methods.base.Component) plug in where the pipeline has
their hook: `refine_cameras` before rays are cast (the engine calls it),
`encoding_weights` on the grid's levels above the coarsest (coarse to fine:
level 0 stays on, or the field would be a constant).

The occupancy grid is non-parameter state in the flax collection
'occupancy' (so it lives in TrainState.model_state and is checkpointed);
`update_state` refreshes it from the density field (every level: a
coarse-to-fine schedule would carve away detail the finer levels will add)
and is called by the train step every `state_update_every` steps.

Static shapes: the ray count per step (config.batch_size) and the sample
budget (config.samples_budget) are both fixed. Rays are drawn i.i.d., so the
rays whose samples all fit the budget form an unbiased prefix of the batch;
the rest get `loss_mask` 0. The number of rays trained on thus adapts to the
budget inside one compiled step with no host round trip or recompilation;
the cost is that padding samples and masked rays are computed for nothing,
which `stats` (rays_used, budget_fill) makes visible.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import networks
from jaxnerf.render import compositing, losses, occupancy
from jaxnerf.render import samplers
from jaxnerf.methods import base
from jaxnerf.core.rays import Rays


def grid_fields() -> ml_collections.ConfigDict:
  """The field, occupancy grid, marcher and the regularisers every method
  on them has (jaxnerf/render/samplers.py), with Blender defaults."""
  c = ml_collections.ConfigDict()
  # Scene box [-scene_bound, scene_bound]^3: NeRF's Blender scenes lie in
  # [-1.5, 1.5]^3 (the lego's extent is about 1.3 along its widest axis).
  c.scene_bound = 1.5
  # "mipnerf360": unbounded scenes. World points are contracted into the box
  # (jaxnerf/render/contraction.py, inner radius scene_bound / 2: that ball
  # keeps its scale, the rest of the world fills the shell out to scene_bound),
  # and rays are marched through the contracted grid, far unbounded.
  c.contraction = "none"
  # Hash grid (the paper's NeRF settings).
  c.hash_levels = 16
  c.hash_features = 2
  c.hash_log2_size = 19
  c.hash_min_resolution = 16
  c.hash_max_resolution = 2048
  # Heo et al. (ICML 2023)'s smooth gradient of the grid lookup in the point
  # (the features unchanged): for poses refined through the grid.
  c.hash_smooth_gradient = False
  # Density MLP: hidden layers of width density_width; outputs log-density
  # and geo_features features for the colour MLP.
  c.density_layers = 1
  c.density_width = 64
  c.geo_features = 15
  # Colour: "mlp" (SH-encoded direction + features -> MLP) or "sh" (the
  # density MLP outputs SH coefficients per channel directly). "mlp" trained
  # better at equal time on the embedded lego for little more time a step
  # (docs/BENCHMARKS.md, rows I6 and I7).
  c.color_mode = "mlp"
  c.sh_degree = 3
  c.color_layers = 2
  c.color_width = 64
  # Occupancy grid and marching.
  c.occupancy_resolution = 128
  c.occupancy_update_every = 16
  c.occupancy_update_fraction = 0.25  # cells refreshed per update
  c.occupancy_decay = 0.95
  c.occupancy_threshold = 0.01  # optical thickness of one step
  c.march_steps = 1024  # steps along the box diagonal; sets the step size
  c.early_stop_eps = 1e-4  # stop a ray when grid transmittance is below
  # Packed samples per batch: render_samples_per_ray per ray, and when
  # training at most samples_budget (jaxnerf/render/samplers.py: march).
  c.samples_budget = 2**18
  c.render_samples_per_ray = 32
  # The paper: L2 1e-6 on the MLP weights only (kernel_l2 skips the table).
  c.weight_decay_mult = 1e-6
  # Regularisers and anti-aliasing for held-out views (issue #14): all off
  # by default until an ablation on held-out views says which help.
  # Train on a random ray through each pixel's footprint (jaxnerf/footprint
  # .py): "cone" for pinhole cameras, "cylinder" for NDC, "none": centres.
  c.ray_jitter = "none"
  # mip-NeRF 360's distortion loss (losses.packed_distortion), distances in
  # scene units.
  c.distortion_mult = 0.0
  # Zip-NeRF's normalised weight decay of the hash table (losses.grid_l2).
  c.grid_l2_mult = 0.0
  return c


def unbounded_capture(c: ml_collections.ConfigDict
                      ) -> ml_collections.ConfigDict:
  """Sets grid_fields() of `c` for a real, unbounded capture whose cameras
  the loader scaled into [-1, 1]^3 (instant_ngp_capture, nerfw_liberty):
  mip-NeRF 360's contraction keeps the ball of radius scene_bound / 2 = 2,
  which holds every camera, and maps the rest of the world into the shell
  out to 4, where the hash and occupancy grids end. Returns `c`."""
  c.contraction = "mipnerf360"
  c.scene_bound = 4.0
  c.hash_log2_size = 19
  c.hash_max_resolution = 4096  # over the box [-4, 4]^3
  c.occupancy_resolution = 128
  c.march_steps = 1024  # sets the step: 2 sqrt(3) scene_bound / 1024
  c.batch_size = 8192
  c.samples_budget = 2**17
  c.render_samples_per_ray = 64
  return c


def config_fields() -> ml_collections.ConfigDict:
  """grid_fields(), PlenOctrees' sparsity loss and the sampler's fields."""
  c = grid_fields()
  # PlenOctrees' sparsity loss on the field's raw density (the box is the
  # field's, contracted where contraction is set): fewer blocks to bake.
  losses.add_sparsity_fields(c)
  samplers.add_sampler_fields(c)
  return c


# The paper's optimiser: Adam 1e-2, betas 0.9/0.99, eps 1e-15.
ENGINE_DEFAULTS = dict(lr_init=1e-2, lr_final=1e-3, adam_b1=0.9, adam_b2=0.99,
                       adam_eps=1e-15, batch_size=2**14, max_steps=30_000)


class HashGridModel(nn.Module, base.Composed):
  """The hash-grid field rendered by occupancy-grid marching or proposal
  sampling; the components' submodules beside it."""

  config: Any  # base_config plus config_fields()
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()
  levels = ("",)  # one level

  def setup(self):
    c = self.config
    samplers.check_config(c)
    self.setup_components()
    self.field = networks.HashGridField(config=c)
    self.proposals = samplers.proposal_densities(c)
    # Every cell starts just above the threshold (the field learns empty
    # space from the background pixels until four updates have seen it).
    self.grid = self.variable("occupancy", "grid",
                              lambda: samplers.initial_grid(c))

  @property
  def state_update_every(self) -> int:
    return samplers.state_update_every(self.config)

  @property
  def step_size(self) -> float:
    return samplers.step_size(self.config)

  def to_field(self, points: jax.Array) -> jax.Array:
    """World points [..., 3] -> the field's box (contracted if set)."""
    return samplers.to_field(self.config, points)

  def level_weights(self, progress: Optional[base.Progress]
                    ) -> Optional[jax.Array]:
    """[hash_levels] weights of the grid's levels at `progress`: level 0
    always on, the finer ones by the components' `encoding_weights` (None:
    all on)."""
    finer = self.encoding_weights(progress, self.config.hash_levels - 1)
    if finer is None:
      return None
    return jnp.concatenate([jnp.ones((1,), finer.dtype), finer])

  def update_state(self, step: jax.Array, key: jax.Array) -> None:
    """Refreshes the occupancy grid from the density field (mutates it;
    at random times where a component warps the field by time)."""
    self.grid.value = samplers.updated_grid(
        self.grid.value, step, key, self.config,
        lambda points, key: self.field.density(
            *self.warp_anytime(points, key))[0])

  @property
  def acts_per_sample(self) -> bool:
    """Whether a component reads or moves the field's samples."""
    return bool(self.parts_with("warp") or self.parts_with("render_samples")
                or self.parts_with("shade"))

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N].

    Returns:
      One level: rgb [N, 3], depth [N], disp [N], acc [N] (as
      rendering.composite), loss_mask [N] (1 for rays whose samples all fit
      in the budget), stats (scalars for the training log) and, for the
      loss, distortion [N] (with distortion_mult) and interlevel [N] (the
      proposal sampler).
    """
    c = self.config
    key, rays = samplers.jittered_rays(key, rays, c, randomized)
    sparsity = randomized and c.sparsity_loss_mult > 0
    if sparsity:  # else the key stream stays that of runs without it
      key, key_sparsity = jax.random.split(key)
    grid_weights = self.level_weights(progress)
    if c.sampler == "proposal" and not self.acts_per_sample:
      out = self._render_proposal(rays, key, randomized, grid_weights)
    else:
      out = self._render_packed(rays, key, randomized, grid_weights,
                                progress)
    if sparsity:
      out["sparsity"] = losses.sparsity(
          key_sparsity, lambda p: self.field.density(p)[0],
          c.sparsity_samples, c.scene_bound, c.sparsity_lambda)
    return [out]

  def _render_packed(self, rays: Rays, key: jax.Array, randomized: bool,
                     grid_weights: Optional[jax.Array],
                     progress: Optional[base.Progress]
                     ) -> dict[str, jax.Array]:
    """Packed samples (the marcher's, or the proposal intervals as packed
    samples where a component acts per sample: one layout for its hooks)
    composited per ray."""
    c = self.config
    n = rays.origins.shape[0]
    camera = rays.camera_index[:, 0]
    (samples, ids, points, budget), proposed = samplers.packed_samples(
        key, rays, c, self.proposals, self.grid.value, randomized)
    points, condition, sample_stats = self.warp(
        points, jnp.take(rays.time, ids, axis=0), "")
    density, feats = self.field_density(points, condition, grid_weights,
                                        samples.valid)
    density = jnp.where(samples.valid, density, 0.0)
    valid = samples.valid.astype(jnp.float32)
    ray_sum = lambda x: jax.ops.segment_sum(x, samples.ray_ids,
                                            num_segments=n,
                                            indices_are_sorted=True)
    count = ray_sum(valid)
    layout = base.SampleLayout(
        num_rays=n, to_samples=lambda per_ray: jnp.take(per_ray, ids, 0),
        ray_sum=ray_sum,
        ray_mean=lambda x: ray_sum(x) / jnp.maximum(count, 1.0),
        transmittance=lambda tau: compositing.packed_transmittance(
            tau, samples.ray_ids),
        delta=samples.delta, valid=samples.valid)
    field_colour = lambda: self.field.color(
        feats, ids, rays.viewdirs, self.colour_condition(camera, n, ""))
    shaded = self.shade("", feats, samples.t, ids, rays, layout, density,
                        self.density, field_colour, progress)
    rgb, maps = (field_colour(), {}) if shaded is None else shaded
    weights = compositing.packed_compositing_weights(density, samples.delta,
                                                     samples.ray_ids)
    out = compositing.packed_composite(weights, rgb, samples.t, samples.ray_ids,
                                       n, c.white_bkgd)
    for name, value in maps.items():  # [N, k], [N] where k is 1
      out[name] = ray_sum(weights[:, None] * value).squeeze(-1) if (
          value.shape[-1] == 1) else ray_sum(weights[:, None] * value)
    out.update(samplers.loss_mask_and_stats(samples, self.grid.value, c, n,
                                            budget))
    out.update(samplers.distortion_output(c, weights, samples, rays, n))
    out.update(samplers.proposal_outputs(proposed, weights))
    for name, value in sample_stats.items():
      out["stats"][name] = (jnp.sum(valid * value) /
                            jnp.maximum(jnp.sum(valid), 1))
    if self.parts_with("render_samples"):
      out = self.render_samples(out, "", layout, feats, rgb, density, camera,
                                progress)
    return out

  def field_density(self, points: jax.Array, condition, grid_weights,
                    valid: jax.Array):
    """(density [B], features) of the field at packed samples [B, 3];
    `valid` [B] is False on the budget's padding, which a field may leave
    out (KiloNeRF's does; the hash grid evaluates it and the render masks
    it)."""
    del valid
    return self.field.density(points, condition, grid_weights)

  def _render_proposal(self, rays: Rays, key: jax.Array, randomized: bool,
                       grid_weights: Optional[jax.Array]
                       ) -> dict[str, jax.Array]:
    """Proposal-sampled dense intervals (in the scene box, or out to
    _grid.proposal_edges' far sphere when contracted; every ray is
    complete: no budget)."""
    c = self.config
    n = rays.origins.shape[0]
    edges, levels = samplers.proposal_edges(key, rays, c, self.proposals,
                                            randomized)
    mids, ids, points = samplers.dense_points(edges, rays, c)
    s = mids.shape[-1]
    density, rgb = self.field(
        points, ids, rays.viewdirs, level_weights=grid_weights,
        color_condition=self.colour_condition(rays.camera_index[:, 0], n, ""))
    weights = compositing.interval_weights(density.reshape(n, s), edges,
                                           rays.directions)
    out = compositing.composite(weights, rgb.reshape(n, s, 3), mids,
                                c.white_bkgd)
    del out["weights"]
    out["loss_mask"] = jnp.ones((n,), jnp.float32)
    out["interlevel"] = samplers.interlevel(edges, weights, levels)
    if c.distortion_mult > 0:
      norm = jnp.linalg.norm(rays.directions, axis=-1, keepdims=True)
      out["distortion"] = losses.distortion(weights, edges * norm)
    out["stats"] = dict(rays_used=jnp.asarray(n, jnp.float32),
                        samples_per_ray=jnp.asarray(s, jnp.float32))
    return out

  def _at_time_zero(self, points: jax.Array):
    """(field points [M, 3], density condition or None) of world points
    [M, 3] as the field interface reads them: at time 0."""
    time = jnp.zeros(points.shape[:1] + (1,), points.dtype)
    points, condition, _ = self.warp(self.to_field(points), time, "")
    return points, condition

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at points [M, 3], as rendered: zero in cells the
    occupancy grid marks empty. The marcher never samples those, so the
    field there is unsupervised (floaters a bake or a mesh would keep:
    culling kept most of the lego's blocks without this mask). The grid's
    levels are weighted at `progress`."""
    c = self.config
    field_points, condition = self._at_time_zero(points)
    sigma = self.field.density(field_points, condition,
                               level_weights=self.level_weights(progress))[0]
    if c.sampler != "occupancy":
      return sigma
    cells = occupancy.cell_index(self.to_field(points), c.scene_bound,
                                 c.occupancy_resolution)
    occupied = occupancy.occupied(self.grid.value, c.occupancy_threshold)
    return jnp.where(occupied[cells], sigma, 0.0)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at points [M, 3] seen along unit directions [M, 3]
    (the grid's levels weighted at `progress`; the components' field
    interface inputs, e.g. the mean appearance code)."""
    field_points, condition = self._at_time_zero(points)
    m = points.shape[0]
    if self.parts_with("headlight"):
      feats = self.field.density(
          field_points, condition,
          level_weights=self.level_weights(progress))[1]
      return self.headlight(feats, viewdirs)
    return self.field(field_points, jnp.arange(m), viewdirs,
                      density_condition=condition,
                      color_condition=self.colour_condition(None, m, ""),
                      level_weights=self.level_weights(progress))[1]


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  terms = {**losses.rgb_terms(outputs, rays, rgb, 1.0),
           **losses.weight_decay_terms(params, config.weight_decay_mult),
           **samplers.regulariser_terms(config, outputs, rays, params),
           **losses.sparsity_terms(outputs, config.sparsity_loss_mult)}
  return terms


BACKBONE = base.Backbone(
    name="hashgrid",
    fields=config_fields,
    build=lambda config, scene, components: HashGridModel(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    engine_defaults=ENGINE_DEFAULTS,
)
