"""Time: D-NeRF's deformation into a canonical scene (Pumarola et al., CVPR
2021) and its T-NeRF baseline, for any backbone that reads its field at
sample points (the `warp` hook of jaxnerf.methods.base).

D-NeRF: a deformation MLP maps a sample x at the ray's time t to a
displacement dx into the canonical space, the scene at t = 0, where the
backbone's field is read at x + dx. As the authors' code, the MLP reads the
encoded (x, t) (`deform_skip`: x joins again after that many layers), the
displacement is exactly zero at t = 0 (the canonical frame is the first
one, not learned), its last layer starts at zero (training starts from the
canonical scene at every time), and each of the backbone's levels has its
own deformation (`coarse_deform` and `fine_deform` on NeRF's MLP,
`deform` on the hash grid's one level).

T-NeRF (`deformation = False`): no deformation; the encoded time joins the
field's position input (the MLP's encoded x, the hash grid's density MLP
input).

For occupancy grids, `warp_anytime` reads the field at uniformly random
times (as nerfacc's dynamic examples), so the grid covers every place the
scene occupies at some time. The field interface (`density`, `radiance`)
is the scene at time 0.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import encoding
from jaxnerf.methods import base


def time_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.deformation = True  # False: T-NeRF (time is an input of the field)
  c.min_deg_time = 0
  c.max_deg_time = 10
  c.deform_depth = 8
  c.deform_width = 256
  c.deform_skip = 4  # the encoded x joins again after this many layers
  c.deform_max_deg_point = 10  # frequencies of x at the deformation's input
  # The deformation's own Adam ("deformation" parameter group).
  c.update(base.schedule_fields("deform_", 5e-4, 5e-6))
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
  rule). The last layer starts at zero."""

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


def deform_name(level: str) -> str:
  return f"{level}_deform" if level else "deform"


class Time(nn.Module):
  """The component's submodule: one deformation per backbone level."""

  config: Any
  levels: tuple[str, ...]

  def setup(self):
    c = self.config
    if c.deformation:
      for level in self.levels:
        setattr(self, deform_name(level),
                DeformationMLP(c.deform_depth, c.deform_width, c.deform_skip))

  def warp(self, points: jax.Array, time: jax.Array, level: str):
    """(points + dx [M, 3], None, {"displacement": |dx| [M]}) of points
    [M, 3] at times [M, 1]; T-NeRF: (points, encoded time [M, D], {})."""
    c = self.config
    t_enc = encode_time(time, c)
    if not c.deformation:
      return points, t_enc, {}
    x_enc = encoding.positional_encoding(points, 0, c.deform_max_deg_point,
                                         True)
    dx = zero_at_canonical_time(
        getattr(self, deform_name(level))(x_enc, t_enc), time)
    return points + dx, None, {"displacement": jnp.linalg.norm(dx, axis=-1)}

  def warp_anytime(self, points: jax.Array, key: jax.Array):
    """`warp` of the last level at uniformly random times."""
    time = jax.random.uniform(key, points.shape[:1] + (1,))
    points, condition, _ = self.warp(points, time, self.levels[-1])
    return points, condition


def in_deformation(path: tuple[str, ...]) -> bool:
  return bool(path) and (path[0] == "deform" or path[0].endswith("_deform"))


COMPONENT = base.Component(
    name="time",
    fields=time_fields,
    module=lambda config, scene, levels: Time(config=config, levels=levels),
    shared_scope=True,
    param_groups=(base.ParamGroup("deformation", prefix="deform_",
                                  match=in_deformation),),
)
