"""The light of a view, as the JSON record the generator writes into each
frame of transforms_<split>.json (and a relighting loader reads back), and
environment maps in spherical harmonics.

Records (`type` names the kind; powers are Blender's watts, colours
linear RGB):
  {"type": "collocated", "power": P, "color": [r, g, b],
   "position": [x, y, z]}         a point light at the camera's centre
  {"type": "point", "power": P, "color": [...], "position": [...]}
  {"type": "environment", "kind": "sky" | "gradient", "strength": s,
   "rotation_deg": a, ...kind's fields, "map": "<npz>", "sh": [[9 x 3]]}
The scene has no other light: the world is black under point lights.
An environment's map is its radiance rendered by Blender on an
equirectangular grid (`equirect_directions`), and `sh` the map's
projection on the real spherical harmonics of degree <= 2
(`sh_project`), the illumination model of NeRD.
"""

from __future__ import annotations

import numpy as np

TYPES = ("collocated", "point", "environment")
ENVIRONMENT_KINDS = ("sky", "gradient")


def collocated(power: float, color=(1.0, 1.0, 1.0)) -> dict:
  return {"type": "collocated", "power": float(power),
          "color": [float(c) for c in color]}


def point(position, power: float, color=(1.0, 1.0, 1.0)) -> dict:
  return {"type": "point", "power": float(power),
          "color": [float(c) for c in color],
          "position": [float(p) for p in position]}


def spot(azimuth_deg: float, elevation_deg: float, strength: float,
         size_deg: float = 12.0, color=(1.0, 1.0, 1.0)) -> dict:
  """A bright disc in the environment (a sun): its direction (azimuth
  from +x towards +y, elevation above the horizon), angular size and
  radiance (times the environment's strength)."""
  return {"azimuth_deg": float(azimuth_deg),
          "elevation_deg": float(elevation_deg), "size_deg": float(size_deg),
          "strength": float(strength), "color": [float(c) for c in color]}


def sky(sun_azimuth_deg: float, sun_elevation_deg: float, strength: float,
        sun_strength: float = 30.0) -> dict:
  """Blender's physical (Nishita) sky seen from the ground with its sun
  as a `spot` (Nishita's own sun disc is a fraction of a degree: no map
  of a few thousand pixels would hold it)."""
  return {"type": "environment", "kind": "sky", "strength": float(strength),
          "spot": spot(sun_azimuth_deg, sun_elevation_deg, sun_strength,
                       color=(1.0, 0.95, 0.85))}


def gradient(zenith, horizon, ground, strength: float,
             spot_: dict = None) -> dict:
  """A world whose colour runs with the height of the direction from
  `ground` (straight down) through `horizon` to `zenith` (straight up),
  with a `spot` if given."""
  record = {"type": "environment", "kind": "gradient",
            "strength": float(strength),
            "zenith": [float(c) for c in zenith],
            "horizon": [float(c) for c in horizon],
            "ground": [float(c) for c in ground]}
  if spot_ is not None:
    record["spot"] = spot_
  return record


def check(light, where: str) -> dict:
  """`light` if it is a valid record; ValueError naming `where` and the
  field otherwise."""
  if not isinstance(light, dict):
    raise ValueError(f"{where}: a light must be an object, got "
                     f"{type(light).__name__}")
  kind = light.get("type")
  if kind not in TYPES:
    raise ValueError(f"{where}.type: unknown light type {kind!r}; one of "
                     f"{', '.join(TYPES)}")
  need = {"collocated": ("power",), "point": ("power", "position"),
          "environment": ("kind", "strength")}[kind]
  for field in need:
    if field not in light:
      raise ValueError(f"{where}: a {kind} light needs field '{field}'")
  if kind == "environment" and light["kind"] not in ENVIRONMENT_KINDS:
    raise ValueError(f"{where}.kind: unknown environment {light['kind']!r};"
                     f" one of {', '.join(ENVIRONMENT_KINDS)}")
  if kind == "point" and np.shape(light["position"]) != (3,):
    raise ValueError(f"{where}.position: expected [x, y, z], got "
                     f"{light['position']!r}")
  return light


def equirect_directions(height: int, width: int) -> np.ndarray:
  """[H, W, 3] world directions of an equirectangular map's pixel
  centres: row 0 looks up (+z), the middle row at the horizon; column
  azimuth phi = pi - 2 pi (j + 0.5) / W from +x towards +y (the middle
  column looks along +x, a quarter in along +y). This is what Blender's
  equirectangular panorama camera gives when rotated by
  `EQUIRECT_CAMERA_EULER`."""
  theta = np.pi * (np.arange(height) + 0.5) / height
  phi = np.pi - 2.0 * np.pi * (np.arange(width) + 0.5) / width
  theta, phi = np.meshgrid(theta, phi, indexing="ij")
  return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                   np.cos(theta)], -1)


EQUIRECT_CAMERA_EULER = (np.pi / 2, 0.0, -np.pi / 2)


def equirect_solid_angles(height: int, width: int) -> np.ndarray:
  """[H, W] solid angle of each pixel of an equirectangular map (they sum
  to 4 pi)."""
  edges = np.pi * np.arange(height + 1) / height
  band = np.cos(edges[:-1]) - np.cos(edges[1:])
  return np.repeat((2.0 * np.pi / width) * band[:, None], width, axis=1)


def sh_basis(directions: np.ndarray, xp=np) -> np.ndarray:
  """[..., 9] real spherical harmonics of degree <= 2 at unit
  `directions` [..., 3], in the order (l, m) = (0,0), (1,-1), (1,0),
  (1,1), (2,-2), (2,-1), (2,0), (2,1), (2,2) (Ramamoorthi & Hanrahan
  2001's constants). `xp`: the array module (jax.numpy in a jitted
  renderer; this layer imports no JAX)."""
  x, y, z = directions[..., 0], directions[..., 1], directions[..., 2]
  return xp.stack([
      0.282095 * xp.ones_like(x),
      0.488603 * y, 0.488603 * z, 0.488603 * x,
      1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3.0 * z * z - 1.0),
      1.092548 * x * z, 0.546274 * (x * x - y * y)], -1)


def sh_project(envmap: np.ndarray) -> np.ndarray:
  """[9, C] coefficients of an equirectangular map [H, W, C]: the
  integral of radiance times each basis function over the sphere."""
  h, w = envmap.shape[:2]
  weights = equirect_solid_angles(h, w)[..., None]
  basis = sh_basis(equirect_directions(h, w))
  return np.einsum("hwk,hwc->kc", basis * weights,
                   np.asarray(envmap, np.float64))


def sh_radiance(coeffs: np.ndarray, directions: np.ndarray) -> np.ndarray:
  """[..., C] radiance of SH `coeffs` [9, C] towards `directions`."""
  return sh_basis(directions) @ coeffs
