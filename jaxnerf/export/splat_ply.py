"""Gaussian splats as the 3D Gaussian Splatting PLY of Kerbl et al.'s
reference code (graphdeco-inria/gaussian-splatting), which its viewers,
SuperSplat, nerfstudio's and gsplat's tools read and write.

The file: one `vertex` element of float32 properties, in this order
  x y z nx ny nz f_dc_0..2 f_rest_0..f_rest_{3(K-1)-1} opacity
  scale_0..2 rot_0..3
with normals 0, f_dc the band-0 SH coefficient per channel, f_rest the
higher bands channel-major (inria's features_rest [G, K-1, 3] transposed to
[G, 3, K-1], then flattened), opacity a logit, scales logarithms and rot a
quaternion w, x, y, z (any norm). K = (d + 1)^2 for SH degree d in 0..3.
These are the splat backbone's parameters as they are
(jaxnerf/methods/backbones/splats.py: same SH basis and signs, colour =
0.5 + sum_k Y_k(dir) sh_k with dir from the camera centre to the mean).

Unused slots are left out: the backbone keeps a fixed count of Gaussians
(3DGS-MCMC), the ones not in use at opacity logit -20. The rasteriser never
draws a Gaussian of opacity below 1/255 (its alpha cannot reach
splatting.MIN_ALPHA), so `write` keeps exactly those at or above it: the
file renders the same image as the run.

Frames: a run trains in a normalised scene frame; its `world_from_scene`
(a 4x4 similarity: scale s, orthogonal R, translation t) maps it back to
the capture's. The Gaussians move exactly: means s R m + t, log scales +
log s, rotations R R_q, and the SH bands 1..3 rotate with R (band l by a
(2l + 1)^2 orthogonal matrix, `sh_rotations`), so a camera moved the same
way sees the same image.
"""

from __future__ import annotations

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf import files
from jaxnerf.errors import CheckpointError, DatasetError
from jaxnerf.fields import encoding
from jaxnerf.render import splatting

# The parameters of the splat backbone, as `read` returns them.
NAMES = ("means", "log_scales", "quats", "opacity_logits", "sh_dc",
         "sh_rest")
# Gaussians below this opacity are never drawn (see the module docstring).
MIN_OPACITY = splatting.MIN_ALPHA
# f_rest counts of SH degrees 0..3: 3 ((d + 1)^2 - 1).
REST_COUNTS = tuple(3 * (encoding.sh_basis_size(d) - 1)
                    for d in range(encoding.MAX_SH_DEGREE + 1))
REQUIRED = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
            "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2",
            "rot_3")


def property_names(sh_degree: int) -> list[str]:
  """The vertex properties of a file of SH degree 0..3, in inria's order."""
  rest = REST_COUNTS[sh_degree]
  return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] +
          [f"f_rest_{i}" for i in range(rest)] +
          ["opacity", "scale_0", "scale_1", "scale_2",
           "rot_0", "rot_1", "rot_2", "rot_3"])


def sh_degree_of(params: dict) -> int:
  """The SH degree d of params whose sh_rest is [G, (d + 1)^2 - 1, 3]."""
  count = np.shape(params["sh_rest"])[1]
  return int(round(np.sqrt(count + 1))) - 1


def splat_params(params) -> Optional[dict]:
  """The six splat arrays (NAMES) of a model's top-level params, as numpy,
  or None where they are not all there with consistent shapes [G, ...]
  (not a splat model)."""
  if not all(hasattr(params, "get") and name in params for name in NAMES):
    return None
  out = {name: np.asarray(params[name]) for name in NAMES}
  g = out["means"].shape[0] if out["means"].ndim == 2 else -1
  rest = out["sh_rest"].shape
  shapes_ok = (
      out["means"].shape == (g, 3) and out["log_scales"].shape == (g, 3) and
      out["quats"].shape == (g, 4) and out["opacity_logits"].shape == (g,) and
      out["sh_dc"].shape == (g, 1, 3) and len(rest) == 3 and
      rest[0] == g and rest[2] == 3 and 3 * rest[1] in REST_COUNTS)
  return out if shapes_ok else None


def first_nonfinite(params: dict) -> Optional[str]:
  """The name of the first of NAMES holding a NaN or infinity, else None."""
  for name in NAMES:
    if not np.all(np.isfinite(params[name])):
      return name
  return None


def in_use(params: dict) -> np.ndarray:
  """[G] bool: the Gaussians of opacity >= MIN_OPACITY (as the rasteriser
  computes it, float32)."""
  logits = np.asarray(params["opacity_logits"], np.float32)
  opacity = np.asarray(jax.nn.sigmoid(logits))
  return opacity >= MIN_OPACITY


