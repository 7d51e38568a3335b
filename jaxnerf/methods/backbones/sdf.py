"""The SDF backbone: a signed distance field on Instant-NGP's hash grid
(instant-nsr / NeuS2 style) or on NeuS's own MLP (`sdf_encoding`), rendered
by NeuS's unbiased, occlusion-aware opacity (jaxnerf/render/neus.py), with
NeuS's NeRF++ outside model where the scene goes on beyond it
(`background`).

  rays -> samples evenly spaced in the ray's stretch of the scene box
  (jittered while training), then `importance_samples` more drawn from the
  NeuS weights of that first pass at a fixed, sharper s (the paper's
  up-sampling, one round) -> SDFField: hash grid -> small MLP -> f and
  features; grad f by one reverse pass; colour from the features, the
  normal and the SH-encoded view direction -> neus.sdf_alpha -> weights.

Why a backbone and not a component replacing density: the SDF changes the
field's output (f, not log-density), needs its gradient at every sample
(the opacity reads the slope along the ray, the colour the normal), its own
compositing (alpha per interval from f, not exp(-sigma delta)), sampling
that follows the surface rather than an occupancy grid of density, and a
loss of its own (Eikonal). A component hooks into a density pipeline; this
replaces the pipeline, so it is the backbone's job. It reuses the hash-grid
encoding, the SH encoding and the samplers' ray-box clipping.

Geometric init: f = |x| - sdf_init_radius + MLP(grid(x)) with the MLP's
last layer zero, so training starts from an exact SDF of a sphere (what
NeuS's geometric init approximates with a special MLP init; here exact,
whatever the grid's features).

`sdf_encoding="frequency"`: the same field with NeuS's network in place of
grid and MLP (jaxnerf/fields/sdf_mlp.py: the positional encoding of
x / scene_bound, softplus layers with a skip, weight normalisation and
the paper's geometric init, f ~ |x| - r to a spread derived in
tests/test_sdf_mlp.py) and the paper's colour MLP (x, normal, encoded
direction, features). Not a second backbone: sampling, opacity, losses
and the field interface are the same; only the encoder of x differs.

`background="nerfpp"` (captures): the SDF holds the ball of radius
scene_bound (which holds the cameras), NeuS's outside model, NeRF++'s NeRF
on the inverted sphere (jaxnerf/methods/nerfpp.py's parametrisation),
everything beyond; C = C_sdf + T_sdf C_bg. The SDF's samples then span the
ray's stretch of the ball from near (far unused). Not a component: the
components' hooks act on one pipeline's samples, and a second pipeline
beyond the first (its own samples, field and compositing after the SDF's
transmittance) has no hook in base.Component; the NeuS rendering alone
takes it (UNISURF's and RtS's refuse it in one line).

The field interface: `sdf(points)` (exports extract its zero level set),
`density(points)` = s sigmoid(-s f) (neus.logistic_density) and
`radiance(points, viewdirs)` seen with the SDF's normal.

UNISURF (`surface_rendering="unisurf"`, method `unisurf`) renders the same
field as an occupancy o = sigmoid(-occupancy_sharpness f) (surface at f =
0, o = 0.5): `root_samples` even points find the first crossing, the
secant method refines it, `interval_samples` go evenly in a shrinking
interval around it and `free_samples` in the free space before it; the
occupancies are the alphas (jaxnerf/render/unisurf.py); the normals'
smoothness at the surface is its regulariser, no Eikonal term.

Components: only those acting before rays are cast (camera refinement);
the per-sample hooks (warp, shade, render_samples) are not called.
Bounded scenes only: NDC rays (LLFF's forward-facing setting) are refused.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core.rays import Rays
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding, hashgrid, networks, sdf_mlp
from jaxnerf.methods import base, nerfpp
from jaxnerf.render import (compositing, contraction, losses, neus,
                            occupancy, sampling, unisurf)


def config_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Scene box [-scene_bound, scene_bound]^3 (the Blender scenes': 1.5).
  c.scene_bound = 1.5
  # Hash grid over the box (Instant-NGP's fields, its NeRF settings).
  c.hash_levels = 16
  c.hash_features = 2
  c.hash_log2_size = 19
  c.hash_min_resolution = 16
  c.hash_max_resolution = 2048
  # Geometry MLP: hidden layers of density_width (softplus: a smooth
  # gradient, which the normals and the Eikonal term read), then f and
  # geo_features features.
  c.density_layers = 1
  c.density_width = 64
  c.geo_features = 15
  c.softplus_beta = 100.0  # NeuS's
  # "hashgrid" (the above) or "frequency": NeuS's own network, the
  # positional encoding of x / scene_bound (frequencies 2^0 ..
  # 2^(max_deg_point - 1)) into density_layers softplus layers of
  # density_width with the input again before layer sdf_skip_layer, weight
  # normalisation and the geometric init (jaxnerf/fields/sdf_mlp.py); its
  # colour MLP reads x, the normal, the view direction's encoding
  # (frequencies up to 2^(deg_view - 1)) and the features (the paper: 8 x
  # 256, skip 4, 6 and 4 frequencies, a 256-wide feature, colour 4 x 256).
  c.sdf_encoding = "hashgrid"
  c.max_deg_point = 6
  c.deg_view = 4
  c.sdf_skip_layer = 4
  # Colour MLP on (features, normal, SH of the view direction).
  c.sh_degree = 3
  c.color_layers = 2
  c.color_width = 64
  # The sphere training starts from (radius, scene units).
  c.sdf_init_radius = 0.75
  # Samples per ray: field_samples evenly in the box, then
  # importance_samples from their weights at s = importance_inv_s (NeuS:
  # 64 + 64 over four rounds at s = 64 * 2^i; here one round).
  c.field_samples = 64
  c.importance_samples = 32
  c.importance_inv_s = 64.0
  # s = exp(variance_scale * variance), variance learned from
  # init_variance (the paper: 10 and 0.3).
  c.init_variance = 0.3
  c.variance_scale = 10.0
  # The variance's own Adam schedule ("variance" group): s must grow as
  # the surface sharpens, and at the field's rate it grew from 20 to 61
  # in the 431 steps of a busy 20 minutes (docs/BENCHMARKS.md, Surfaces).
  c.update(base.schedule_fields("variance_", 1e-2, 1e-3))
  # The slope estimate anneals over this fraction of training (the paper:
  # 50k of 300k steps).
  c.cos_anneal_fraction = 1.0 / 6.0
  # The Eikonal term's weight (the paper's lambda: 0.1), on every sample
  # inside the box.
  c.eikonal_mult = 0.1
  # "neus" or "unisurf" (jaxnerf/render/unisurf.py; the fields below are
  # UNISURF's only).
  c.surface_rendering = "neus"
  c.occupancy_sharpness = 10.0  # o = sigmoid(-10 f), the official code's
  # Root finding: even points over the ray's stretch of the box (the
  # paper: 256 over its sphere), then secant steps (the paper: 8).
  c.root_samples = 64
  c.secant_steps = 8
  # Samples in [t_s - Delta, t_s + Delta] (the paper: 64) and before it
  # (32); Delta from surface_interval_start to surface_interval_end
  # (scene units), exponentially, reaching the end at this fraction of
  # training (the paper: 2.0 -> 0.1 in a unit sphere, decay 1.5e-5 an
  # iteration: the floor at 200 k of 450 k iterations).
  c.interval_samples = 32
  c.free_samples = 16
  c.surface_interval_start = 1.0
  c.surface_interval_end = 0.05
  c.surface_interval_fraction = 0.5
  # || n(x_s) - n(x_s + eps) || at the surface points, eps uniform in
  # [-r, r]^3 (the paper: lambda 0.005, r 0.005).
  c.normal_smoothness_mult = 0.005
  c.normal_smoothness_radius = 0.005
  # What lies beyond the SDF: "none" (the box is the whole scene: the
  # Blender scenes) or "nerfpp": NeuS's outside model, NeRF++'s NeRF on
  # the inverted sphere (x / r, R / r) beyond the ball of radius
  # R = scene_bound (which must hold every camera), its bg_samples even in
  # R / r; the SDF's samples then span the ray's stretch of that ball and
  # C = C_sdf + T_sdf C_bg. The paper's outside MLP: 8 x 256, 10
  # frequencies of the 4-vector (4 of the view: deg_view), 32 samples.
  c.background = "none"
  c.bg_samples = 32
  c.bg_layers = 4
  c.bg_width = 64
  c.bg_max_deg_point = 10
  return c


SURFACE_RENDERINGS = ("neus", "unisurf")
SDF_ENCODINGS = ("hashgrid", "frequency")
BACKGROUNDS = ("none", "nerfpp")


# Instant-NGP's optimiser (the grid trains at 1e-2 as there).
ENGINE_DEFAULTS = dict(lr_init=1e-2, lr_final=1e-3, adam_b1=0.9, adam_b2=0.99,
                       adam_eps=1e-15, batch_size=1024, max_steps=20_000)


def check_config(config) -> None:
  """One-line errors for settings the SDF backbone cannot render."""
  if (config.get("dataset_type") == "llff" and config.get("llff_ndc")
      and not config.get("spherify")):
    raise ConfigError(
        f"config.llff_ndc: method {config.method} renders a signed distance "
        "field in a bounded scene box, not NDC rays; set "
        "--config.llff_ndc=false (or --config.spherify=true)")
  for name in ("field_samples", "density_width", "color_width"):
    if config[name] < 1:
      raise ConfigError(f"config.{name}: must be at least 1, got "
                        f"{config[name]}")
  if config.importance_samples < 0:
    raise ConfigError("config.importance_samples: must be at least 0, got "
                      f"{config.importance_samples}")
  for name, known in (("sdf_encoding", SDF_ENCODINGS),
                      ("background", BACKGROUNDS)):
    if config[name] not in known:
      raise ConfigError(f"config.{name}: {config[name]!r} is not one of "
                        f"{', '.join(known)}")
  base.check_integer_fields(config, (
      ("max_deg_point", 0), ("deg_view", 0), ("sdf_skip_layer", 0),
      ("bg_samples", 1), ("bg_layers", 1), ("bg_width", 2),
      ("bg_max_deg_point", 0)))
  if config.sdf_encoding == "frequency" and config.density_layers < 1:
    raise ConfigError("config.density_layers: the frequency encoding's "
                      "geometric init needs at least 1 hidden layer, got "
                      f"{config.density_layers}")
  if config.background != "none" and config.surface_rendering != "neus":
    raise ConfigError(
        f"config.background: {config.background!r} is rendered with NeuS "
        f"only, not surface_rendering={config.surface_rendering!r}; set "
        "--config.background=none")
  if config.surface_rendering not in SURFACE_RENDERINGS:
    raise ConfigError(f"config.surface_rendering: {config.surface_rendering!r}"
                      f" is not one of {', '.join(SURFACE_RENDERINGS)}")
  for name, least in (("root_samples", 2), ("interval_samples", 1),
                      ("free_samples", 0), ("secant_steps", 0)):
    if config[name] < least:
      raise ConfigError(f"config.{name}: must be at least {least}, got "
                        f"{config[name]}")
  if not (0 < config.surface_interval_end <= config.surface_interval_start):
    raise ConfigError(
        "config.surface_interval_end: must be in (0, surface_interval_start"
        f" = {config.surface_interval_start}], got "
        f"{config.surface_interval_end}")


class SDFField(nn.Module):
  """Signed distance and colour at world points.

  Attributes:
    config: the backbone's fields.
  """

  config: Any

  def setup(self):
    c = self.config
    if c.sdf_encoding == "frequency":
      # NeuS's network on x / scene_bound (its unit sphere): f there is
      # f_world / scene_bound, so the init radius is scaled alike.
      self.geo_mlp = sdf_mlp.GeometricMLP(
          layers=c.density_layers, width=c.density_width,
          skip=c.sdf_skip_layer, out_features=c.geo_features,
          radius=c.sdf_init_radius / c.scene_bound,
          softplus_beta=c.softplus_beta)
      self.color_hidden = [sdf_mlp.WeightNormDense(c.color_width,
                                                   name=f"color_{i}")
                           for i in range(c.color_layers)]
      self.color_out = sdf_mlp.WeightNormDense(3, name="color_out")
    else:
      self.grid = hashgrid.HashGridEncoding(
          num_levels=c.hash_levels, features_per_level=c.hash_features,
          log2_table_size=c.hash_log2_size,
          min_resolution=c.hash_min_resolution,
          max_resolution=c.hash_max_resolution)
      self.geo_hidden = [nn.Dense(c.density_width, name=f"geo_{i}")
                         for i in range(c.density_layers)]
      # Zero: f starts as the sphere's exact SDF.
      self.geo_out = nn.Dense(1 + c.geo_features, name="geo_out",
                              kernel_init=nn.initializers.zeros)
      self.color_hidden = [nn.Dense(c.color_width, name=f"color_{i}")
                           for i in range(c.color_layers)]
      self.color_out = nn.Dense(3, name="color_out")
    self.variance = self.param(
        "variance", lambda key: jnp.asarray(c.init_variance, jnp.float32))

  def inv_s(self) -> jax.Array:
    return neus.inv_s(self.variance, self.config.variance_scale)

  def geometry(self, points: jax.Array) -> tuple[jax.Array, jax.Array]:
    """points [M, 3] world -> f [M], features [M, geo_features]."""
    c = self.config
    if c.sdf_encoding == "frequency":
      f, feats = self.geo_mlp(encoding.positional_encoding(
          points / c.scene_bound, 0, c.max_deg_point))
      return c.scene_bound * f, feats
    beta = c.softplus_beta
    h = self.grid((points + c.scene_bound) / (2 * c.scene_bound))
    for layer in self.geo_hidden:
      h = jax.nn.softplus(beta * layer(h)) / beta
    h = self.geo_out(h)
    # |x| with a zero gradient at x = 0 (the norm's is NaN there; the
    # origin is a vertex of every even marching-cubes grid).
    sphere = jnp.sqrt(jnp.maximum(jnp.sum(points**2, axis=-1), 1e-12)
                      ) - c.sdf_init_radius
    return sphere + h[..., 0], h[..., 1:]

  def colour(self, points: jax.Array, feats: jax.Array, normals: jax.Array,
             viewdirs: jax.Array) -> jax.Array:
    """rgb [M, 3] at points [M, 3] from features [M, D], unit normals and
    unit view directions [M, 3] (the hash grid's colour: the features,
    the normal and the SH of the direction; NeuS's: x, the normal, the
    direction's positional encoding and the features)."""
    c = self.config
    if c.sdf_encoding == "frequency":
      h = jnp.concatenate(
          [points / c.scene_bound, normals,
           encoding.positional_encoding(viewdirs, 0, c.deg_view), feats], -1)
    else:
      sh = encoding.spherical_harmonics(viewdirs, c.sh_degree)
      h = jnp.concatenate([feats, normals, sh], axis=-1)
    for layer in self.color_hidden:
      h = nn.relu(layer(h))
    return nn.sigmoid(self.color_out(h))

  def __call__(self, points: jax.Array, viewdirs: jax.Array):
    """(f [M], grad f [M, 3], rgb [M, 3]) at points [M, 3] seen along unit
    directions [M, 3]."""
    f, grad, feats = neus.with_gradient(self.geometry, points)
    normals = grad / jnp.maximum(
        jnp.linalg.norm(grad, axis=-1, keepdims=True), 1e-8)
    return f, grad, self.colour(points, feats, normals, viewdirs)


class InvertedSphereBackground(nn.Module):
  """NeuS's outside model: NeRF++'s NeRF on the inverted sphere beyond
  the ball of radius scene_bound (jaxnerf/methods/nerfpp.py's
  parametrisation), sampled evenly in R / r, softplus density (NeuS's).

  Attributes:
    config: the backbone's fields.
  """

  config: Any

  def setup(self):
    c = self.config
    self.mlp = networks.MLP(netdepth=c.bg_layers, netwidth=c.bg_width,
                            netdepth_condition=1,
                            netwidth_condition=c.bg_width // 2)

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool
               ) -> dict[str, jax.Array]:
    """rgb [N, 3], depth [N], acc [N] of rays [N] (origins inside the
    ball) beyond it, on no background colour."""
    c = self.config
    zeros = jnp.zeros_like(rays.near)
    # q = 1 - R / r from the sphere (0) outwards, short of infinity.
    q = sampling.stratified_t(key, zeros, zeros + 1.0 - 1.0 / c.bg_samples,
                              c.bg_samples, randomized, False)
    inputs, t = nerfpp.background_points(rays.origins, rays.directions,
                                         1.0 - q, c.scene_bound)
    raw_rgb, raw_density = self.mlp(
        encoding.positional_encoding(inputs, 0, c.bg_max_deg_point),
        encoding.positional_encoding(rays.viewdirs, 0, c.deg_view))
    # Intervals in q (NeRF++'s code); the last reaches infinity.
    delta = jnp.concatenate([jnp.diff(q, axis=-1), jnp.full_like(
        q[:, :1], compositing.FAR_DELTA)], -1)
    weights = compositing.weights_from_deltas(
        jax.nn.softplus(raw_density[..., 0]), delta)
    out = compositing.composite(weights, nn.sigmoid(raw_rgb), t, False)
    return dict(rgb=out["rgb"], depth=out["depth"], acc=out["acc"])


def ball_interval(rays: Rays, radius: float) -> tuple[jax.Array, jax.Array]:
  """[N] t_min, t_max of rays in the ball |x| < radius from near on
  (rays.far unused: the background takes over at t_max); t_max == t_min
  where a ray misses it."""
  norm = jnp.linalg.norm(rays.directions, axis=-1)
  enter, exit_ = contraction.sphere_interval(
      rays.origins, rays.directions / norm[:, None], radius)
  t_min = jnp.maximum(enter / norm, rays.near[:, 0])
  return t_min, jnp.maximum(exit_ / norm, t_min)


def box_interval(rays: Rays, bound: float) -> tuple[jax.Array, jax.Array]:
  """[N] t_min, t_max of rays in the box and between near and far;
  t_max == t_min where a ray misses it."""
  t_min, t_max = occupancy.ray_aabb(rays.origins, rays.directions, bound)
  t_min = jnp.maximum(t_min, rays.near[:, 0])
  t_max = jnp.maximum(jnp.minimum(t_max, rays.far[:, 0]), t_min)
  return t_min, t_max


class SDFModel(nn.Module, base.Composed):
  """The SDF field rendered by NeuS; components' submodules beside it."""

  config: Any
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()
  levels = ("",)

  def setup(self):
    check_config(self.config)
    self.setup_components()
    self.field = SDFField(config=self.config)
    if self.config.background == "nerfpp":
      self.background = InvertedSphereBackground(config=self.config)

  def _interval(self, rays: Rays) -> tuple[jax.Array, jax.Array]:
    """[N] t_min, t_max: the SDF's stretch of each ray (the box, or with
    a background the ball it starts beyond)."""
    c = self.config
    if c.background == "none":
      return box_interval(rays, c.scene_bound)
    return ball_interval(rays, c.scene_bound)

  def _edges(self, key, rays: Rays, randomized: bool) -> jax.Array:
    """[N, S + 1] interval edges in t: evenly spaced in the box, then
    the importance samples' edges merged in."""
    c = self.config
    n, s = rays.origins.shape[0], c.field_samples
    t_min, t_max = self._interval(rays)
    u = jnp.linspace(0.0, 1.0, s + 1)
    if randomized:  # one shift per ray, as NeuS (edges stay in the box)
      key, sub = jax.random.split(key)
      shift = (jax.random.uniform(sub, (n, 1)) - 0.5) / s
      u = jnp.clip(u + shift, 0.0, 1.0)
    edges = t_min[:, None] + (t_max - t_min)[:, None] * u
    if not c.importance_samples:
      return edges
    # NeuS's up-sampling: the first pass's weights at a fixed s, the slope
    # from consecutive SDF values (no gradient: the samples are where the
    # field is asked, not what it learns from).
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    points = rays.origins[:, None] + mids[..., None] * rays.directions[:,
                                                                        None]
    f = jax.lax.stop_gradient(
        self.field.geometry(points.reshape(-1, 3))[0].reshape(n, s))
    norm = jnp.linalg.norm(rays.directions, axis=-1, keepdims=True)
    delta = (edges[:, 1:] - edges[:, :-1]) * norm
    slope = jnp.diff(f, axis=-1) / jnp.maximum(delta[:, 1:], 1e-6)
    slope = jnp.clip(jnp.concatenate([slope[:, :1], slope], -1), -1e3, 0.0)
    alpha = neus.sdf_alpha(f, slope, delta, c.importance_inv_s, 1.0)
    weights = neus.alpha_weights(alpha)
    extra = sampling.sample_pdf(key if randomized else None, edges, weights,
                                c.importance_samples, randomized)
    return jnp.sort(jnp.concatenate([edges, extra], -1), -1)

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N].

    Returns:
      One level: rgb [N, 3], depth [N], disp [N], acc [N], normal [N, 3]
      (the composite of (n + 1) / 2, as eval.py's normal error reads it),
      eikonal [N] (the mean Eikonal term of the ray's samples) and stats
      (s, the annealing).
    """
    c = self.config
    if c.surface_rendering == "unisurf":
      return self._unisurf(rays, key, randomized, progress)
    n = rays.origins.shape[0]
    bg_key = None
    if c.background != "none" and randomized:
      key, bg_key = jax.random.split(key)
    edges = jax.lax.stop_gradient(self._edges(key, rays, randomized))
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    s = mids.shape[-1]
    norm = jnp.linalg.norm(rays.directions, axis=-1, keepdims=True)
    delta = (edges[:, 1:] - edges[:, :-1]) * norm  # [N, S] world units
    points = rays.origins[:, None] + mids[..., None] * rays.directions[:,
                                                                        None]
    dirs = jnp.broadcast_to(rays.viewdirs[:, None], (n, s, 3))
    f, grad, rgb = self.field(points.reshape(-1, 3), dirs.reshape(-1, 3))
    f, grad, rgb = f.reshape(n, s), grad.reshape(n, s, 3), rgb.reshape(n, s,
                                                                       3)
    inv_s = self.field.inv_s()
    anneal = neus.cos_anneal_ratio(
        None if progress is None else progress.fraction,
        c.cos_anneal_fraction)
    cos = jnp.sum(grad * rays.viewdirs[:, None], -1)
    inside = (delta > 0).astype(jnp.float32)  # rays that miss: no interval
    alpha = neus.sdf_alpha(f, cos, delta, inv_s, anneal) * inside
    weights = neus.alpha_weights(alpha)
    if c.background == "none":
      out = compositing.composite(weights, rgb, mids, c.white_bkgd)
    else:
      out = compositing.composite(weights, rgb, mids, False)
      # C = C_sdf + T_sdf C_bg, T_sdf what the SDF's samples leave.
      bg = self.background(rays, bg_key, randomized)
      rest = 1.0 - out["acc"]
      out["rgb"] = out["rgb"] + rest[:, None] * bg["rgb"]
      if c.white_bkgd:
        out["rgb"] = out["rgb"] + (rest * (1.0 - bg["acc"]))[:, None]
      out["depth"] = out["depth"] + rest * bg["depth"]
      out["acc"] = out["acc"] + rest * bg["acc"]
      # The total's disparity by composite's rule: one weight, acc, at
      # depth / acc.
      out["disp"] = compositing.composite(
          out["acc"][:, None], out["rgb"][:, None],
          (out["depth"] / jnp.maximum(out["acc"], 1e-10))[:, None],
          False)["disp"]
    del out["weights"]
    out.update(_normal_and_eikonal(weights, grad, inside))
    out["stats"] = dict(inv_s=inv_s, cos_anneal=anneal,
                        samples_per_ray=jnp.asarray(s, jnp.float32))
    return [out]

  def _occupancy_at(self, rays: Rays, t: jax.Array) -> jax.Array:
    """UNISURF's occupancy [N, K] at positions t [N, K] along rays [N]."""
    points = rays.origins[:, None] + t[..., None] * rays.directions[:, None]
    f = self.field.geometry(points.reshape(-1, 3))[0].reshape(t.shape)
    return unisurf.occupancy(f, self.config.occupancy_sharpness)

  def _surface(self, rays: Rays, t_min: jax.Array, t_max: jax.Array):
    """(hit [N], t_s [N]): the first crossing of o = 0.5 by even points
    and secant steps; no gradient (where the field is asked)."""
    c = self.config
    hit, t_s = unisurf.find_surfaces(
        lambda t: self._occupancy_at(rays, t), t_min, t_max, c.root_samples,
        1, c.secant_steps)
    return hit[:, 0], t_s[:, 0]

  def _unisurf(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress]
               ) -> list[dict[str, jax.Array]]:
    """UNISURF's render of rays [N]: the outputs of __call__ with
    `smoothness` [N] (|n(x_s) - n(x_s + eps)| where the ray found a
    surface while training, else 0) and `hit` [N] (1 where it did)."""
    c = self.config
    n = rays.origins.shape[0]
    t_min, t_max = box_interval(rays, c.scene_bound)
    hit, t_s = self._surface(rays, t_min, t_max)
    delta = unisurf.interval(
        None if progress is None else progress.fraction,
        c.surface_interval_start, c.surface_interval_end,
        c.surface_interval_fraction)
    key, sub = jax.random.split(key)
    t = jax.lax.stop_gradient(unisurf.surface_samples(
        sub, t_min, t_max, t_s, hit, delta, c.interval_samples,
        c.free_samples, randomized))
    s = t.shape[-1]
    points = rays.origins[:, None] + t[..., None] * rays.directions[:, None]
    dirs = jnp.broadcast_to(rays.viewdirs[:, None], (n, s, 3))
    f, grad, rgb = self.field(points.reshape(-1, 3), dirs.reshape(-1, 3))
    f, grad, rgb = f.reshape(n, s), grad.reshape(n, s, 3), rgb.reshape(n, s,
                                                                       3)
    inside = jnp.broadcast_to((t_max > t_min)[:, None], (n, s)).astype(
        jnp.float32)
    weights = neus.alpha_weights(
        unisurf.occupancy(f, c.occupancy_sharpness) * inside)
    out = compositing.composite(weights, rgb, t, c.white_bkgd)
    del out["weights"]
    out.update(_normal_and_eikonal(weights, grad, inside))
    if randomized and c.normal_smoothness_mult:
      x_s = rays.origins + t_s[:, None] * rays.directions
      eps = c.normal_smoothness_radius * jax.random.uniform(
          key, x_s.shape, minval=-1.0, maxval=1.0)
      _, g, _ = neus.with_gradient(self.field.geometry,
                                   jnp.concatenate([x_s, x_s + eps]))
      g = g / jnp.maximum(jnp.linalg.norm(g, axis=-1, keepdims=True), 1e-5)
      out["smoothness"] = jnp.where(
          hit, jnp.linalg.norm(g[:n] - g[n:], axis=-1), 0.0)
    else:
      out["smoothness"] = jnp.zeros((n,), jnp.float32)
    out["hit"] = hit.astype(jnp.float32)
    out["stats"] = dict(surface_interval=delta,
                        surface_hits=jnp.mean(out["hit"]),
                        samples_per_ray=jnp.asarray(s, jnp.float32))
    return [out]

  def sdf(self, points: jax.Array, progress=None) -> jax.Array:
    """The signed distance [M] at points [M, 3] (negative inside)."""
    del progress
    return self.field.geometry(points)[0]

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """neus.logistic_density [M] at points [M, 3] (UNISURF: at its fixed
    sharpness, the learned s being NeuS's)."""
    c = self.config
    s = (jnp.asarray(c.occupancy_sharpness, jnp.float32)
         if c.surface_rendering == "unisurf" else self.field.inv_s())
    return neus.logistic_density(self.sdf(points, progress), s)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at points [M, 3] seen along unit directions [M, 3],
    with the SDF's normal there."""
    del progress
    return self.field(points, viewdirs)[2]


def _normal_and_eikonal(weights: jax.Array, grad: jax.Array,
                        inside: jax.Array) -> dict[str, jax.Array]:
  """normal [N, 3] (the composite of (n + 1) / 2, as eval.py's normal
  error reads it) and eikonal [N] (the mean Eikonal term of the samples
  inside the box) of weights [N, S], grad f [N, S, 3], inside [N, S]."""
  unit = grad / jnp.maximum(jnp.linalg.norm(grad, axis=-1, keepdims=True),
                            1e-8)
  return dict(
      normal=jnp.sum(weights[..., None] * (unit + 1.0) * 0.5, -2),
      eikonal=(jnp.sum(inside * neus.eikonal(grad), -1) /
               jnp.maximum(jnp.sum(inside, -1), 1.0)))


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  del params
  out = outputs[-1]
  w = losses.ray_weights(out, rays)
  mean = lambda x, m: jnp.sum(m * x) / jnp.maximum(jnp.sum(m), 1e-8)
  terms = {**losses.rgb_terms(outputs, rays, rgb, 1.0),
           "eikonal": config.eikonal_mult * mean(out["eikonal"], w)}
  if "smoothness" in out:
    terms["normal_smoothness"] = config.normal_smoothness_mult * mean(
        out["smoothness"], w * out["hit"])
  return terms


BACKBONE = base.Backbone(
    name="sdf",
    fields=config_fields,
    build=lambda config, scene, components: SDFModel(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    engine_defaults=ENGINE_DEFAULTS,
    outputs={**base.STANDARD_OUTPUTS, "normal": "rgb"},
    param_groups=(base.ParamGroup(
        "variance", prefix="variance_",
        match=lambda path: bool(path) and path[-1] == "variance"),),
)
