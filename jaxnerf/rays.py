"""The ray batch that every sampler, model and renderer consumes."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Rays:
  """A batch of rays; every field has the same leading shape `[...]`.

  Attributes:
    origins: [..., 3] ray origins in world space.
    directions: [..., 3] un-normalised directions (unit z in camera space, so
      `t` along the ray is depth for pinhole cameras; in NDC, `t` is in [0, 1]).
    viewdirs: [..., 3] unit view directions (used by view-dependent colour).
    radii: [..., 1] base radius of the cone through the pixel at distance 1
      (mip-NeRF); `2 / sqrt(12)` times the pixel footprint.
    near: [..., 1] near bound of `t`.
    far: [..., 1] far bound of `t`.
    lossmult: [..., 1] per-ray loss weight (1 except for multiscale data).
  """

  origins: jax.Array
  directions: jax.Array
  viewdirs: jax.Array
  radii: jax.Array
  near: jax.Array
  far: jax.Array
  lossmult: jax.Array

  @property
  def shape(self) -> tuple[int, ...]:
    return self.origins.shape[:-1]

  def reshape(self, *shape: int) -> "Rays":
    return jax.tree.map(lambda x: x.reshape(*shape, x.shape[-1]), self)


def concatenate(rays: list[Rays], axis: int = 0) -> Rays:
  return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=axis), *rays)