def gaussians(params: dict):
  """What splatting.project / sh_colours take, from params (traceable):
  (means [G, 3], covariances [G, 3, 3], opacities [G], sh [G, K, 3], the
  SH degree)."""
  p = {name: jnp.asarray(params[name]) for name in NAMES}
  return (p["means"], splatting.covariances(p["log_scales"], p["quats"]),
          jax.nn.sigmoid(p["opacity_logits"]),
          jnp.concatenate([p["sh_dc"], p["sh_rest"]], axis=1),
          sh_degree_of(params))


# Frames ----------------------------------------------------------------------


def similarity_parts(matrix, name: str = "world_from_scene"):
  """(s, R [3, 3] orthogonal, t [3]) of a 4x4 similarity [s R | t] (R may
  be a reflection).

  Raises:
    CheckpointError: naming `name`, when it is not one (a run records it
      in scene.json).
  """
  m = np.asarray(matrix, np.float64)
  if m.shape != (4, 4) or not np.all(np.isfinite(m)):
    raise CheckpointError(f"{name}: not a 4x4 matrix of finite numbers")
  det = np.linalg.det(m[:3, :3])
  scale = float(np.cbrt(abs(det)))
  if not scale > 0:
    raise CheckpointError(f"{name}: singular (determinant {det:g}); not a "
                          "similarity")
  rotation = m[:3, :3] / scale
  error = np.abs(rotation @ rotation.T - np.eye(3)).max()
  if error > 1e-4 or np.abs(m[3] - [0, 0, 0, 1]).max() > 1e-9:
    raise CheckpointError(f"{name}: not a similarity (scale times a "
                          f"rotation, off by {error:.2g}, and translation)")
  return scale, rotation, m[:3, 3].copy()


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Hamilton products a b of quaternions [..., 4] (w, x, y, z): the
  rotation of a after that of b."""
  aw, ax, ay, az = np.moveaxis(a, -1, 0)
  bw, bx, by, bz = np.moveaxis(b, -1, 0)
  return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                   aw * bx + ax * bw + ay * bz - az * by,
                   aw * by - ax * bz + ay * bw + az * bx,
                   aw * bz + ax * by - ay * bx + az * bw], -1)


def rotation_quaternion(rotation: np.ndarray) -> np.ndarray:
  """[4] unit quaternion (w, x, y, z) of a proper rotation [3, 3]."""
  from scipy.spatial.transform import Rotation
  return Rotation.from_matrix(rotation).as_quat(scalar_first=True)


def sh_rotations(rotation: np.ndarray, degree: int,
                 num_directions: int = 128) -> list[np.ndarray]:
  """The matrices D_l [2l + 1, 2l + 1], l = 1..degree, with
  Y_l(R d) = D_l Y_l(d) for every unit d (Y_l: band l of
  encoding.spherical_harmonics): coefficients c_l of a function of
  directions become D_l c_l when the directions turn by R [3, 3]
  (orthogonal; a reflection too).

  Found by least squares over fixed random directions: each band is closed
  under rotations, so the fit is exact; it is checked to be orthogonal.

  Raises:
    ValueError: a D_l is not orthogonal (R is not).
  """
  dirs = np.random.default_rng(0).normal(size=(num_directions, 3))
  dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
  rotation = np.asarray(rotation, np.float64)
  with jax.enable_x64(True):  # float64 fits, to float32 round-off below
    y = np.asarray(encoding.spherical_harmonics(dirs, degree))
    y_turned = np.asarray(encoding.spherical_harmonics(dirs @ rotation.T,
                                                       degree))
  out = []
  for b in range(1, degree + 1):
    band = slice(b * b, (b + 1)**2)
    # y D^T = y_turned.
    dt, *_ = np.linalg.lstsq(y[:, band], y_turned[:, band], rcond=None)
    d = dt.T
    error = np.abs(d @ d.T - np.eye(2 * b + 1)).max()
    if error > 1e-6:
      raise ValueError(f"sh_rotations: band {b}'s matrix is not orthogonal "
                       f"(off by {error:.2g}); is the matrix a rotation?")
    out.append(d)
  return out


def transformed(params: dict, matrix, name: str = "world_from_scene"
                ) -> dict:
  """The Gaussians of `params` moved by the similarity `matrix` [4, 4]
  (float64 arrays): the same scene seen by cameras moved the same way
  renders the same images.

  Raises:
    CheckpointError: `matrix` (called `name`) is not a similarity.
  """
  scale, rotation, shift = similarity_parts(matrix, name)
  p = {k: np.asarray(params[k], np.float64) for k in NAMES}
  out = dict(p)
  out["means"] = scale * p["means"] @ rotation.T + shift
  out["log_scales"] = p["log_scales"] + np.log(scale)
  if np.linalg.det(rotation) > 0:
    out["quats"] = quaternion_multiply(rotation_quaternion(rotation),
                                       p["quats"])
  else:
    # A reflection F = -P (P proper) on R_q S: F R_q S = P R_q (-D) S with
    # D = diag(-1, 1, 1), as D S S D = S S; -D is a half turn about x.
    out["quats"] = quaternion_multiply(
        quaternion_multiply(rotation_quaternion(-rotation), p["quats"]),
        np.array([0.0, 1.0, 0.0, 0.0]))
  degree = sh_degree_of(p)
  rest = p["sh_rest"].copy()
  for b, d in enumerate(sh_rotations(rotation, degree), start=1):
    band = slice(b * b - 1, (b + 1)**2 - 1)  # sh_rest has no band 0
    rest[:, band] = np.einsum("ij,gjc->gic", d, p["sh_rest"][:, band])
  out["sh_rest"] = rest
  return out


# Writing and reading ---------------------------------------------------------


def vertex_array(params: dict) -> np.ndarray:
  """The structured array [G] of `property_names`, float32 little-endian,
  from params (all of them, none left out)."""
  degree = sh_degree_of(params)
  g = np.shape(params["means"])[0]
  columns = [np.asarray(params["means"]), np.zeros((g, 3)),
             np.asarray(params["sh_dc"]).reshape(g, 3),
             np.swapaxes(np.asarray(params["sh_rest"]), 1, 2).reshape(
                 g, REST_COUNTS[degree]),
             np.asarray(params["opacity_logits"]).reshape(g, 1),
             np.asarray(params["log_scales"]), np.asarray(params["quats"])]
  flat = np.concatenate([c.astype(np.float32) for c in columns], axis=1)
  names = property_names(degree)
  out = np.empty(g, dtype=[(n, "<f4") for n in names])
  for i, n in enumerate(names):
    out[n] = flat[:, i]
  return out


def write(path: str, params, world_from_scene=None) -> int:
  """Writes the Gaussians in use (opacity >= MIN_OPACITY) of splat params
  as a binary 3DGS PLY at `path` (its folder made if missing), signed and
  atomically; moved by world_from_scene [4, 4] first when given.

  Returns:
    the number of Gaussians written.
  Raises:
    CheckpointError: world_from_scene is not a similarity.
    ValueError: params are not splat params or hold non-finite values
      (callers check with splat_params and first_nonfinite).
  """
  import plyfile
  p = splat_params(params)
  if p is None:
    raise ValueError("splat_ply.write: params lack the splat arrays "
                     f"{list(NAMES)} (or their shapes disagree)")
  bad = first_nonfinite(p)
  if bad is not None:
    raise ValueError(f"splat_ply.write: {bad} holds non-finite values")
  keep = in_use(p)
  p = {k: v[keep] for k, v in p.items()}
  if world_from_scene is not None:
    p = transformed(p, world_from_scene)
  element = plyfile.PlyElement.describe(vertex_array(p), "vertex")
  data = plyfile.PlyData([element], text=False, byte_order="<",
                         comments=[files.SIGNATURE])
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with files.atomic_open(path, "wb") as f:
    data.write(f)
  return int(keep.sum())


def _vertices(path: str):
  """The vertex element of the PLY at `path` (plyfile's).

  Raises:
    DatasetError: naming the file.
  """
  import plyfile
  try:
    ply = plyfile.PlyData.read(path)
  except OSError as e:
    raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
  except plyfile.PlyHeaderParseError as e:
    raise DatasetError(f"{path}: not a PLY file ({e})") from None
  except plyfile.PlyElementParseError as e:
    raise DatasetError(f"{path}: malformed PLY data ({e})") from None
  except UnicodeDecodeError:
    raise DatasetError(f"{path}: not a PLY file (its header is not ASCII "
                       "text)") from None
  except MemoryError:
    raise DatasetError(f"{path}: declares more data than fits in memory") \
        from None
  except ValueError as e:  # plyfile's numpy errors, e.g. a negative count
    raise DatasetError(f"{path}: malformed PLY header ({e})") from None
  if "vertex" not in [e.name for e in ply.elements]:
    raise DatasetError(f"{path}: no 'vertex' element; a 3D Gaussian "
                       "Splatting PLY has one vertex per Gaussian")
  return ply["vertex"]


def read(path: str) -> dict:
  """The Gaussians of a 3DGS PLY (ours or any other writer's: ascii or
  binary, properties in any order, others ignored; SH degree 0..3 from the
  count of f_rest properties), as float32 arrays named as the splat
  backbone's params: means [G, 3], log_scales [G, 3], quats [G, 4],
  opacity_logits [G], sh_dc [G, 1, 3], sh_rest [G, (d + 1)^2 - 1, 3].

  Raises:
    DatasetError: naming the file (and the property): not a PLY, no vertex
      element, a missing required property, an f_rest count not 0, 9, 24
      or 45 (or gaps in their numbers), a list property, non-finite values
      or a zero quaternion.
  """
  import plyfile
  vertex = _vertices(path)
  props = {p.name: p for p in vertex.properties}
  for name in REQUIRED:
    if name not in props:
      raise DatasetError(f"{path}: the vertex element has no property "
                         f"'{name}' (a 3D Gaussian Splatting PLY has "
                         f"{' '.join(REQUIRED)} and f_rest_*)")
  rest = sorted(n for n in props if n.startswith("f_rest_"))
  if len(rest) not in REST_COUNTS:
    raise DatasetError(f"{path}: {len(rest)} f_rest properties; SH degrees "
                       f"0..3 have {', '.join(map(str, REST_COUNTS))}")
  for i in range(len(rest)):
    if f"f_rest_{i}" not in props:
      raise DatasetError(f"{path}: the vertex element has no property "
                         f"'f_rest_{i}' (it has {len(rest)} f_rest_*)")
  rest = [f"f_rest_{i}" for i in range(len(rest))]
  names = list(REQUIRED) + rest
  for name in names:
    if isinstance(props[name], plyfile.PlyListProperty):
      raise DatasetError(f"{path}: property '{name}' is a list; a number "
                         "per vertex expected")
  data = vertex.data
  columns = {}
  for name in names:
    values = np.asarray(data[name]).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
      raise DatasetError(f"{path}: property '{name}' has non-finite values "
                         f"(vertex {bad[0]}, {len(bad)} in all)")
    columns[name] = values
  g = len(data)

  def stack(names):  # [G, len(names)]
    if not names:
      return np.zeros((g, 0), np.float32)
    return np.stack([columns[n] for n in names], -1)

  quats = stack(["rot_0", "rot_1", "rot_2", "rot_3"])
  zero = np.flatnonzero(~np.any(quats != 0, axis=-1))
  if len(zero):
    raise DatasetError(f"{path}: rot_0..rot_3 are all 0 at vertex {zero[0]} "
                       "(no rotation)")
  k = len(rest) // 3
  return {
      "means": stack(["x", "y", "z"]),
      "log_scales": stack(["scale_0", "scale_1", "scale_2"]),
      "quats": quats,
      "opacity_logits": columns["opacity"],
      "sh_dc": stack(["f_dc_0", "f_dc_1", "f_dc_2"]).reshape(g, 1, 3),
      "sh_rest": np.swapaxes(stack(rest).reshape(g, 3, k), 1, 2),
  }


def params_from_ply(path: str, world_from_scene=None,
                    sh_degree: Optional[int] = None) -> dict:
  """A 3DGS PLY (`read`; inria's or ours) as splat params in a scene frame:
  the file's frame, or, given the scene's world_from_scene [4, 4], moved
  into that scene by its inverse (what `write` undoes). sh_degree: pad
  sh_rest with zero bands up to that degree (a model's
  config.splat_sh_degree).

  Returns:
    float32 arrays named as `read`'s.
  Raises:
    DatasetError: naming the file (as `read`), or its SH degree is above
      sh_degree.
    CheckpointError: world_from_scene is not a similarity.
  """
  p = read(path)
  if world_from_scene is not None:
    inverse = np.linalg.inv(np.asarray(world_from_scene, np.float64))
    p = {k: v.astype(np.float32) for k, v in transformed(
        p, inverse, "the inverse of world_from_scene").items()}
  degree = sh_degree_of(p)
  if sh_degree is not None and sh_degree != degree:
    if sh_degree < degree:
      raise DatasetError(f"{path}: SH degree {degree}, above the model's "
                         f"{sh_degree}; dropping bands would change its "
                         "colours")
    g = p["sh_rest"].shape[0]
    pad = encoding.sh_basis_size(sh_degree) - encoding.sh_basis_size(degree)
    p["sh_rest"] = np.concatenate(
        [p["sh_rest"], np.zeros((g, pad, 3), np.float32)], axis=1)
  return p
