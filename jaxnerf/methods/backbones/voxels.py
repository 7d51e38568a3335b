"""The sparse-voxel backbone: NSVF (Liu et al., NeurIPS 2020, "Neural
Sparse Voxel Fields") scaled to a CPU.

  rays -> fixed steps inside occupied voxels (empty voxels skipped, rays
  stopped early where the voxels' density estimate has spent their
  transmittance; occupancy.pack_samples packs them into a static budget)
  -> the voxel vertices' embeddings, trilinearly interpolated inside each
  voxel -> a density MLP -> a colour MLP with the SH-encoded direction
  -> packed compositing.

Progressive training, as the paper:
  * self-pruning at `nsvf_prune_steps`: a voxel is removed when the
    density at every one of its evaluated points (nsvf_prune_points^3 per
    cell of the finest grid) gives min exp(-sigma) > nsvf_prune_gamma,
    i.e. max sigma < -log(gamma); a removed voxel never comes back;
  * subdivision at `nsvf_subdivide_steps`: the voxel size is halved, each
    child's vertex embeddings are the trilinear interpolation of its
    parent's (the field is unchanged at the moment of subdivision), and
    the marching step is halved with it (nsvf_steps_per_voxel steps a
    voxel).

Static shapes under jit (what we chose and why): the embeddings are one
dense [(R+1)^3, C] table at the final resolution R = nsvf_initial_resolution
* 2^len(nsvf_subdivide_steps), and the voxels of a stage of resolution
R / s are read from the vertices at stride s, which are a subset of the
final lattice. Subdivision then writes the in-between vertices (by
`after_step`, an edit of the parameters at the scheduled step) and never
changes a shape: no recompilation, no reshaped optimiser state (the new
vertices had no gradient, so their Adam moments are zero, as a fresh
parameter's). On the embedded lego (R = 64, C = 16) the table is 4.4 M
floats, small enough that a sparse structure (an octree of pointers,
the paper's) would only add gathers. The occupancy is a [R^3] mask of the
finest cells (a voxel of a coarser stage is s^3 of them, all equal), kept
with a [R^3] lower bound of each cell's density for early termination in
the flax collection 'voxels' (checkpointed with the run).

Evaluations per ray: every packed sample reaches the MLP once; `stats`
(training log) has `samples_per_ray`, and the output `evaluations` is the
count per ray (eval.py draws it; bench/nsvf_evaluations.py averages it over
the test rays).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core.rays import Rays
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding
from jaxnerf.fields.networks import trunc_exp
from jaxnerf.methods import base
from jaxnerf.render import compositing, losses, occupancy

# One step's optical thickness is capped at this in the early-termination
# estimate (occupancy.march's reason: a cell's value is a max over it).
EARLY_STOP_MAX_THICKNESS = 1.0


def config_fields() -> ml_collections.ConfigDict:
  """The voxel grid, its schedule, the MLPs and the marcher, with Blender
  defaults (a 2000-step schedule)."""
  c = ml_collections.ConfigDict()
  c.scene_bound = 1.5  # the voxels cover [-scene_bound, scene_bound]^3
  # Voxels per axis at the start; each subdivision doubles it.
  c.nsvf_initial_resolution = 8
  c.nsvf_subdivide_steps = (500, 1000, 1500)
  # Self-pruning; steps are multiples of nsvf_update_every (the state is
  # updated then).
  c.nsvf_prune_steps = (256, 496, 992, 1488, 1760)
  c.nsvf_prune_gamma = 0.5
  c.nsvf_prune_points = 2  # points per axis in each finest cell
  c.nsvf_embedding_dim = 16
  # Frequencies of a positional encoding of the point's position inside
  # its voxel, beside the embedding (0: none).
  c.nsvf_local_freqs = 0
  c.nsvf_steps_per_voxel = 8  # the paper: a step of 1/8 voxel
  # The density estimate for early termination: a sweep of this fraction
  # of the finest cells every nsvf_update_every steps, each cell's value
  # replaced by the min over nsvf_estimate_points random points in it (a
  # lower bound: a max, as the occupancy grid keeps, stopped rays that only
  # grazed a cell's dense part, and the demo's PSNR fell from 26 to 20 dB
  # over the last subdivisions, 8 steps a finest cell).
  c.nsvf_update_every = 16
  c.nsvf_update_fraction = 0.25
  c.nsvf_estimate_points = 4
  c.early_stop_eps = 1e-3  # stop a ray when the estimate's T is below
  c.samples_budget = 2**16  # packed samples of a training batch
  c.render_samples_per_ray = 64  # packed samples a ray when rendering
  c.density_layers = 1
  c.density_width = 64
  c.geo_features = 15
  c.color_layers = 2
  c.color_width = 64
  c.sh_degree = 3
  return c


ENGINE_DEFAULTS = dict(lr_init=1e-2, lr_final=1e-3, adam_b1=0.9, adam_b2=0.99,
                       adam_eps=1e-15, batch_size=4096, max_steps=2000)


def _steps(c, name: str) -> tuple[int, ...]:
  value = c[name]
  if isinstance(value, int) and not isinstance(value, bool):
    value = (value,)
  if not isinstance(value, (tuple, list)) or not all(
      isinstance(v, int) and not isinstance(v, bool) for v in value):
    raise ConfigError(f"config.{name}: {value!r} must be a tuple of "
                      "integer steps")
  if any(v <= 0 for v in value) or any(
      b <= a for a, b in zip(value, value[1:])):
    raise ConfigError(f"config.{name}: {tuple(value)} must be positive and "
                      "strictly increasing")
  return tuple(value)


def check_config(c) -> None:
  """Raises ConfigError naming the field of a bad voxel setting."""
  base.check_integer_fields(c, (
      ("nsvf_initial_resolution", 1), ("nsvf_prune_points", 1),
      ("nsvf_embedding_dim", 1), ("nsvf_local_freqs", 0),
      ("nsvf_steps_per_voxel", 1), ("nsvf_update_every", 1),
      ("nsvf_estimate_points", 1), ("samples_budget", 1),
      ("render_samples_per_ray", 1), ("density_layers", 0),
      ("density_width", 1), ("color_layers", 1), ("color_width", 1),
      ("sh_degree", 0)))
  _steps(c, "nsvf_subdivide_steps")
  prune = _steps(c, "nsvf_prune_steps")
  off = [s for s in prune if s % c.nsvf_update_every]
  if off:
    raise ConfigError(f"config.nsvf_prune_steps: {off[0]} is not a multiple "
                      f"of nsvf_update_every ({c.nsvf_update_every})")
  if not 0.0 < c.nsvf_prune_gamma < 1.0:
    raise ConfigError(f"config.nsvf_prune_gamma: {c.nsvf_prune_gamma!r} must "
                      "be in (0, 1)")
  if not 0.0 < c.nsvf_update_fraction <= 1.0:
    raise ConfigError("config.nsvf_update_fraction: "
                      f"{c.nsvf_update_fraction!r} must be in (0, 1]")
  if not c.scene_bound > 0:
    raise ConfigError(f"config.scene_bound: {c.scene_bound!r} must be > 0")
  if c.sh_degree > encoding.MAX_SH_DEGREE:
    raise ConfigError(f"config.sh_degree: {c.sh_degree} is above "
                      f"{encoding.MAX_SH_DEGREE}")


def final_resolution(c) -> int:
  """R: voxels per axis after every subdivision (the finest grid)."""
  return c.nsvf_initial_resolution * 2 ** len(_steps(c,
                                                     "nsvf_subdivide_steps"))


def stride_at(c, step) -> jax.Array:
  """[] int32 s: the voxels at `step` (updates applied) are s^3 finest
  cells, s = 2^(subdivisions still to come)."""
  schedule = jnp.asarray(_steps(c, "nsvf_subdivide_steps") or (0,),
                         jnp.int32)
  n = len(_steps(c, "nsvf_subdivide_steps"))
  done = jnp.sum(jnp.asarray(step, jnp.int32) >= schedule) if n else 0
  return jnp.left_shift(jnp.int32(1), n - done).astype(jnp.int32)


def step_size(c, stride) -> jax.Array:
  """World-space marching step: the voxel's edge over steps_per_voxel."""
  return (2 * c.scene_bound / final_resolution(c) * stride /
          c.nsvf_steps_per_voxel)


