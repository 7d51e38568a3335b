"""Baking: grid evaluation, visibility culling, the block-sparse layout, SH
projection, files and memory checks."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analytic_fields import SphereField
from jaxnerf.baked import bake as baking
from jaxnerf.core import cameras
from jaxnerf.fields import encoding
from jaxnerf.errors import BakedFileError, ConfigError, ResourceError


def ring_rays(num_views=8, size=24, radius=4.0, elevation=-30.0):
  """Host Rays [N] of cameras on a ring around the origin."""
  poses = np.stack([cameras.pose_spherical(th, elevation, radius)[:3]
                    for th in np.linspace(0, 360, num_views, endpoint=False)])
  cams = cameras.Cameras.create(poses, size * 1.2, size, size, 2.0, 6.0)
  rays = [cameras.image_rays(cams, i) for i in range(len(cams))]
  return cams, jax.tree.map(lambda *x: np.concatenate(
      [a.reshape(-1, a.shape[-1]) for a in x]), *rays)


def test_projection_recovers_sh_coefficients():
  """A colour whose logit is a degree-2 SH function projects onto exactly
  its coefficients (degree-3 terms zero)."""
  field = SphereField()
  points = jnp.asarray(np.random.RandomState(0).uniform(-1, 1, (5, 3)),
                       jnp.float32)
  radiance = lambda p, d: field.apply({}, p, d, method="radiance")
  coeffs = baking.project_to_sh(radiance, points, 3, 64)
  expected = field.apply({}, points, method="coefficients")
  np.testing.assert_allclose(coeffs, expected, atol=2e-3)


def test_vertex_density_grid_and_trilinear_interpolation():
  """density_grid evaluates at the vertices (x, y, z order); trilinear
  interpolation of a linear field is exact."""
  fn = jax.jit(lambda p: 2 * p[:, 0] - p[:, 1] + 3 * p[:, 2] + 10)
  grid = baking.density_grid(fn, 8, 1.0, 100)
  v = baking.vertex_coordinates(8, 1.0)
  assert grid.shape == (9, 9, 9)
  assert grid[8, 0, 3] == pytest.approx(2 * v[8] - v[0] + 3 * v[3] + 10)
  u = jnp.asarray([[0.3, 7.9, 4.5], [2.0, 3.25, 0.0]])
  x = u / 8 * 2 - 1
  np.testing.assert_allclose(
      baking.trilinear_dense(jnp.asarray(grid), u),
      2 * x[:, 0] - x[:, 1] + 3 * x[:, 2] + 10, rtol=1e-5)


def test_march_weights_of_a_slab():
  """A ray through a constant density sigma along length L: the weights
  sum to 1 - exp(-sigma L)."""
  grid = jnp.full((17, 17, 17), 3.0)
  origins = jnp.asarray([[-5.0, 0.1, 0.2]])
  directions = jnp.asarray([[2.0, 0.0, 0.0]])  # |d| = 2: t is half a unit
  weights, cells = baking.march_weights(grid, origins, directions,
                                        jnp.asarray([0.0]),
                                        jnp.asarray([100.0]), 1.0, 0.05, 60)
  # The box [-1, 1] along x: L = 2 world units = 40 steps of 0.05.
  np.testing.assert_allclose(float(weights.sum()), 1 - np.exp(-3.0 * 2.0),
                             rtol=1e-4)
  assert int(jnp.sum(cells >= 0)) == 40


def test_culling_keeps_the_visible_shell_of_a_solid_sphere():
  """Blocks the rays see are the sphere's surface: empty space and the
  inside of the solid sphere are dropped."""
  field = SphereField(radius=0.5, sigma=200.0)
  _, rays = ring_rays(num_views=12, elevation=0.0)
  grid = baking.density_grid(jax.jit(lambda p: field.apply(
      {}, p, method="density")), 32, 1.0, 4096)
  weights = baking.max_ray_weights(grid, rays, 1.0, 0.5)
  keep = baking.keep_blocks(weights, 4, 1e-3)
  g = keep.shape[0]
  centres = (np.argwhere(np.ones_like(keep)) + 0.5) / g * 2 - 1
  dist = np.linalg.norm(centres, axis=-1).reshape(keep.shape)
  half_diag = np.sqrt(3) * 1.0 / g  # block centre to corner
  assert keep.any()
  # Every kept block touches the sphere's surface.
  assert np.all(np.abs(dist[keep] - 0.5) <= half_diag + 1e-6)
  # Inside (the centre blocks) and far outside: dropped.
  assert not keep[dist < 0.5 - half_diag].any()
  assert not keep[dist > 0.5 + half_diag].any()


def test_bake_uses_the_fields_own_sh_and_lays_out_blocks():
  field = SphereField(radius=0.5, own_sh=True)
  _, rays = ring_rays()
  options = baking.BakeOptions(resolution=16, block_size=4, chunk=2048)
  logs = []
  scene = baking.bake(field, {}, rays, 1.0, True, "sphere", 7, options,
                      log=logs.append)
  assert any("the field's own SH" in line for line in logs)
  assert scene.block_index.shape == (4, 4, 4)
  assert scene.density.shape == (scene.num_blocks, 5, 5, 5)
  assert scene.sh.shape == (scene.num_blocks, 5, 5, 5, 3, 16)
  assert sorted(scene.block_index[scene.block_index >= 0]) == list(
      range(scene.num_blocks))
  # Block (i, j, k)'s vertex (a, b, c) is grid vertex 4 (i, j, k) + (a, b,
  # c): its position, density and SH are the field's there.
  i, j, k = np.argwhere(scene.block_index >= 0)[0]
  n = scene.block_index[i, j, k]
  v = baking.vertex_coordinates(16, 1.0)
  point = jnp.asarray([[v[4 * i + 1], v[4 * j + 2], v[4 * k + 3]]])
  assert scene.density[n, 1, 2, 3] == pytest.approx(
      float(field.apply({}, point, method="density")[0]))
  np.testing.assert_allclose(scene.sh[n, 1, 2, 3],
                             field.apply({}, point, method="coefficients")[0],
                             atol=1e-6)
  # With cell culling: the same blocks, some vertices zeroed, the rest as
  # they were.
  culled = baking.bake(field, {}, rays, 1.0, True, "sphere", 7,
                       dataclasses.replace(options, cell_cull_threshold=0.3),
                       log=logs.append)
  np.testing.assert_array_equal(culled.block_index, scene.block_index)
  kept = culled.density > 0
  assert (culled.density == 0).sum() > (scene.density == 0).sum()
  np.testing.assert_array_equal(culled.density[kept], scene.density[kept])
  assert any(line.startswith("cell culling at 0.3") for line in logs)


def test_cell_culling_zeroes_the_corners_of_no_seen_cell():
  """Two blocks of 2^3 cells along x; only cell (1, 0, 1) (block 0) and
  cell (3, 1, 1) (block 1) were weighed above the threshold: their 8
  corners keep their density (in every block that holds them: block 1's
  apron at x = 2 holds 4 corners of cell (1, 0, 1)), every other vertex of
  the atlas goes to 0."""
  block_index = np.full((2, 2, 2), -1, np.int32)
  block_index[0, 0, 0], block_index[1, 0, 0] = 0, 1
  scene = baking.BakedScene(
      block_index=block_index, density=np.full((2, 3, 3, 3), 5.0,
                                               np.float32),
      sh=np.zeros((2, 3, 3, 3, 3, 1), np.float32), bound=1.0,
      step_ratio=0.5, white_bkgd=True, method="t", step=0)
  weights = np.zeros((4, 4, 4), np.float32)
  weights[1, 0, 1], weights[3, 1, 1] = 0.5, 0.02
  weights[2, 2, 2] = 5e-3  # below the threshold
  culled = baking.cull_cells(scene, weights, 1e-2)
  expected = np.zeros((2, 3, 3, 3), np.float32)
  expected[0, 1:3, 0:2, 1:3] = 5.0
  expected[1, 1:3, 1:3, 1:3] = 5.0
  expected[1, 0, 0:2, 1:3] = 5.0
  np.testing.assert_array_equal(culled.density, expected)
  assert (scene.density == 5.0).all()  # the input is not changed
  with pytest.raises(ConfigError, match="--cell_cull_threshold"):
    baking.check_options(baking.BakeOptions(cell_cull_threshold=1.0))


def test_density_threshold_empties_the_vertices_below_it():
  """KiloNeRF's occupancy rule: a solid sphere of density 50 baked with a
  threshold of 50 (not below it: kept) is the sphere baked without one;
  above 50 nothing is left, so no block is kept."""
  field = SphereField(radius=0.5, own_sh=True)
  _, rays = ring_rays(num_views=4, size=16)
  bake = lambda threshold: baking.bake(
      field, {}, rays, 1.0, True, "sphere", 0, baking.BakeOptions(
          resolution=16, block_size=4, chunk=4096,
          density_threshold=threshold), log=lambda s: None)
  plain, at, above = bake(0.0), bake(50.0), bake(50.5)
  np.testing.assert_array_equal(at.block_index, plain.block_index)
  np.testing.assert_array_equal(at.density, plain.density)
  assert plain.num_blocks > 0 and above.num_blocks == 0
  with pytest.raises(ConfigError, match="--density_threshold"):
    baking.check_options(baking.BakeOptions(density_threshold=-1.0))


def test_bake_projects_a_field_without_sh():
  field = SphereField(radius=0.5, own_sh=False)
  _, rays = ring_rays(num_views=4)
  options = baking.BakeOptions(resolution=8, block_size=4, chunk=2048,
                               projection_directions=32)
  logs = []
  scene = baking.bake(field, {}, rays, 1.0, True, "sphere", 0, options,
                      log=logs.append)
  assert any("projected" in line for line in logs)
  points = baking.block_points(np.argwhere(scene.block_index >= 0), 4, 8,
                               1.0).reshape(-1, 3)
  np.testing.assert_allclose(
      scene.sh.reshape(-1, 3, 16),
      field.apply({}, jnp.asarray(points), method="coefficients"), atol=5e-3)


def test_file_round_trip_and_bad_files(tmp_path):
  field = SphereField(radius=0.5, own_sh=True)
  _, rays = ring_rays(num_views=4)
  scene = baking.bake(field, {}, rays, 1.0, False, "sphere", 3,
                      baking.BakeOptions(resolution=8, block_size=4,
                                         chunk=1024), log=lambda s: None)
  path = str(tmp_path / "baked.npz")
  size = baking.save(path, scene)
  assert size > 0
  loaded = baking.load(path, method="sphere")
  np.testing.assert_array_equal(loaded.block_index, scene.block_index)
  np.testing.assert_allclose(loaded.density, scene.density, rtol=1e-3)
  np.testing.assert_allclose(loaded.sh, scene.sh, atol=1e-3)
  assert (loaded.bound, loaded.step, loaded.white_bkgd, loaded.sh_degree) == \
      (1.0, 3, False, 3)
  with pytest.raises(BakedFileError, match="baked from method 'sphere', but "
                     "the config's method is 'nerf'"):
    baking.load(path, method="nerf")
  with pytest.raises(BakedFileError, match="no baked scene"):
    baking.load(str(tmp_path / "missing.npz"))
  # Another format version.
  with np.load(path) as f:
    arrays = dict(f)
  arrays["meta"] = np.asarray(str(arrays["meta"]).replace(
      f'"version": {baking.FORMAT_VERSION}', '"version": 999'))
  np.savez(str(tmp_path / "old.npz"), **arrays)
  with pytest.raises(BakedFileError, match="version 999"):
    baking.load(str(tmp_path / "old.npz"))
  (tmp_path / "junk.npz").write_text("not a zip")
  with pytest.raises(BakedFileError, match="not a baked scene"):
    baking.load(str(tmp_path / "junk.npz"))


def test_a_resolution_that_does_not_fit_is_refused_before_any_work():
  with pytest.raises(ResourceError, match=r"--resolution: a 8192\^3 bake .* "
                     r"needs about [0-9.]+ GiB"):
    baking.check_options(baking.BakeOptions(resolution=8192))
  with pytest.raises(ResourceError, match="multiple of --block_size"):
    baking.check_options(baking.BakeOptions(resolution=30, block_size=8))
  # The estimate: vertex densities and cell weights of a 256^3 bake.
  assert baking.bake_memory_bytes(256, 8, 3, 0.0) == pytest.approx(
      257**3 * 4 + 256**3 * 4 + 32**3 * 4)
  assert encoding.sh_basis_size(3) == 16
