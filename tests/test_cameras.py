"""Pinhole rays, the NDC warp, pixel radii and render paths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.data.dataset import Dataset

IDENTITY = np.eye(4)[None, :3, :4]


def test_identity_camera_pixel_centre_directions():
  # H=2, W=4, focal=2: pixel (row j, col i) goes through
  # ((i + 0.5 - 2) / 2, -(j + 0.5 - 1) / 2, -1).
  rays = cameras.pinhole_rays(IDENTITY, 2, 4, 2.0, 0.5, 3.0)
  assert rays.shape == (1, 2, 4)
  d = rays.directions[0]
  np.testing.assert_allclose(d[0, 0], [-0.75, 0.25, -1.0])
  np.testing.assert_allclose(d[0, 3], [0.75, 0.25, -1.0])
  np.testing.assert_allclose(d[1, 0], [-0.75, -0.25, -1.0])
  np.testing.assert_allclose(d[1, 2], [0.25, -0.25, -1.0])
  np.testing.assert_allclose(rays.origins, 0.0)
  np.testing.assert_allclose(
      rays.viewdirs[0, 0, 0], np.array([-0.75, 0.25, -1.0]) / np.sqrt(1.625),
      rtol=1e-6)
  np.testing.assert_allclose(rays.near, 0.5)
  np.testing.assert_allclose(rays.far, 3.0)
  np.testing.assert_allclose(rays.lossmult, 1.0)


def test_rotated_translated_camera():
  # +90 degrees about world y: the camera's -z axis becomes world -x.
  c2w = np.array([[[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 2.0],
                   [-1.0, 0.0, 0.0, 3.0]]])
  rays = cameras.pinhole_rays(c2w, 3, 3, 1.0, 0.0, 1.0)
  np.testing.assert_allclose(rays.directions[0, 1, 1], [-1.0, 0.0, 0.0],
                             atol=1e-7)
  # Top-left pixel: camera (-1, 1, -1) -> world (-1, 1, 1).
  np.testing.assert_allclose(rays.directions[0, 0, 0], [-1.0, 1.0, 1.0],
                             atol=1e-7)
  np.testing.assert_allclose(rays.origins[0, 2, 0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("focal", [1.0, 4.0, 250.0])
def test_pixel_radii_known_focal(focal):
  # Neighbouring directions (z = -1) are 1 / focal apart in x.
  expected = (1.0 / focal) * 2.0 / np.sqrt(12.0)
  rays = cameras.pinhole_rays(IDENTITY, 3, 5, focal, 0.0, 1.0)
  assert rays.radii.shape == (1, 3, 5, 1)
  np.testing.assert_allclose(rays.radii, expected, rtol=1e-5)
  radii = cameras.pixel_radii(cameras.camera_directions(3, 5, focal))
  np.testing.assert_allclose(radii, expected, rtol=1e-12)


@pytest.mark.parametrize("near", [1.0, 2.0])
def test_ndc_point_at_depth(near):
  # A camera-space point at depth z projects to
  # (-(2f/W) x/z, -(2f/H) y/z, 1 + 2 near / z); the NDC ray (origin on the
  # plane z = -near, so NDC z = -1, direction z = 2) reaches NDC z at
  # t = 1 + near / z.
  focal, width, height = 5.0, 8, 6
  o = np.array([[0.3, -0.2, 0.5]])
  d = np.array([[0.1, 0.2, -1.0]])
  ndc_o, ndc_d = cameras.convert_to_ndc(o, d, focal, width, height, near)
  np.testing.assert_allclose(ndc_o[0, 2], -1.0)
  np.testing.assert_allclose(ndc_d[0, 2], 2.0)
  for z in (-near, -1.5 * near, -3.0, -10.0, -1e4):
    p = o[0] + (z - o[0, 2]) / d[0, 2] * d[0]
    expected = [-(2 * focal / width) * p[0] / z,
                -(2 * focal / height) * p[1] / z, 1 + 2 * near / z]
    t = 1 + near / z
    np.testing.assert_allclose(ndc_o[0] + t * ndc_d[0], expected, atol=1e-9)


def test_ndc_t_spans_near_plane_to_infinity():
  focal, width, height = 3.0, 4, 2
  rays = cameras.pinhole_rays(IDENTITY, height, width, focal, 0.0, 1.0,
                              ndc=True)
  # t = 0: the near plane z = -1 (NDC z = -1); t = 1: infinity (NDC z = 1).
  np.testing.assert_allclose(rays.origins[..., 2], -1.0)
  np.testing.assert_allclose((rays.origins + rays.directions)[..., 2], 1.0)
  # Pixel centres land at NDC x = (2 i + 1 - W) / W, y = -(2 j + 1 - H) / H.
  np.testing.assert_allclose(rays.origins[0, 0, :, 0],
                             [-0.75, -0.25, 0.25, 0.75], rtol=1e-6)
  np.testing.assert_allclose(rays.origins[0, :, 0, 1], [0.5, -0.5], rtol=1e-6)
  # The reference camera's rays are parallel in NDC.
  np.testing.assert_allclose(rays.directions[..., :2], 0.0, atol=1e-7)
  np.testing.assert_allclose(rays.near, 0.0)
  np.testing.assert_allclose(rays.far, 1.0)


def _assert_rotations(poses):
  rot = poses[:, :3, :3].astype(np.float64)
  np.testing.assert_allclose(np.einsum("nji,njk->nik", rot, rot),
                             np.broadcast_to(np.eye(3), rot.shape), atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-6)


def _box_poses():
  # Identity rotations at (+-1, +-0.5, +-0.2): average pose is the identity.
  signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
  poses = np.tile(np.eye(4)[:3, :4], (8, 1, 1))
  poses[:, :, 3] = signs * np.array([1.0, 0.5, 0.2])
  return poses


def test_spiral_focus_depth_hand_derived():
  bounds = np.array([[1.0, 10.0], [2.0, 4.0]])
  # close 0.9, inf 50: 1 / (0.25 / 0.9 + 0.75 / 50).
  assert cameras.spiral_focus_depth(bounds) == pytest.approx(
      1.0 / (0.25 / 0.9 + 0.015))


def test_spiral_path():
  poses = _box_poses()
  bounds = np.array([[1.0, 10.0]] * 8)
  path = cameras.spiral_path(poses, bounds, n_frames=40, n_rots=2)
  assert path.shape == (40, 3, 4) and path.dtype == np.float32
  _assert_rotations(path)
  # Radii (1, 0.5, 0.2); theta = 0 starts at (1, 0, 0).
  np.testing.assert_allclose(path[0, :, 3], [1.0, 0.0, 0.0], atol=1e-6)
  centres = path[:, :, 3].astype(np.float64)
  np.testing.assert_allclose(centres[:, 0]**2 + (centres[:, 1] / 0.5)**2, 1.0,
                             rtol=1e-5)
  assert np.abs(centres[:, 2]).max() <= 0.2 + 1e-6
  # Every camera looks (down -z) at the focus point in front of the average.
  focus = np.array([0.0, 0.0, -cameras.spiral_focus_depth(bounds)])
  to_focus = focus - centres
  to_focus /= np.linalg.norm(to_focus, axis=-1, keepdims=True)
  np.testing.assert_allclose(-path[:, :, 2], to_focus, atol=1e-5)
  # Camera up stays close to the scene's up (+y).
  assert np.all(path[:, 1, 1] > 0.9)


def test_circle_path():
  path = cameras.circle_path(n_frames=12, radius=4.0, elevation_deg=-30.0)
  assert path.shape == (12, 3, 4) and path.dtype == np.float32
  _assert_rotations(path)
  pos = path[:, :, 3].astype(np.float64)
  np.testing.assert_allclose(np.linalg.norm(pos, axis=-1), 4.0, rtol=1e-6)
  # NeRF's phi = -30: 30 degrees above the z = 0 plane, height 4 sin 30 = 2.
  np.testing.assert_allclose(pos[:, 2], 2.0, rtol=1e-6)
  # theta = -180 comes first, at -y; the azimuths are evenly spaced around
  # world z (clockwise seen from above, as in NeRF).
  np.testing.assert_allclose(pos[0], [0.0, -4 * np.cos(np.pi / 6), 2.0],
                             atol=1e-5)
  azimuth = np.arctan2(pos[:, 1], pos[:, 0])
  steps = np.mod(np.diff(azimuth), 2 * np.pi)
  np.testing.assert_allclose(steps, 2 * np.pi - 2 * np.pi / 12, rtol=1e-5)
  # Each camera looks at the origin: its +z axis points away from it.
  np.testing.assert_allclose(path[:, :, 2], pos / 4.0, atol=1e-6)
  # Horizontal x axis, up with a positive world-z component.
  np.testing.assert_allclose(path[:, 2, 0], 0.0, atol=1e-6)
  assert np.all(path[:, 2, 1] > 0)


def test_pose_spherical_matches_nerf_at_theta_zero():
  # NeRF: translate to (0, 0, 4); rotate by phi = -30 about x to
  # (0, 4 sin 30, 4 cos 30) = (0, 2, 4 cos 30); theta = 0 leaves it; the
  # final axis swap (x, y, z) -> (-x, z, y) gives (0, 4 cos 30, 2).
  c2w = cameras.pose_spherical(0.0, -30.0, 4.0)
  np.testing.assert_allclose(c2w[:3, 3], [0.0, 4 * np.cos(np.pi / 6), 2.0],
                             atol=1e-12)


def _dataset(camtoworlds, ndc, extras=None, height=4, width=6):
  near, far = (0.0, 1.0) if ndc else (2.0, 6.0)
  cams = cameras.Cameras.create(np.asarray(camtoworlds, np.float32), 5.0,
                                width, height, near, far, ndc=ndc)
  return Dataset(images=[np.zeros((height, width, 3))] * len(cams),
                 cameras=cams, names=[str(i) for i in range(len(cams))],
                 near=near, far=far, extras=extras or {})


def test_generate_render_path_circle_for_blender_like():
  train = cameras.circle_path(n_frames=8, radius=3.0, elevation_deg=-20.0)
  rays = cameras.generate_render_path(_dataset(train, ndc=False), n_frames=5)
  assert rays.shape == (5, 4, 6)
  np.testing.assert_allclose(rays.near, 2.0)
  np.testing.assert_allclose(rays.far, 6.0)
  # Radius and elevation recovered from the training cameras.
  expected = cameras.circle_path(n_frames=5, radius=3.0, elevation_deg=-20.0)
  np.testing.assert_allclose(rays.origins[:, 0, 0], expected[:, :, 3],
                             atol=1e-5)


def test_azimuth_span_takes_the_complement_of_the_widest_gap():
  at = lambda *deg: np.stack([[np.cos(np.deg2rad(d)), np.sin(np.deg2rad(d)),
                               0.3] for d in deg])
  assert cameras.azimuth_span(at(30, 120, 75)) == pytest.approx((30, 120))
  # Across the -180/180 seam: 170 -> 190 (= -170), not -170 -> 170.
  assert cameras.azimuth_span(at(170, -170, 178)) == pytest.approx((170, 190))


def test_generate_render_path_arc_for_cameras_on_one_side():
  # Photos from azimuths 10..100 degrees only (a landmark from one shore).
  train = np.stack([cameras.viewmatrix(p, np.array([0.0, 0, 1]), p) for p in (
      [2 * np.cos(np.deg2rad(a)), 2 * np.sin(np.deg2rad(a)), 0.5]
      for a in (10, 40, 70, 100))])
  rays = cameras.generate_render_path(_dataset(train, ndc=False), n_frames=4)
  centres = rays.origins[:, 0, 0]
  azimuths = np.rad2deg(np.arctan2(centres[:, 1], centres[:, 0]))
  np.testing.assert_allclose(azimuths, [10, 40, 70, 100], atol=1e-4)
  np.testing.assert_allclose(np.linalg.norm(centres[:, :2], axis=-1), 2.0,
                             rtol=1e-5)
  np.testing.assert_allclose(centres[:, 2], 0.5, atol=1e-5)
  # Each looks at the origin: the centre pixel's ray passes near it.
  mid = rays.directions[:, 2, 3]
  off_axis = np.cross(mid / np.linalg.norm(mid, axis=-1, keepdims=True),
                      -centres)
  assert np.all(np.linalg.norm(off_axis, axis=-1) < 0.5)


def test_generate_render_path_spiral_for_ndc():
  poses = _box_poses()
  bounds = np.array([[1.0, 10.0]] * 8)
  ds = _dataset(poses[:2], ndc=True, extras={"poses": poses, "bounds": bounds})
  rays = cameras.generate_render_path(ds, n_frames=3)
  assert rays.shape == (3, 4, 6)
  np.testing.assert_allclose(rays.near, 0.0)
  np.testing.assert_allclose(rays.far, 1.0)
  # NDC: origins on the near plane (z = -1 there); t = 1 is infinity.
  np.testing.assert_allclose(rays.origins[..., 2], -1.0, atol=1e-5)
  np.testing.assert_allclose((rays.origins + rays.directions)[..., 2], 1.0,
                             atol=1e-5)
  with pytest.raises(ValueError, match="bounds"):
    cameras.generate_render_path(_dataset(poses, ndc=True), n_frames=3)


def test_ndc_pixel_radii_from_origin_spacing():
  # Identity camera: the NDC origins of neighbouring pixels are 2 / W apart
  # in x and 2 / H in y, so the radius is their mean times 2 / sqrt(12)
  # (mip-NeRF's LLFF loader), the same for every pixel.
  h, w = 6, 10
  rays = cameras.pinhole_rays(IDENTITY, h, w, 7.0, 0.0, 1.0, ndc=True)
  expected = 0.5 * (2.0 / w + 2.0 / h) * 2.0 / np.sqrt(12.0)
  np.testing.assert_allclose(rays.radii, expected, rtol=1e-5)


def _random_cameras(ndc: bool, distortion=None, c=3):
  rng = np.random.default_rng(0)
  poses = _box_poses()[:c] if ndc else cameras.circle_path(c, 4.0)
  return cameras.Cameras.create(
      poses, rng.uniform(20, 30, c), 24, 18, 0.0 if ndc else 2.0,
      1.0 if ndc else 6.0, fy=rng.uniform(20, 30, c),
      cx=rng.uniform(10, 14, c), cy=rng.uniform(8, 10, c),
      distortion=distortion, time=rng.uniform(0, 1, c), ndc=ndc)


@pytest.mark.parametrize("ndc", [False, True])
def test_rays_cast_on_device_equal_the_host_rays(ndc):
  """cast_rays in a jitted function (float32, per pixel) gives the rays the
  host precomputes for whole images (float64), radii included."""
  cams = _random_cameras(ndc)
  for i in range(len(cams)):
    host = cameras.image_rays(cams, i)
    pixels = cameras.pixel_grid(24, 18, i)
    device = jax.jit(cameras.cast_rays)(
        jax.tree.map(jnp.asarray, cams.device_arrays()),
        jax.tree.map(jnp.asarray, pixels))
    for name in ("origins", "directions", "viewdirs", "radii", "near", "far",
                 "time"):
      np.testing.assert_allclose(getattr(device, name), getattr(host, name),
                                 rtol=2e-5, atol=2e-6, err_msg=name)
    np.testing.assert_array_equal(device.camera_index, i)
    np.testing.assert_allclose(host.time, cams.time[i])


def test_principal_point_and_focal_place_the_pixel_rays():
  """Pixel (cx, cy) looks down -z; one pixel right of it is 1 / fx right."""
  cams = cameras.Cameras.create(IDENTITY, 10.0, 8, 6, 1.0, 2.0, fy=20.0,
                                cx=3.0, cy=2.0)
  pixels = cameras.Pixels(xy=np.array([[3.0, 2.0], [4.0, 2.0], [3.0, 3.0]]),
                          camera_index=np.zeros((3, 1), np.int32),
                          lossmult=np.ones((3, 1)))
  rays = cameras.cast_rays(cams, pixels)
  np.testing.assert_allclose(rays.directions, [[0, 0, -1], [0.1, 0, -1],
                                               [0, -0.05, -1]], atol=1e-7)


def test_undistort_inverts_distort():
  k = np.array([0.1, -0.05, 0.002, -0.001])
  rng = np.random.default_rng(1)
  x, y = rng.uniform(-0.6, 0.6, (2, 100))
  xd, yd = cameras.distort(x, y, k)
  assert np.abs(xd - x).max() > 1e-3  # the distortion is not negligible
  ux, uy = cameras.undistort(xd, yd, np.broadcast_to(k, (100, 4)))
  np.testing.assert_allclose(ux, x, atol=1e-9)
  np.testing.assert_allclose(uy, y, atol=1e-9)


def test_distorted_camera_rays_pass_through_the_undistorted_points():
  """A ray of a distorted camera, projected by the pinhole model and then
  distorted, lands on its pixel."""
  k = np.array([0.05, 0.01, 0.0, 0.0])
  cams = _random_cameras(False, distortion=k, c=1)
  assert cams.distorted
  pixels = cameras.pixel_grid(24, 18)
  rays = cameras.cast_rays(cams, pixels)
  # Into camera space: directions times R^T, then normalised coordinates.
  r = cams.camtoworlds[0, :3, :3].astype(np.float64)
  cam_dirs = np.asarray(rays.directions, np.float64) @ r
  # Camera directions are (x, -y, -1) for normalised coordinates (x, y).
  x = cam_dirs[..., 0] / -cam_dirs[..., 2]
  y = cam_dirs[..., 1] / cam_dirs[..., 2]
  xd, yd = cameras.distort(x, y, k)
  u = xd * cams.fx[0] + cams.cx[0]
  v = yd * cams.fy[0] + cams.cy[0]
  np.testing.assert_allclose(u, pixels.xy[..., 0], atol=1e-3)
  np.testing.assert_allclose(v, pixels.xy[..., 1], atol=1e-3)


def test_undistort_traced_equals_numpy_and_stays_fast():
  """Under jit with traced coefficients (splats' pixels, learned k1, k2)
  undistort matches numpy's, has a finite gradient in k, and a 96x96 patch
  takes well under a second: unrolled, XLA's fusion recomputed each Newton
  iteration's inputs at every use (minutes for this patch)."""
  import time
  k = np.array([0.0839, -0.224, -0.0027, 0.0004])
  y, x = np.meshgrid(np.linspace(-0.6, 0.6, 96), np.linspace(-0.4, 0.4, 96),
                     indexing="ij")
  fn = jax.jit(lambda x, y, k: cameras.undistort(x, y, k))
  start = time.time()
  out = jax.block_until_ready(fn(jnp.asarray(x), jnp.asarray(y),
                                 jnp.asarray(k)))
  assert time.time() - start < 20.0
  ref = cameras.undistort(x, y, k)
  np.testing.assert_allclose(out[0], ref[0], atol=1e-6)
  np.testing.assert_allclose(out[1], ref[1], atol=1e-6)
  grad = jax.grad(lambda k: jnp.sum(cameras.undistort(
      jnp.asarray(x), jnp.asarray(y), k)[0]))(jnp.asarray(k))
  assert np.all(np.isfinite(grad)) and abs(float(grad[0])) > 1.0