def max_march_steps(c) -> int:
  """Steps of the finest stage along the box's diagonal (static)."""
  return int(math.ceil(math.sqrt(3) * final_resolution(c) *
                       c.nsvf_steps_per_voxel)) + 1


def vertex_index(ijk: jax.Array, resolution: int) -> jax.Array:
  """Flat index (x fastest) of lattice vertices ijk [..., 3] in [0, R]."""
  r = resolution + 1
  return ijk[..., 0] + r * (ijk[..., 1] + r * ijk[..., 2])


def interpolate(table: jax.Array, u: jax.Array, stride, resolution: int
                ) -> tuple[jax.Array, jax.Array]:
  """Trilinear interpolation of vertex embeddings inside voxels.

  Args:
    table: [(R+1)^3, C] embeddings at the finest lattice's vertices.
    u: [M, 3] positions in finest-cell units, [0, R]^3.
    stride: s (a power of two dividing R): the voxels are s finest cells
      wide and read the vertices at multiples of s.
    resolution: R.
  Returns:
    (embeddings [M, C], local positions [M, 3] in [0, 1]^3 inside the
    point's voxel).
  """
  stride = jnp.asarray(stride, jnp.int32)
  res = resolution // stride
  v = u / stride.astype(u.dtype)  # exact: s is a power of two
  cell = jnp.clip(jnp.floor(v).astype(jnp.int32), 0, res - 1)
  local = v - cell
  out = 0.0
  for corner in range(8):
    offset = jnp.array([corner & 1, (corner >> 1) & 1, (corner >> 2) & 1],
                       jnp.int32)
    w = jnp.prod(jnp.where(offset == 1, local, 1.0 - local), axis=-1)
    idx = vertex_index((cell + offset) * stride, resolution)
    out = out + w[:, None] * jnp.take(table, idx, axis=0)
  return out, local


