"""Pixel footprints for point-sampled fields: random rays through a pixel's
area instead of its centre (the observation behind mip-NeRF and Zip-NeRF).

A pixel's colour is the average of the scene over the pixel's area (the
box-filtered images of the embedded scenes are exactly that), but a field
trained on centre rays only is fitted on a set of lines: between them it is
unconstrained, and a fine hash grid fills that space with detail no other
view agrees with. Training on a random ray through the pixel each step
makes the expected rendered colour the pixel's area average (the true
image formation), and the loss's variance term E[(C(u) - E C)^2] pushes the
field to be smooth below the pixel scale. Rendering stays at the centre.

Rays carry mip-NeRF's `radii`: the cone radius at unit distance along the
unnormalised direction, 2 / sqrt(12) of the pixel spacing, chosen so a disc
of that radius has the variance of the pixel's box per axis. Offsets are
drawn uniformly in that disc, perpendicular to the ray (the rays do not
carry the camera's axes; a disc of the pixel's variance stands in for the
square): "cone" rays (pinhole cameras, origins at the camera centre) turn
their direction, "cylinder" rays (NDC, where a pixel's rays are parallel)
shift their origin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnerf.errors import ConfigError
from jaxnerf.core.rays import Rays

SHAPES = ("none", "cone", "cylinder")


def check_shape(shape: str, field: str) -> None:
  if shape not in SHAPES:
    raise ConfigError(f"config.{field}: unknown {shape!r}; known: "
                      f"{list(SHAPES)}")


def perpendicular_basis(v: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Two unit vectors [..., 3] orthogonal to v [..., 3] and to each other."""
  v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
  # Cross with the axis least aligned with v: never degenerate.
  axis = jnp.eye(3, dtype=v.dtype)[jnp.argmin(jnp.abs(v), axis=-1)]
  e1 = jnp.cross(v, axis)
  e1 = e1 / jnp.linalg.norm(e1, axis=-1, keepdims=True)
  return e1, jnp.cross(v, e1)


def disc_offsets(key: jax.Array, directions: jax.Array,
                 radius: jax.Array) -> jax.Array:
  """Uniform random points of the disc of `radius` around 0, perpendicular
  to `directions`.

  Args:
    directions: [M, 3]; radius: [M].
  Returns:
    [M, 3] offsets, |offset| <= radius, offset . direction = 0.
  """
  key_r, key_a = jax.random.split(key)
  m = directions.shape[0]
  # sqrt of a uniform: uniform over the disc's area, not its radius.
  r = radius * jnp.sqrt(jax.random.uniform(key_r, (m,), directions.dtype))
  angle = 2 * jnp.pi * jax.random.uniform(key_a, (m,), directions.dtype)
  e1, e2 = perpendicular_basis(directions)
  return (r * jnp.cos(angle))[:, None] * e1 + (r * jnp.sin(angle))[:, None] * e2


def jitter_rays(key: jax.Array, rays: Rays, shape: str) -> Rays:
  """Each ray replaced by a random ray through its pixel's footprint.

  Args:
    rays: Rays [N] with `radii`.
    shape: "cone" (turn the direction by up to radii per unit distance),
      "cylinder" (shift the origin by up to radii) or "none".
  Returns:
    Rays [N]; near/far, loss weights, cameras unchanged.
  """
  if shape == "none":
    return rays
  radius = rays.radii[:, 0]
  if shape == "cone":
    # radii is per unit of the unnormalised direction's parameter t, so the
    # offset is added to the unnormalised direction itself.
    directions = rays.directions + disc_offsets(key, rays.directions, radius)
    viewdirs = directions / jnp.linalg.norm(directions, axis=-1,
                                            keepdims=True)
    return rays.replace(directions=directions, viewdirs=viewdirs)
  if shape == "cylinder":
    return rays.replace(origins=rays.origins + disc_offsets(
        key, rays.directions, radius))
  raise ConfigError(f"unknown footprint shape {shape!r}; known: {SHAPES}")
