"""D-NeRF (Pumarola et al., CVPR 2021) and its T-NeRF baseline, on NeRF's
MLP.

D-NeRF: a deformation network maps a sample x at the ray's time t to a
displacement dx into the canonical space, the scene at t = 0; a canonical
NeRF gives density and colour at x + dx. As the authors' code, the
deformation MLP reads the encoded (x, t) (8 layers of 256, x again after
the 4th), the displacement is exactly zero at t = 0 (the canonical frame is
the first one, not learned), and the coarse and fine levels each have their
own deformation and canonical networks. Encodings: x and t with 10
frequencies, view directions with 4 (D-NeRF's `multires` for both x and t).

T-NeRF (`deformation = False`): no deformation; the field reads the encoded
(x, t) directly.

The field interface (`density`, `radiance`) is the scene at time 0.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import encoding
from jaxnerf.render import compositing, sampling
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp as mlp_backbone
from jaxnerf.core.rays import Rays


def time_fields() -> ml_collections.ConfigDict:
  """Fields of the time encoding and the switch (shared with dnerf_ngp)."""
  c = ml_collections.ConfigDict()
  c.deformation = True  # False: T-NeRF (time is an input of the field)
  c.min_deg_time = 0
  c.max_deg_time = 10
  return c


def config_fields() -> ml_collections.ConfigDict:
  c = mlp_backbone.config_fields()
  c.update(time_fields())
  c.deform_depth = 8
  c.deform_width = 256
  c.deform_skip = 4  # the encoded x joins again after this many layers
  return c


def encode_time(time: jax.Array, c) -> jax.Array:
  """[..., 1] times in [0, 1] -> [..., D] (identity included)."""
  return encoding.positional_encoding(time, c.min_deg_time, c.max_deg_time,
                                      True)


def zero_at_canonical_time(displacement: jax.Array,
                           time: jax.Array) -> jax.Array:
  """D-NeRF's canonical frame: no displacement where time is 0.

  Args:
    displacement: [..., 3]; time: [..., 1] (broadcastable).
  """
  return jnp.where(time == 0.0, 0.0, displacement)


class DeformationMLP(nn.Module):
  """(encoded x, encoded t) -> displacement [..., 3] (before the t = 0
  rule). The last layer starts at zero, so training starts from the
  canonical scene at every time."""

  depth: int
  width: int
  skip: int

  @nn.compact
  def __call__(self, x_enc: jax.Array, t_enc: jax.Array) -> jax.Array:
    """x_enc: [M, Dx], t_enc: [M, Dt] -> [M, 3]."""
    h = jnp.concatenate([x_enc, t_enc], axis=-1)
    for i in range(self.depth):
      h = nn.relu(nn.Dense(self.width)(h))
      if self.skip and i == self.skip and i < self.depth - 1:
        h = jnp.concatenate([x_enc, h], axis=-1)
    return nn.Dense(3, kernel_init=nn.initializers.zeros,
                    name="displacement")(h)


class DNerf(mlp_backbone.Nerf):
  """Coarse and fine levels, each a (deformation, canonical) pair (or a
  time-conditioned field for T-NeRF)."""

  def setup(self):
    super().setup()
    c = self.config
    if c.deformation:
      make = lambda: DeformationMLP(c.deform_depth, c.deform_width,
                                    c.deform_skip)
      self.coarse_deform = make()
      if c.num_fine_samples > 0:
        self.fine_deform = make()

  def _field_input(self, deform, points: jax.Array,
                   time: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The canonical MLP's encoded input at points [N, S, 3] of rays at
    times [N, 1], and the displacement [N, S, 3] (zeros for T-NeRF)."""
    c = self.config
    n, s = points.shape[:2]
    t_enc = jnp.broadcast_to(encode_time(time, c)[:, None, :],
                             (n, s, encode_time(time[:1], c).shape[-1]))
    if not c.deformation:
      return (jnp.concatenate([self._encode_points(points), t_enc], -1),
              jnp.zeros_like(points))
    flat = lambda x: x.reshape(n * s, x.shape[-1])
    dx = deform(flat(self._encode_points(points)), flat(t_enc))
    dx = zero_at_canonical_time(dx.reshape(n, s, 3), time[:, None, :])
    return self._encode_points(points + dx), dx

  def _render_timed(self, mlp, deform, key, rays: Rays, t: jax.Array,
                    randomized: bool) -> dict[str, jax.Array]:
    points = sampling.points_along_rays(rays.origins, rays.directions, t)
    x, dx = self._field_input(deform, points, rays.time)
    raw_rgb, raw_density = mlp(x, self._encode_viewdirs(rays.viewdirs))
    raw_density = mlp_backbone.add_density_noise(
        key, raw_density, self.config.noise_std, randomized)
    out = compositing.volumetric_rendering(
        self.rgb_activation(raw_rgb),
        self.density_activation(raw_density[..., 0]), t, rays.directions,
        self.config.white_bkgd)
    out["t"] = t
    out["stats"] = dict(displacement=jnp.mean(
        jnp.linalg.norm(dx, axis=-1)))
    return out

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N] at their times: [coarse, fine] (or [coarse])."""
    del progress
    c = self.config
    keys = jax.random.split(key, 4)
    deform = lambda level: getattr(self, f"{level}_deform", None)
    t = sampling.stratified_t(keys[0], rays.near, rays.far,
                              c.num_coarse_samples, randomized, c.lindisp)
    outputs = [self._render_timed(self.coarse_mlp, deform("coarse"),
                                  keys[1], rays, t, randomized)]
    if c.num_fine_samples > 0:
      t = sampling.hierarchical_t(keys[2], t, outputs[0]["weights"],
                                  c.num_fine_samples, randomized)
      outputs.append(self._render_timed(self.fine_mlp, deform("fine"),
                                        keys[3], rays, t, randomized))
    return outputs

  def _canonical_input(self, points: jax.Array) -> jax.Array:
    """Encoded points [M, 1, D] at time 0 (no displacement)."""
    x = self._encode_points(points[:, None])
    if self.config.deformation:
      return x
    zero = jnp.zeros(points.shape[:1] + (1, 1), points.dtype)
    return jnp.concatenate([x, encode_time(zero, self.config)], -1)

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at time 0 at points [M, 3]."""
    del progress
    any_direction = jnp.zeros_like(points).at[:, 2].set(1.0)
    raw_density = self._final_mlp()(self._canonical_input(points),
                                    self._encode_viewdirs(any_direction))[1]
    return self.density_activation(raw_density[:, 0, 0])

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at time 0."""
    del progress
    raw_rgb, _ = self._final_mlp()(self._canonical_input(points),
                                   self._encode_viewdirs(viewdirs))
    return self.rgb_activation(raw_rgb[:, 0])


METHOD = base.Method(
    name="dnerf",
    fields=config_fields,
    build_model=lambda config, scene: DNerf(config=config),
    loss_terms=mlp_backbone.loss_terms,
)
