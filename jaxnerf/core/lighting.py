"""The light of an image as one fixed-size vector per camera and per ray
(`Cameras.light`, `Rays.light`), so that relighting methods read it in a
jitted step like the time of a dynamic scene.

Layout (LIGHT_DIM = 35 floats):
  [0:3]   a point light's position in world coordinates
  [3:6]   its radiant intensity per colour channel (W/sr: Blender's power
          times colour over 4 pi), 0 without a point light
  [6]     1 where the point light sits at the camera's centre (a flash)
  [7]     1 where an environment lights the image
  [8:35]  the environment's radiance in spherical harmonics of degree <= 2
          (9 x 3, row-major; jaxnerf.synthetic.lights' basis and order)

Data that names no light gives one zero column instead (NONE_DIM); a model
that needs a light gets `default_flash` there.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from jaxnerf.synthetic import lights

LIGHT_DIM = 35
NONE_DIM = 1


def encode(records: list, camera_position, where: str) -> np.ndarray:
  """[LIGHT_DIM] vector of an image's light records (the generator's
  format: jaxnerf.synthetic.lights); at most one point light (collocated
  or not) and one environment.

  Raises:
    ValueError: a record `lights.check` refuses, an environment without
      its SH, or a second point light or environment, naming `where`.
  """
  vec = np.zeros(LIGHT_DIM)
  points = envs = 0
  for k, record in enumerate(records):
    at = f"{where}[{k}]"
    kind = lights.check(record, at)["type"]
    if kind in ("collocated", "point"):
      points += 1
      vec[0:3] = (camera_position if kind == "collocated"
                  else record["position"])
      vec[3:6] = (float(record["power"]) *
                  np.asarray(record.get("color", (1.0, 1.0, 1.0)), float)
                  / (4.0 * math.pi))
      vec[6] = kind == "collocated"
    else:
      envs += 1
      if np.shape(record.get("sh")) != (9, 3):
        raise ValueError(f"{at}: an environment needs its 'sh' (9 x 3)")
      vec[7] = 1.0
      vec[8:35] = np.asarray(record["sh"], float).reshape(-1)
  if points > 1 or envs > 1:
    raise ValueError(f"{where}: at most one point light and one "
                     "environment an image")
  return vec


def point_light(position, intensity: float) -> np.ndarray:
  """[LIGHT_DIM] a white point light of `intensity` (W/sr) at `position`
  [3], not at the camera (the viewer's pinned light)."""
  vec = np.zeros(LIGHT_DIM)
  vec[0:3] = position
  vec[3:6] = intensity
  return vec


def default_flash(origins, intensity: float):
  """[..., LIGHT_DIM] a flash of `intensity` (W/sr, white) at each ray's
  origin: the light of a view the data gives none (a render path)."""
  shape = origins.shape[:-1]
  return jnp.concatenate([
      origins, jnp.full(shape + (3,), intensity, origins.dtype),
      jnp.ones(shape + (1,), origins.dtype),
      jnp.zeros(shape + (LIGHT_DIM - 7,), origins.dtype)], -1)


def environment_light(sh):
  """[..., LIGHT_DIM] the light of environments alone, given by their SH
  [..., 9, 3] (no point light)."""
  shape = sh.shape[:-2]
  return jnp.concatenate([
      jnp.zeros(shape + (7,), sh.dtype), jnp.ones(shape + (1,), sh.dtype),
      sh.reshape(shape + (27,))], -1)


def resolve(light, origins, intensity: float):
  """The rays' light [..., LIGHT_DIM]: theirs, or `default_flash` where
  the data named none (static: decided by the light's width)."""
  if light.shape[-1] == LIGHT_DIM:
    return light
  return default_flash(origins, intensity)


def position(light):
  return light[..., 0:3]


def intensity(light):
  return light[..., 3:6]


def collocated(light):
  return light[..., 6] > 0.5


def environment_sh(light):
  """[..., 9, 3] SH coefficients (zero without an environment)."""
  return light[..., 8:35].reshape(light.shape[:-1] + (9, 3))


def has_environment(light):
  return light[..., 7] > 0.5


# Ramamoorthi & Hanrahan 2001: the clamped cosine's SH bands, so that the
# irradiance of radiance L_lm is sum A_l L_lm Y_lm(n).
COSINE_BANDS = (math.pi, 2 * math.pi / 3, 2 * math.pi / 3, 2 * math.pi / 3,
                math.pi / 4, math.pi / 4, math.pi / 4, math.pi / 4,
                math.pi / 4)


def sh_radiance(sh, directions):
  """[..., 3] radiance of SH coefficients [..., 9, 3] towards unit
  directions [..., 3]."""
  basis = lights.sh_basis(directions, xp=jnp)
  return jnp.einsum("...k,...kc->...c", basis, sh)


def sh_irradiance(sh, normals):
  """[..., 3] irradiance at a surface of unit normal [..., 3] under the
  environment's SH [..., 9, 3] (no occlusion)."""
  basis = lights.sh_basis(normals, xp=jnp) * jnp.asarray(COSINE_BANDS)
  return jnp.einsum("...k,...kc->...c", basis, sh)
