"""The ray batch that every sampler, model and renderer consumes."""

from __future__ import annotations

from typing import Optional

import flax.struct
import jax
import numpy as np


@flax.struct.dataclass
class Rays:
  """A batch of rays; every field has the same leading shape `[...]`.

  Build with `Rays.create` (optional fields get their defaults) or
  `Rays.dummy` (model initialisation).

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
    camera_index: [..., 1] int32 index of the ray's camera in its split (per
      camera parameters such as pose corrections or appearance codes).
    time: [..., 1] capture time in [0, 1] (dynamic scenes; 0 otherwise).
    light: [..., L] the light of the ray's image (`jaxnerf.core.lighting`'s
      vector; one zero column, L = 1, where the data names no light: a
      zero-size column would trip every flattening reshape).
  """

  origins: jax.Array
  directions: jax.Array
  viewdirs: jax.Array
  radii: jax.Array
  near: jax.Array
  far: jax.Array
  lossmult: jax.Array
  camera_index: jax.Array
  time: jax.Array
  light: jax.Array

  @classmethod
  def create(cls, origins, directions, near, far, *,
             viewdirs: Optional[jax.Array] = None,
             radii: Optional[jax.Array] = None,
             lossmult: Optional[jax.Array] = None,
             camera_index: Optional[jax.Array] = None,
             time: Optional[jax.Array] = None,
             light: Optional[jax.Array] = None) -> "Rays":
    """Rays from origins [..., 3], directions [..., 3] and near/far [..., 1]
    (or scalars); the optional fields default to normalised directions, zero
    radii, unit loss weight, camera 0, time 0 and no light ([..., 1]
    zeros).
    Works on numpy and jax arrays alike (the result has the type of
    `origins`)."""
    xp = np if isinstance(origins, np.ndarray) else jax.numpy
    shape = origins.shape[:-1] + (1,)
    column = lambda value, dtype: xp.broadcast_to(xp.asarray(value, dtype),
                                                  shape)
    if viewdirs is None:
      viewdirs = directions / xp.linalg.norm(directions, axis=-1,
                                              keepdims=True)
    return cls(origins=origins, directions=directions, viewdirs=viewdirs,
               radii=column(0.0 if radii is None else radii, origins.dtype),
               near=column(near, origins.dtype),
               far=column(far, origins.dtype),
               lossmult=column(1.0 if lossmult is None else lossmult,
                               origins.dtype),
               camera_index=column(0 if camera_index is None else camera_index,
                                   np.int32),
               time=column(0.0 if time is None else time, origins.dtype),
               light=(xp.zeros(shape, origins.dtype) if light is None
                      else light))

  @classmethod
  def dummy(cls, num_rays: int = 1) -> "Rays":
    """[num_rays] rays of zeros with the right dtypes, for `model.init`."""
    zeros = np.zeros((num_rays, 3), np.float32)
    return cls.create(zeros, zeros + np.float32([0, 0, -1]), 0.0, 1.0)

  @property
  def shape(self) -> tuple[int, ...]:
    return self.origins.shape[:-1]

  def reshape(self, *shape: int) -> "Rays":
    return jax.tree.map(lambda x: x.reshape(*shape, x.shape[-1]), self)