def subdivided(table: jax.Array, resolution: int, old_stride) -> jax.Array:
  """The table after halving the voxels of stride `old_stride`: every
  vertex gets the trilinear interpolation of the old voxels' vertices at
  its position (old vertices keep their values, so the field of the old
  voxels is unchanged: trilinear on a sub-box of a trilinear cell is that
  cell's function). [(R+1)^3, C] -> [(R+1)^3, C]."""
  r = jnp.arange(resolution + 1, dtype=jnp.float32)
  z, y, x = jnp.meshgrid(r, r, r, indexing="ij")
  u = jnp.stack([x, y, z], -1).reshape(-1, 3)
  return interpolate(table, u, old_stride, resolution)[0]


def voxel_of_cells(resolution: int, stride) -> jax.Array:
  """[R^3] the voxel (flat, at resolution R / s) of each finest cell."""
  stride = jnp.asarray(stride, jnp.int32)
  res = resolution // stride
  cells = jnp.arange(resolution**3, dtype=jnp.int32)
  i = (cells % resolution) // stride
  j = (cells // resolution % resolution) // stride
  k = (cells // resolution**2) // stride
  return i + res * (j + res * k)


def pruned(mask: jax.Array, cell_max_density: jax.Array, stride,
           gamma: float) -> jax.Array:
  """The occupancy after self-pruning: a voxel (s^3 finest cells) stays
  when max sigma over its points >= -log(gamma), i.e. not min exp(-sigma)
  > gamma.

  Args:
    mask: [R^3] bool, occupied finest cells.
    cell_max_density: [R^3] max density over each cell's evaluated points.
  Returns:
    [R^3] bool.
  """
  resolution = round(mask.shape[0] ** (1 / 3))
  voxel = voxel_of_cells(resolution, stride)
  most = jax.ops.segment_max(jnp.where(mask, cell_max_density, 0.0), voxel,
                             num_segments=resolution**3)
  return mask & (most[voxel] >= -math.log(gamma))


def cell_points(resolution: int, per_axis: int) -> jax.Array:
  """[R^3, G^3, 3] stratified points of every finest cell, in finest-cell
  units (cells in flat order, x fastest)."""
  g = (jnp.arange(per_axis, dtype=jnp.float32) + 0.5) / per_axis
  gz, gy, gx = jnp.meshgrid(g, g, g, indexing="ij")
  sub = jnp.stack([gx, gy, gz], -1).reshape(-1, 3)
  cells = jnp.arange(resolution**3, dtype=jnp.int32)
  ijk = jnp.stack([cells % resolution, cells // resolution % resolution,
                   cells // resolution**2], -1).astype(jnp.float32)
  return ijk[:, None, :] + sub[None]


def march(key: Optional[jax.Array], rays: Rays, mask: jax.Array,
          cell_density: jax.Array, c, step: jax.Array, randomized: bool,
          budget: int) -> occupancy.PackedSamples:
  """Fixed steps inside occupied voxels, packed into `budget` samples.

  The steps are occupancy.march's (occupancy.fixed_steps) with the
  stage's step; samples in empty cells are dropped, and a ray stops once the estimate
  exp(-sum min(cell_density * step, 1)) is below early_stop_eps
  (occupancy.pack_samples).

  Args:
    rays: Rays [N].
    mask: [R^3] bool occupied finest cells; cell_density: [R^3] estimate.
    step: the world-space step (stage's).
  Returns:
    PackedSamples with budget B.
  """
  t, inside, cells = occupancy.fixed_steps(
      key, rays, c.scene_bound, final_resolution(c), step,
      max_march_steps(c), randomized)
  keep = inside & mask[cells]
  delta = jnp.broadcast_to(jnp.asarray(step, t.dtype), t.shape)
  return occupancy.pack_samples(t, delta, keep, cell_density[cells] * step,
                                budget, c.early_stop_eps,
                                EARLY_STOP_MAX_THICKNESS)


class VoxelModel(nn.Module, base.Composed):
  """NSVF's voxel field, its occupancy and its progressive schedule."""

  config: Any  # base_config plus config_fields()
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()
  levels = ("",)

  def setup(self):
    c = self.config
    check_config(c)
    self.refuse_components("voxel")
    r = final_resolution(c)
    self.embeddings = self.param(
        "embeddings", nn.initializers.uniform(1e-4),
        ((r + 1) ** 3, c.nsvf_embedding_dim))
    self.density_hidden = [nn.Dense(c.density_width, name=f"density_{i}")
                           for i in range(c.density_layers)]
    self.density_out = nn.Dense(1 + c.geo_features, name="density_out")
    self.color_geo = nn.Dense(c.color_width, name="color_geo")
    self.color_dir = nn.Dense(c.color_width, use_bias=False,
                              name="color_dir")
    self.color_hidden = [nn.Dense(c.color_width, name=f"color_{i}")
                         for i in range(1, c.color_layers)]
    self.color_out = nn.Dense(3, name="color_out")
    self.mask = self.variable("voxels", "mask",
                              lambda: jnp.ones((r**3,), jnp.bool_))
    self.cell_density = self.variable("voxels", "cell_density",
                                      lambda: jnp.zeros((r**3,), jnp.float32))

  @property
  def state_update_every(self) -> int:
    return self.config.nsvf_update_every

  def _stride(self, progress: Optional[base.Progress]) -> jax.Array:
    """The stage's stride (the final one without a progress: a trained
    model's field interface)."""
    if progress is None:
      return jnp.int32(1)
    return stride_at(self.config, progress.step)

  def _to_cells(self, points: jax.Array) -> jax.Array:
    """World points [M, 3] -> finest-cell units, clipped to [0, R]."""
    c, r = self.config, final_resolution(self.config)
    u = (points + c.scene_bound) / (2 * c.scene_bound) * r
    return jnp.clip(u, 0.0, float(r))

  def field_density(self, u: jax.Array, stride) -> tuple[jax.Array,
                                                        jax.Array]:
    """(density [M], features [M, F]) at points u [M, 3] in finest-cell
    units, read from the voxels of stride `stride`."""
    c = self.config
    h, local = interpolate(self.embeddings, u, stride, final_resolution(c))
    if c.nsvf_local_freqs > 0:
      h = jnp.concatenate([h, encoding.positional_encoding(
          2 * local - 1, 0, c.nsvf_local_freqs, True)], -1)
    for layer in self.density_hidden:
      h = nn.relu(layer(h))
    h = self.density_out(h)
    return trunc_exp(h[..., 0]), h[..., 1:]

  def field_colour(self, feats: jax.Array, ray_ids: jax.Array,
                   viewdirs: jax.Array) -> jax.Array:
    """rgb [M, 3] from features [M, F] and the rays' unit directions [N, 3]
    (the direction's term computed once per ray)."""
    per_ray = self.color_dir(encoding.spherical_harmonics(
        viewdirs, self.config.sh_degree))
    h = nn.relu(self.color_geo(feats) +
                jnp.take(per_ray, ray_ids, axis=0, mode="clip"))
    for layer in self.color_hidden:
      h = nn.relu(layer(h))
    return nn.sigmoid(self.color_out(h))

  def cell_max_density(self, stride) -> jax.Array:
    """[R^3] max density over nsvf_prune_points^3 points of every finest
    cell (chunks of cells, to bound the memory)."""
    c = self.config
    r = final_resolution(c)
    points = cell_points(r, c.nsvf_prune_points)
    g = points.shape[1]
    fn = lambda p: jnp.max(self.field_density(p, stride)[0].reshape(-1, g),
                           -1)
    per_chunk = max(1, 2**16 // g)
    num = r**3
    pad = (-num) % per_chunk
    points = jnp.concatenate([points, jnp.zeros((pad, g, 3))], 0)
    chunks = points.reshape(-1, per_chunk * g, 3)
    return jax.lax.map(fn, chunks).reshape(-1)[:num]

  def update_state(self, step: jax.Array, key: jax.Array) -> None:
    """Refreshes the early-termination estimate (a sweep of cells, each
    set to the min density over random points in it) and, at a pruning
    step, prunes."""
    c = self.config
    r = final_resolution(c)
    stride = stride_at(c, step)
    num_cells = r**3
    count = max(1, int(num_cells * c.nsvf_update_fraction))
    cells = occupancy.update_cells(step // c.nsvf_update_every, key,
                                   num_cells, count)
    ijk = jnp.stack([cells % r, cells // r % r, cells // r**2], -1)
    p = c.nsvf_estimate_points
    u = ijk[:, None, :] + jax.random.uniform(key, (count, p, 3))
    density = jax.lax.stop_gradient(
        self.field_density(u.reshape(-1, 3), stride)[0]).reshape(count, p)
    self.cell_density.value = self.cell_density.value.at[cells].set(
        jnp.min(density, axis=-1))
    prune_now = jnp.any(step == jnp.asarray(_steps(c, "nsvf_prune_steps")
                                            or (-1,)))
    mask = self.mask.value
    self.mask.value = jax.lax.cond(
        prune_now,
        lambda: pruned(mask, jax.lax.stop_gradient(
            self.cell_max_density(stride)), stride, c.nsvf_prune_gamma),
        lambda: mask)

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N].

    Returns:
      One level: rgb [N, 3], depth, disp, acc [N], evaluations [N] (the
      samples of each ray that reached the MLP), loss_mask [N] (rays whose
      samples all fit the budget) and stats.
    """
    c = self.config
    n = rays.origins.shape[0]
    stride = self._stride(progress)
    step = step_size(c, stride)
    budget = n * c.render_samples_per_ray
    if randomized:
      budget = min(budget, c.samples_budget)
    budget = max(budget, max_march_steps(c))  # one whole ray always fits
    samples = march(key, rays, self.mask.value, self.cell_density.value, c,
                    step, randomized, budget)
    ids = jnp.minimum(samples.ray_ids, n - 1)
    points = (jnp.take(rays.origins, ids, axis=0) + samples.t[:, None] *
              jnp.take(rays.directions, ids, axis=0))
    density, feats = self.field_density(self._to_cells(points), stride)
    density = jnp.where(samples.valid, density, 0.0)
    rgb = self.field_colour(feats, ids, rays.viewdirs)
    weights = compositing.packed_compositing_weights(density, samples.delta,
                                                     samples.ray_ids)
    out = compositing.packed_composite(weights, rgb, samples.t,
                                       samples.ray_ids, n, c.white_bkgd)
    evaluations = jax.ops.segment_sum(samples.valid.astype(jnp.float32),
                                      samples.ray_ids, num_segments=n,
                                      indices_are_sorted=True)
    complete = samples.ray_complete.astype(jnp.float32)
    r = final_resolution(c)
    out["evaluations"] = evaluations
    out["loss_mask"] = complete
    out["stats"] = dict(
        rays_used=jnp.sum(complete),
        samples_per_ray=samples.num_samples / n,
        budget_fill=jnp.minimum(samples.num_samples, budget) / budget,
        nsvf_resolution=(r // stride).astype(jnp.float32),
        nsvf_voxels=jnp.sum(self.mask.value).astype(jnp.float32) /
        (stride**3).astype(jnp.float32),
        nsvf_occupied_fraction=jnp.mean(self.mask.value.astype(jnp.float32)))
    return [out]

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at world points [M, 3], zero in pruned voxels and
    outside the box (where the marcher never samples)."""
    c = self.config
    stride = self._stride(progress)
    sigma = self.field_density(self._to_cells(points), stride)[0]
    cells = occupancy.cell_index(points, c.scene_bound, final_resolution(c))
    inside = jnp.all(jnp.abs(points) <= c.scene_bound, axis=-1)
    return jnp.where(inside & self.mask.value[cells], sigma, 0.0)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at world points [M, 3] seen along unit directions."""
    _, feats = self.field_density(self._to_cells(points),
                                  self._stride(progress))
    return self.field_colour(feats, jnp.arange(points.shape[0]), viewdirs)


def subdivide_after_step(config, params, opt_state, step, key,
                         learning_rate):
  """The Method's after_step: at a subdivision step, the embeddings of the
  new (halved) voxels, interpolated from the old ones."""
  del key, learning_rate
  schedule = _steps(config, "nsvf_subdivide_steps")
  if not schedule:
    return params, opt_state
  now = jnp.any(step == jnp.asarray(schedule))
  r = final_resolution(config)
  old = stride_at(config, step - 1)
  table = params["embeddings"]
  table = jax.lax.cond(now, lambda t: subdivided(t, r, old), lambda t: t,
                       table)
  return {**params, "embeddings": table}, opt_state


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  del config, params
  return losses.rgb_terms(outputs, rays, rgb, 1.0)


BACKBONE = base.Backbone(
    name="voxels",
    fields=config_fields,
    build=lambda config, scene, components: VoxelModel(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    engine_defaults=ENGINE_DEFAULTS,
    outputs={**base.STANDARD_OUTPUTS, "evaluations": "heatmap"},
    after_step=subdivide_after_step,
)
