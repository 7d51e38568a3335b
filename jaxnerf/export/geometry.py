"""Geometry out of a field: a coloured triangle mesh by marching cubes on
the density grid, and a coloured point cloud from rendered depth. Files are
written with trimesh (binary PLY; OBJ with vertex colours), which MeshLab,
Blender and Open3D read.
"""

from __future__ import annotations

import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.baked import bake
from jaxnerf import files
from jaxnerf.errors import ConfigError
from jaxnerf.core.rays import Rays

# Marching cubes holds the float32 grid and, by our measurement of
# scikit-image's implementation, a few times as much again at its peak.
MARCHING_CUBES_OVERHEAD = 4


def mesh_memory_bytes(resolution: int) -> int:
  return MARCHING_CUBES_OVERHEAD * (resolution + 1)**3 * 4


def extract_mesh(density_fn: Callable[[jax.Array], jax.Array],
                 bound: float, resolution: int, threshold: float,
                 chunk: int = 2**16) -> tuple[np.ndarray, np.ndarray]:
  """Marching cubes on the density at the (R + 1)^3 vertices of the box
  [-bound, bound]^3, at density `threshold`.

  Args:
    density_fn: jitted points [chunk, 3] -> density [chunk].
  Returns:
    vertices [V, 3] float32 (world), faces [F, 3] int64; empty if the
    density never crosses the threshold.
  Raises:
    ResourceError: the grid would not fit in memory.
  """
  from skimage import measure
  bake.check_memory(mesh_memory_bytes(resolution),
                    f"marching cubes on a {resolution}^3 grid",
                    "--resolution")
  grid = bake.density_grid(density_fn, resolution, bound, chunk)
  if not grid.min() < threshold < grid.max():
    return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
  voxel = 2 * bound / resolution
  verts, faces, _, _ = measure.marching_cubes(grid, level=threshold,
                                              spacing=(voxel,) * 3)
  # scikit-image winds the triangles of a solid of high values on this
  # (x, y, z) grid inward (a sphere's signed volume is negative); reversed,
  # they face out, as renderers and volume computations expect.
  return ((verts - bound).astype(np.float32),
          faces[:, ::-1].astype(np.int64))


def diffuse_colours(radiance_fn: Callable, points: np.ndarray,
                    num_directions: int = 16,
                    chunk: int = 2**14) -> np.ndarray:
  """The mean radiance [V, 3] of points [V, 3] over `num_directions`
  directions of the whole sphere: a view-independent vertex colour.

  radiance_fn: jitted (points [P, 3], dirs [P, 3]) -> rgb [P, 3].
  """
  dirs = jnp.asarray(bake.fibonacci_directions(num_directions))

  @jax.jit
  def mean_colour(p):
    rgb = radiance_fn(jnp.repeat(p, num_directions, axis=0),
                      jnp.tile(dirs, (p.shape[0], 1)))
    return rgb.reshape(p.shape[0], num_directions, 3).mean(1)

  return bake.evaluate_in_chunks(mean_colour, points, chunk)


def write_mesh(path_stem: str, vertices: np.ndarray, faces: np.ndarray,
               colours: np.ndarray) -> list[str]:
  """Writes <stem>.ply and <stem>.obj with vertex colours [V, 3] in [0, 1].

  Returns:
    the paths written.
  """
  import trimesh
  rgba = np.concatenate([np.clip(colours, 0, 1) * 255,
                         np.full((len(colours), 1), 255.0)], -1)
  mesh = trimesh.Trimesh(vertices=vertices, faces=faces,
                         vertex_colors=rgba.round().astype(np.uint8),
                         process=False)
  paths = [path_stem + ".ply", path_stem + ".obj"]
  os.makedirs(os.path.dirname(os.path.abspath(path_stem)), exist_ok=True)
  obj = f"# {files.SIGNATURE}\n" + mesh.export(file_type="obj",
                                               include_color=True)
  for path, data in zip(paths, (signed_ply(mesh.export(file_type="ply")),
                                obj.encode())):
    # A temporary name renamed when complete: never a partial mesh.
    with files.atomic_open(path, "wb") as f:
      f.write(data)
  return paths


