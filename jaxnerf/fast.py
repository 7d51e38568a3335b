"""The fast field: hash-grid encoding, occupancy-grid marching, SH colour.

Instant-NGP (Mueller et al. 2022) in pure JAX on the shared rays, rendering
and training modules:

  rays -> occupancy.march (fixed steps in occupied cells, packed into a
  static sample budget) -> FastField (hash grid -> density MLP -> colour from
  SH-encoded directions, by a small MLP or as direct SH coefficients) ->
  rendering.packed_composite.

The occupancy grid is non-parameter state in the flax collection
'occupancy' (so it lives in TrainState.model_state and is checkpointed);
`update_state` refreshes it from the density field and is called by the
train step every `state_update_every` steps.

Static shapes: the ray count per step (config.batch_size) and the sample
budget (config.samples_budget) are both fixed. Rays are drawn i.i.d., so the
rays whose samples all fit the budget form an unbiased prefix of the batch;
the rest get `loss_mask` 0. The number of rays trained on thus adapts to the
budget inside one compiled step (about 3000 of 8192 while the grid is still
mostly occupied, all 8192 once it is carved) with no host round trip or
recompilation; the cost is that padding samples and masked rays are computed
for nothing, which `stats` (rays_used, budget_fill) makes visible.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf import encoding, hashgrid, occupancy, rendering
from jaxnerf.config import base_config
from jaxnerf.errors import ConfigError
from jaxnerf.rays import Rays

COLOR_MODES = ("mlp", "sh")


def default_config() -> ml_collections.ConfigDict:
  """base_config plus every field of the fast field, with Blender defaults."""
  c = base_config()
  c.model = "fast"
  # Scene box [-scene_bound, scene_bound]^3: NeRF's Blender scenes lie in
  # [-1.5, 1.5]^3 (the lego's extent is about 1.3 along its widest axis).
  c.scene_bound = 1.5
  # Hash grid (the paper's NeRF settings).
  c.hash_levels = 16
  c.hash_features = 2
  c.hash_log2_size = 19
  c.hash_min_resolution = 16
  c.hash_max_resolution = 2048
  # Density MLP: hidden layers of width density_width; outputs log-density
  # and geo_features features for the colour MLP.
  c.density_layers = 1
  c.density_width = 64
  c.geo_features = 15
  # Colour: "mlp" (SH-encoded direction + features -> MLP) or "sh" (the
  # density MLP outputs SH coefficients per channel directly). "mlp" trains
  # better: 28.5 vs 27.4 dB at 5 min on the embedded lego (docs/BENCHMARKS.md).
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
  c.samples_budget = 2**18  # packed samples per training batch
  c.render_samples_per_ray = 32  # budget per ray when not randomized
  # Optimisation (the paper: Adam 1e-2, betas 0.9/0.99, eps 1e-15, L2 1e-6
  # on MLP weights only: l2_of_kernels skips the hash table).
  c.lr_init, c.lr_final = 1e-2, 1e-3
  c.adam_b1, c.adam_b2, c.adam_eps = 0.9, 0.99, 1e-15
  c.weight_decay_mult = 1e-6
  c.batch_size = 2**14
  c.max_steps = 30_000
  return c


@jax.custom_jvp
def trunc_exp(x: jax.Array) -> jax.Array:
  """exp with its gradient clipped at exp(15) (torch-ngp's trunc_exp)."""
  return jnp.exp(x)


@trunc_exp.defjvp
def _trunc_exp_jvp(primals, tangents):
  (x,), (dx,) = primals, tangents
  return jnp.exp(x), dx * jnp.exp(jnp.minimum(x, 15.0))


class FastField(nn.Module):
  """Density and colour at world points.

  Attributes:
    config: the fast config (hash_*, density_*, color_*, sh_degree).
  """

  config: Any

  def setup(self):
    c = self.config
    if c.color_mode not in COLOR_MODES:
      raise ConfigError(f"config.color_mode: unknown {c.color_mode!r}; known: "
                        f"{list(COLOR_MODES)}")
    self.grid = hashgrid.HashGridEncoding(
        num_levels=c.hash_levels, features_per_level=c.hash_features,
        log2_table_size=c.hash_log2_size,
        min_resolution=c.hash_min_resolution,
        max_resolution=c.hash_max_resolution)
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

  def density(self, points: jax.Array) -> tuple[jax.Array, jax.Array]:
    """points: [M, 3] world -> density [M], features [M, D]."""
    bound = self.config.scene_bound
    h = self.grid((points + bound) / (2 * bound))
    for layer in self.density_hidden:
      h = nn.relu(layer(h))
    h = self.density_out(h)
    return trunc_exp(h[..., 0]), h[..., 1:]

  def __call__(self, points: jax.Array, ray_ids: jax.Array,
               viewdirs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Density [M] and rgb [M, 3] at points [M, 3] seen along rays.

    Args:
      ray_ids: [M] ray of each point (clipped into range).
      viewdirs: [N, 3] unit directions, one per ray.
    """
    c = self.config
    density, feats = self.density(points)
    sh = encoding.spherical_harmonics(viewdirs, c.sh_degree)  # [N, K]
    if c.color_mode == "mlp":
      # Dense(concat(features, sh)) split in two so the direction term is
      # computed once per ray.
      per_ray = self.color_dir(sh)
      h = nn.relu(self.color_geo(feats) +
                  jnp.take(per_ray, ray_ids, axis=0, mode="clip"))
      for layer in self.color_hidden:
        h = nn.relu(layer(h))
      rgb = nn.sigmoid(self.color_out(h))
    else:
      coeffs = feats.reshape(feats.shape[:-1] + (3, -1))  # [M, 3, K]
      basis = jnp.take(sh, ray_ids, axis=0, mode="clip")  # [M, K]
      rgb = nn.sigmoid(jnp.sum(coeffs * basis[:, None, :], axis=-1))
    return density, rgb


class FastModel(nn.Module):
  """The fast field as a method: (rays, key, randomized) -> [outputs]."""

  config: Any

  def setup(self):
    c = self.config
    self.field = FastField(config=c)
    num_cells = c.occupancy_resolution**3
    # Start every cell just above the threshold: all space is marched until
    # four updates have seen the field there (the field learns empty space
    # from the background pixels meanwhile).
    self.grid = self.variable(
        "occupancy", "grid",
        lambda: jnp.full((num_cells,),
                         c.occupancy_threshold / c.occupancy_decay**4,
                         jnp.float32))

  @property
  def state_update_every(self) -> int:
    return self.config.occupancy_update_every

  @property
  def step_size(self) -> float:
    c = self.config
    return 2 * math.sqrt(3) * c.scene_bound / c.march_steps

  def update_state(self, step: jax.Array, key: jax.Array) -> None:
    """Refreshes the occupancy grid from the density field (mutates it)."""
    c = self.config
    res = c.occupancy_resolution
    num_cells = res**3
    count = max(1, int(num_cells * c.occupancy_update_fraction))
    cells = occupancy.update_cells(step // c.occupancy_update_every, key,
                                   num_cells, count)
    ijk = jnp.stack([cells % res, (cells // res) % res, cells // res**2], -1)
    jitter = jax.random.uniform(key, (count, 3))
    points = ((ijk + jitter) / res * 2 - 1) * c.scene_bound
    density, _ = self.field.density(points)
    thickness = jax.lax.stop_gradient(density) * self.step_size
    self.grid.value = occupancy.update_grid(self.grid.value, cells, thickness,
                                            c.occupancy_decay)

  def __call__(self, rays: Rays, key: jax.Array,
               randomized: bool) -> list[dict[str, jax.Array]]:
    """Renders rays [N].

    Returns:
      One level: rgb [N, 3], depth [N], disp [N], acc [N] (as
      rendering.composite), loss_mask [N] (1 for rays whose samples all fit
      in the budget) and stats (scalars for the training log).
    """
    c = self.config
    n = rays.origins.shape[0]
    budget = c.samples_budget if randomized else n * c.render_samples_per_ray
    budget = max(budget, c.march_steps)  # one whole ray always fits
    samples = occupancy.march(
        key, rays, self.grid.value, c.scene_bound, c.occupancy_resolution,
        self.step_size, c.march_steps, budget, c.occupancy_threshold,
        c.early_stop_eps, randomized)
    ids = jnp.minimum(samples.ray_ids, n - 1)
    origins = jnp.take(rays.origins, ids, axis=0)
    directions = jnp.take(rays.directions, ids, axis=0)
    points = origins + samples.t[:, None] * directions
    density, rgb = self.field(points, ids, rays.viewdirs)
    density = jnp.where(samples.valid, density, 0.0)
    weights = rendering.packed_compositing_weights(density, samples.delta,
                                                   samples.ray_ids)
    out = rendering.packed_composite(weights, rgb, samples.t, samples.ray_ids,
                                     n, c.white_bkgd)
    out["loss_mask"] = samples.ray_complete.astype(jnp.float32)
    out["stats"] = dict(
        rays_used=jnp.sum(out["loss_mask"]),
        samples_per_ray=samples.num_samples / n,
        budget_fill=jnp.minimum(samples.num_samples, budget) / budget,
        occupied_fraction=jnp.mean(occupancy.occupied(
            self.grid.value, c.occupancy_threshold).astype(jnp.float32)))
    return [out]
