"""Mesh and point-cloud export: an analytic sphere, files read back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from analytic_fields import SphereField
from jaxnerf.core import cameras
from jaxnerf.export import geometry
from jaxnerf.errors import ResourceError
from jaxnerf.core.rays import Rays


def test_sphere_mesh_lies_within_one_voxel_and_reads_back(tmp_path):
  radius, bound, res = 0.6, 1.0, 40
  # A smooth solid sphere: density falls linearly through the threshold.
  density = jax.jit(lambda p: jnp.clip(
      (radius - jnp.linalg.norm(p, axis=-1)) * 200 + 10, 0, 50))
  verts, faces = geometry.extract_mesh(density, bound, res, 10.0,
                                       chunk=4096)
  voxel = 2 * bound / res
  dist = np.linalg.norm(verts, axis=-1)
  assert len(faces) > 1000
  assert np.all(np.abs(dist - radius) < voxel), np.abs(dist - radius).max()
  field = SphereField(radius=radius)
  colours = geometry.diffuse_colours(
      jax.jit(lambda p, d: field.apply({}, p, d, method="radiance")), verts,
      chunk=4096)
  assert colours.shape == verts.shape and 0 <= colours.min() <= 1
  paths = geometry.write_mesh(str(tmp_path / "sphere"), verts, faces,
                              colours)
  for path in paths:
    mesh = trimesh.load(path, process=False, force="mesh")
    assert len(mesh.vertices) == len(verts) and len(mesh.faces) == len(faces)
    np.testing.assert_allclose(mesh.bounds, [verts.min(0), verts.max(0)],
                               atol=1e-5)
    got = mesh.visual.vertex_colors[:, :3]
    np.testing.assert_allclose(got, np.round(colours * 255), atol=1)
  assert geometry.largest_component_fraction(verts, faces) == 1.0


def test_empty_field_gives_an_empty_mesh_and_a_huge_grid_is_refused():
  verts, faces = geometry.extract_mesh(
      jax.jit(lambda p: jnp.zeros(p.shape[0])), 1.0, 8, 5.0, chunk=1024)
  assert verts.shape == (0, 3) and faces.shape == (0, 3)
  with pytest.raises(ResourceError, match=r"--resolution: marching cubes on "
                     r"a 20000\^3 grid needs about [0-9.]+ GiB"):
    geometry.extract_mesh(None, 1.0, 20000, 1.0)


def test_points_from_depth_land_on_the_surface(tmp_path):
  """Rays at a plane z = 0.25 rendered with depth t = distance along the
  (unnormalised) direction: the points lie on the plane; transparent rays
  are dropped."""
  cams = cameras.Cameras.create(
      cameras.pose_spherical(0, -90, 3.0)[None], 10.0, 6, 5, 1.0, 5.0)
  rays = cameras.image_rays(cams, 0)  # looks straight down from z = 3
  t = (0.25 - rays.origins[..., 2]) / rays.directions[..., 2]
  acc = np.ones(t.shape, np.float32)
  acc[0, :] = 0.2  # first row: mostly transparent
  out = dict(depth=t * acc, acc=acc, rgb=np.full(t.shape + (3,), 0.5))
  points, colours = geometry.depth_points(rays, out, 0.5)
  assert points.shape == (4 * 6, 3) and colours.shape == (24, 3)
  np.testing.assert_allclose(points[:, 2], 0.25, atol=1e-5)
  path = geometry.write_point_cloud(str(tmp_path / "p.ply"), points,
                                    colours)
  cloud = trimesh.load(path)
  assert len(cloud.vertices) == 24
  np.testing.assert_allclose(cloud.vertices, points, atol=1e-6)
  assert isinstance(rays, Rays)


def test_exports_map_back_to_the_capture_frame():
  # A similarity with scale 2, a 90-degree turn about z and a shift.
  m = np.eye(4)
  m[:3, :3] = 2 * np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
  m[:3, 3] = [1, 2, 3]
  points = np.float32([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
  np.testing.assert_allclose(geometry.to_world(points, m),
                             [[1, 4, 3], [-1, 2, 3], [1, 2, 3]], atol=1e-6)
  assert geometry.to_world(points, None) is points


def test_outputs_are_signed_so_only_ours_are_replaced(tmp_path):
  """A mesh and a point cloud carry files.SIGNATURE in their headers (the
  readers still read them), so a rerun may replace them; a file there
  that we did not write is refused before any work."""
  from jaxnerf import files
  from jaxnerf.engine import cli
  from jaxnerf.errors import ConfigError
  box = trimesh.creation.box()
  colours = np.full((len(box.vertices), 3), 0.5)
  stem = str(tmp_path / "mesh")
  for _ in range(2):  # the second run replaces the first's files
    for ext in (".ply", ".obj"):
      cli.check_output_file(stem + ext, "--out")
    paths = geometry.write_mesh(stem, np.asarray(box.vertices),
                                np.asarray(box.faces), colours)
  for path in paths:
    assert files.signed(path)
    back = trimesh.load(path, process=False)
    np.testing.assert_allclose(back.vertices, box.vertices, atol=1e-6)
    assert len(back.faces) == len(box.faces)
  cloud = str(tmp_path / "cloud.ply")
  geometry.write_point_cloud(cloud, np.asarray(box.vertices), colours)
  assert files.signed(cloud)
  assert len(trimesh.load(cloud).vertices) == len(box.vertices)
  foreign = tmp_path / "theirs.ply"
  foreign.write_bytes(box.export(file_type="ply"))  # trimesh's, not ours
  with pytest.raises(ConfigError, match="was not written by jaxnerf"):
    cli.check_output_file(str(foreign), "--out")
  link = tmp_path / "link.ply"
  link.symlink_to(cloud)  # even a link to our own file is not replaced
  with pytest.raises(ConfigError, match="was not written by jaxnerf"):
    cli.check_output_file(str(link), "--out")