def signed_ply(data: bytes) -> bytes:
  """A PLY file's bytes with files.SIGNATURE as a header comment after its
  format line (readers skip comments)."""
  magic, fmt, rest = data.split(b"\n", 2)
  return b"\n".join([magic, fmt, f"comment {files.SIGNATURE}".encode(),
                     rest])


def depth_points(rays: Rays, out: dict[str, np.ndarray],
                 min_opacity: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
  """Points where rays [...] hit the scene: origin + (depth / acc) d, with
  their rendered colours, for rays whose opacity exceeds `min_opacity`.

  Args:
    rays: host Rays [...]; out: rendered maps rgb [..., 3], depth [...],
      acc [...] (expected t along the unnormalised direction, as rendered).
  Returns:
    points [K, 3], colours [K, 3].
  """
  acc = np.asarray(out["acc"]).reshape(-1)
  keep = acc > min_opacity
  t = (np.asarray(out["depth"]).reshape(-1) / np.maximum(acc, 1e-6))[keep]
  origins = np.asarray(rays.origins).reshape(-1, 3)[keep]
  directions = np.asarray(rays.directions).reshape(-1, 3)[keep]
  colours = np.clip(np.asarray(out["rgb"]).reshape(-1, 3)[keep], 0, 1)
  return (origins + t[:, None] * directions).astype(np.float32), colours


def to_world(points: np.ndarray, world_from_scene) -> np.ndarray:
  """Points [K, 3] from the normalised frame a run trained in to the
  capture's own frame (the run's recorded similarity, a 4x4 [s R | t]);
  unchanged when the run recorded none (the data was not normalised)."""
  if world_from_scene is None:
    return points
  m = np.asarray(world_from_scene, np.float64)
  return (points @ m[:3, :3].T + m[:3, 3]).astype(np.float32)


def write_point_cloud(path: str, points: np.ndarray,
                      colours: np.ndarray) -> str:
  """Writes a binary PLY of points [K, 3] with colours [K, 3] in [0, 1]
  (its folder made if missing), atomically."""
  import trimesh
  rgba = np.concatenate([np.clip(colours, 0, 1) * 255,
                         np.full((len(colours), 1), 255.0)], -1)
  cloud = trimesh.PointCloud(points, colors=rgba.round().astype(np.uint8))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with files.atomic_open(path, "wb") as f:
    f.write(signed_ply(cloud.export(file_type="ply")))
  return path


def largest_component_fraction(vertices: np.ndarray,
                               faces: np.ndarray) -> float:
  """The share of vertices in the largest connected component (vertices at
  the same position merged; faces join their vertices)."""
  from scipy.sparse import coo_matrix
  from scipy.sparse.csgraph import connected_components
  if not len(faces):
    return 0.0
  _, ids = np.unique(np.round(vertices, 6), axis=0, return_inverse=True)
  ids = ids.reshape(-1)
  f = ids[faces]
  edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
  n = int(ids.max()) + 1
  graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                     shape=(n, n))
  _, labels = connected_components(graph, directed=False)
  return float(np.bincount(labels).max() / n)


def mesh_report(vertices: np.ndarray, faces: np.ndarray) -> dict:
  """What a mesh is like for use: vertices, faces, connected components
  (faces joined by shared edges), watertight (every edge shared by exactly
  two faces, trimesh's test) and largest_share (of the vertices in the
  largest component, `largest_component_fraction`).

  Components and watertightness are of the mesh as written, its vertices
  not merged: where two sheets of a surface touch at a grid point,
  marching cubes gives each its own vertex there; merged, their edges
  would be shared by four faces (measured on a NeuS lego: 4 edges of
  300 k) and the closed mesh would not count as watertight."""
  import trimesh
  mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
  labels = trimesh.graph.connected_component_labels(
      mesh.face_adjacency, node_count=len(mesh.faces))
  return {"vertices": int(len(vertices)), "faces": int(len(faces)),
          "components": int(labels.max() + 1) if len(labels) else 0,
          "watertight": bool(mesh.is_watertight),
          "largest_share": largest_component_fraction(vertices, faces)}


def check_resolution(resolution: int) -> None:
  if resolution <= 1:
    raise ConfigError(f"--resolution: {resolution} must be above 1")
