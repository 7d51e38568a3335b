"""Cameras: pixels to rays (on the host or inside a jitted step), NDC, pixel
radii, lens distortion and render paths.

Conventions: camera-to-world matrices are [3, 4] (or [4, 4]) in the OpenGL /
Blender convention: the camera looks down -z, +y is up, +x is right. Pixel
(i, j) is sampled at its centre (i + 0.5, j + 0.5), as mip-NeRF does.

`cast_rays` is the one place rays are made: datasets call it with numpy
arrays once (precomputed rays), and methods that optimise cameras (BARF,
SCNeRF) have the train step call it with jax arrays on every batch.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.core.rays import Rays

# Newton iterations of `undistort`; nerfstudio and COLMAP use about 10.
UNDISTORT_ITERATIONS = 10


@flax.struct.dataclass
class Cameras:
  """C cameras of one split: numpy arrays on the host, jax arrays on device.

  Attributes:
    camtoworlds: [C, 3, 4] camera-to-world (OpenGL convention).
    fx, fy: [C] focal lengths in pixels.
    cx, cy: [C] principal point in pixels (W / 2, H / 2 for Blender/LLFF).
    width, height: [C] int32 image size in pixels.
    distortion: [C, 4] OpenCV (k1, k2, p1, p2); used only if `distorted`.
    near, far: [C] ray bounds (0 and 1 in NDC).
    time: [C] capture time in [0, 1] (dynamic scenes; else 0).
    light: [C, L] each image's light (`jaxnerf.core.lighting`; one zero
      column where the data names none, as `Rays.light`).
    ndc: rays are warped into normalised device coordinates (static).
    distorted: apply `distortion` (static: undistortion costs iterations).
  """

  camtoworlds: Any
  fx: Any
  fy: Any
  cx: Any
  cy: Any
  width: Any
  height: Any
  distortion: Any
  near: Any
  far: Any
  time: Any
  light: Any
  ndc: bool = flax.struct.field(pytree_node=False, default=False)
  distorted: bool = flax.struct.field(pytree_node=False, default=False)

  @classmethod
  def create(cls, camtoworlds, focal, width, height, near, far, *,
             fy=None, cx=None, cy=None, distortion=None, time=None,
             light=None, ndc: bool = False) -> "Cameras":
    """Host cameras from [C, 3|4, 4] poses and scalars or [C] intrinsics.

    Defaults: fy = focal, principal point at the image centre, no
    distortion, time 0, no light ([C, 1] zeros). Poses keep their dtype and intrinsics are float64,
    so rays cast on the host are as exact as the inputs (`device_arrays`
    makes the float32 copy for a device).
    """
    camtoworlds = np.asarray(camtoworlds)[:, :3, :4]
    c = camtoworlds.shape[0]
    per_camera = lambda x, dtype=np.float64: np.ascontiguousarray(
        np.broadcast_to(np.asarray(x, dtype), (c,)))
    width = per_camera(width, np.int32)
    height = per_camera(height, np.int32)
    distortion = (np.zeros((c, 4)) if distortion is None else
                  np.ascontiguousarray(np.broadcast_to(
                      np.asarray(distortion, np.float64), (c, 4))))
    return cls(camtoworlds=camtoworlds, fx=per_camera(focal),
               fy=per_camera(focal if fy is None else fy),
               cx=per_camera(width / 2 if cx is None else cx),
               cy=per_camera(height / 2 if cy is None else cy),
               width=width, height=height, distortion=distortion,
               near=per_camera(near), far=per_camera(far),
               time=per_camera(0.0 if time is None else time),
               light=(np.zeros((c, 1)) if light is None else
                      np.asarray(light, np.float64).reshape(c, -1)),
               ndc=ndc,
               distorted=bool(np.any(distortion != 0)))

  def device_arrays(self) -> "Cameras":
    """A copy with float32 arrays, as jax computes (host numpy)."""
    return jax.tree.map(lambda x: np.asarray(
        x, np.float32 if np.asarray(x).dtype.kind == "f" else x.dtype), self)

  def __len__(self) -> int:
    return self.camtoworlds.shape[0]

  def take(self, indices) -> "Cameras":
    """The cameras at `indices` (an int array), in that order."""
    return jax.tree.map(lambda x: x[indices], self)


@flax.struct.dataclass
class Pixels:
  """Pixels to cast rays through; every field has the leading shape `[...]`.

  Attributes:
    xy: [..., 2] float32 image coordinates (x right, y down; pixel (i, j)
      has its centre at (i + 0.5, j + 0.5)).
    camera_index: [..., 1] int32 camera of each pixel.
    lossmult: [..., 1] per-pixel loss weight.
  """

  xy: Any
  camera_index: Any
  lossmult: Any


def project_points(camtoworld: np.ndarray, fx, fy, cx, cy,
                   points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """World points [..., 3] seen by one pinhole camera (camtoworld [3, 4],
  OpenGL: looking down -z; pixel (i, j) centred at (i + 0.5, j + 0.5)) ->
  (pixel xy [..., 2], depth along the camera axis [...]); xy is
  meaningless where depth <= 0. Numpy on the host, or jax (traced,
  differentiable: RtS's splat positions) where `points` is a jax array."""
  xp = np if isinstance(points, np.ndarray) else jnp
  local = (points - camtoworld[:, 3]) @ camtoworld[:, :3]  # R^T (p - t)
  depth = -local[..., 2]
  safe = xp.where(depth > 0, depth, 1.0)
  x = cx + fx * local[..., 0] / safe
  y = cy - fy * local[..., 1] / safe
  return xp.stack([x, y], -1), depth


def pixel_grid(width: int, height: int, camera_index: int = 0,
               lossmult: float = 1.0) -> Pixels:
  """Every pixel centre of one camera: Pixels [H, W], numpy."""
  x, y = np.meshgrid(np.arange(width, dtype=np.float32) + 0.5,
                     np.arange(height, dtype=np.float32) + 0.5, indexing="xy")
  column = lambda v, dtype: np.full((height, width, 1), v, dtype)
  return Pixels(xy=np.stack([x, y], -1),
                camera_index=column(camera_index, np.int32),
                lossmult=column(lossmult, np.float32))


def patch_pixels(y0, x0, size: int, stride: int = 1):
  """Integer pixel coordinates of square patches whose top-left pixels are
  (y0, x0) [...]: size x size pixels `stride` apart, so a patch spans
  (size - 1) stride + 1 pixels a side (stride > 1: a coarse view of a
  larger region, GNeRF's patches at a larger scale). Returns (y, x)
  [..., size, size], row-major."""
  d = jnp.arange(size) * stride
  dy, dx = jnp.meshgrid(d, d, indexing="ij")
  return (jnp.asarray(y0)[..., None, None] + dy,
          jnp.asarray(x0)[..., None, None] + dx)


def focal_from_fov(width: int, camera_angle_x: float) -> float:
  """Focal length in pixels of a camera `width` pixels wide."""
  return 0.5 * width / np.tan(0.5 * camera_angle_x)


def camera_directions(height: int, width: int, focal: float) -> np.ndarray:
  """Camera-space directions through the pixel centres of a pinhole camera
  with its principal point at the image centre, z = -1: [H, W, 3] float64."""
  x, y = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5,
                     np.arange(height, dtype=np.float64) + 0.5, indexing="xy")
  return np.stack([(x - 0.5 * width) / focal, -(y - 0.5 * height) / focal,
                   -np.ones_like(x)], axis=-1)


def distort(x, y, k):
  """OpenCV radial-tangential distortion of normalised coordinates.

  Args:
    x, y: [...] undistorted normalised image coordinates.
    k: [..., 4] (k1, k2, p1, p2).
  Returns:
    (xd, yd) [...].
  """
  k1, k2, p1, p2 = (k[..., i] for i in range(4))
  r2 = x * x + y * y
  radial = 1.0 + r2 * (k1 + r2 * k2)
  xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
  yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
  return xd, yd


def undistort(xd, yd, k, iterations: int = UNDISTORT_ITERATIONS):
  """Inverts `distort` by Newton's method (as nerfstudio and COLMAP).

  Args:
    xd, yd: [...] distorted normalised coordinates; k: [..., 4].
  Returns:
    (x, y) [...] with distort(x, y, k) ~= (xd, yd).
  """
  xp = np if isinstance(xd, np.ndarray) else jnp
  k1, k2, p1, p2 = (k[..., i] for i in range(4))

  def newton(x, y):
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * k2)
    d_radial = k1 + 2.0 * r2 * k2  # d radial / d r2
    fx, fy = distort(x, y, k)
    fx, fy = fx - xd, fy - yd
    # Jacobian of distort.
    fx_x = radial + 2.0 * x * x * d_radial + 2.0 * p1 * y + 6.0 * p2 * x
    fx_y = 2.0 * x * y * d_radial + 2.0 * p1 * x + 2.0 * p2 * y
    fy_x = 2.0 * x * y * d_radial + 2.0 * p2 * y + 2.0 * p1 * x
    fy_y = radial + 2.0 * y * y * d_radial + 2.0 * p2 * x + 6.0 * p1 * y
    det = fx_x * fy_y - fx_y * fy_x
    det = xp.where(xp.abs(det) < 1e-12, 1e-12, det)
    return (x - (fx * fy_y - fy * fx_y) / det,
            y - (fy * fx_x - fx * fy_x) / det)

  if xp is np:
    x, y = xd, yd
    for _ in range(iterations):
      x, y = newton(x, y)
    return x, y
  # A loop, not unrolled: XLA's fusion re-computes each unrolled
  # iteration's inputs in every use, so the work grew about 3^iterations
  # per pixel (10 iterations on a 96^2 patch ran for minutes).
  start = tuple(jnp.broadcast_arrays(xd, yd, k1)[:2])
  return jax.lax.fori_loop(0, iterations, lambda _, c: newton(*c), start)


def convert_to_ndc(origins, directions, focal, width, height,
                   near: float = 1.0, focal_y=None):
  """Warps rays into normalised device coordinates (NeRF appendix C).

  Forward-facing scenes: the frustum between the plane z = -near and
  infinity maps to the cube [-1, 1]^3, and `t` in [0, 1] spans it.

  Args:
    origins: [..., 3]; directions: [..., 3] (camera z component nonzero).
    focal, width, height: scalars or [...] (per ray); focal_y defaults to
      focal.
  Returns:
    (origins, directions), both [..., 3], in NDC. numpy or jax, as the input.
  """
  xp = np if isinstance(origins, np.ndarray) else jnp
  focal_y = focal if focal_y is None else focal_y
  # Shift the origins onto the near plane first.
  t = -(near + origins[..., 2]) / directions[..., 2]
  origins = origins + t[..., None] * directions
  dx, dy, dz = (directions[..., i] for i in range(3))
  ox, oy, oz = (origins[..., i] for i in range(3))
  sx, sy = (2 * focal) / width, (2 * focal_y) / height
  o0 = -sx * (ox / oz)
  o1 = -sy * (oy / oz)
  o2 = 1 + 2 * near / oz
  d0 = -sx * (dx / dz - ox / oz)
  d1 = -sy * (dy / dz - oy / oz)
  d2 = -2 * near / oz
  return xp.stack([o0, o1, o2], -1), xp.stack([d0, d1, d2], -1)


# A cone of radius r has the cross-section variance of a pixel-wide box when
# r = pixel width * 2 / sqrt(12) (mip-NeRF).
RADIUS_PER_PIXEL = 2 / np.sqrt(12)


def cast_rays(cameras: Cameras, pixels: Pixels) -> Rays:
  """Rays through `pixels` of `cameras`, on the host (numpy) or in a jitted
  function (jax), whichever `pixels` holds.

  mip-NeRF's radii come from the distance to the neighbouring pixel's ray:
  the next pixel along x (the previous one in the last column); in NDC the
  spacing of the warped origins along x and y, averaged (mip-NeRF's LLFF
  loader).

  Args:
    cameras: C cameras (numpy or jax).
    pixels: Pixels [...] with camera indices in [0, C).
  Returns:
    Rays [...], float32.
  """
  xp = np if isinstance(pixels.xy, np.ndarray) else jnp
  idx = pixels.camera_index[..., 0]
  if xp is np and idx.size and np.all(idx == idx.flat[0]):
    # One camera (a whole image on the host): broadcast, not gather.
    idx = idx.flat[0]
  cam = jax.tree.map(lambda x: x[idx], cameras)  # fields [...] or scalars
  c2w = xp.asarray(cam.camtoworlds, xp.float32)

  def world_ray(xy):
    """(origins, directions, world directions before any NDC warp)."""
    x = (xy[..., 0] - cam.cx) / cam.fx
    y = (xy[..., 1] - cam.cy) / cam.fy
    if cameras.distorted:
      x, y = undistort(x, y, cam.distortion)
    camera_dirs = xp.stack([x, -y, -xp.ones_like(x)], axis=-1)
    world_dirs = xp.einsum("...j,...ij->...i", camera_dirs, c2w[..., :3, :3])
    origins = xp.broadcast_to(c2w[..., :3, 3], world_dirs.shape)
    directions = world_dirs
    if cameras.ndc:
      origins, directions = convert_to_ndc(origins, world_dirs, cam.fx,
                                           cam.width, cam.height,
                                           focal_y=cam.fy)
    return origins, directions, world_dirs

  def neighbour(axis, size):
    """The next pixel along `axis`; the previous one on the last pixel."""
    step = np.zeros(2, np.float32)
    step[axis] = 1.0
    beyond = pixels.xy[..., axis] + 1.0 > size
    return xp.where(beyond[..., None], pixels.xy - step, pixels.xy + step)

  origins, directions, world_dirs = world_ray(pixels.xy)
  if cameras.ndc:
    spacing = lambda axis, size: xp.linalg.norm(
        world_ray(neighbour(axis, size))[0] - origins, axis=-1)
    radii = 0.5 * (spacing(0, cam.width) + spacing(1, cam.height))
  else:
    radii = xp.linalg.norm(world_ray(neighbour(0, cam.width))[1] - directions,
                           axis=-1)
  f32 = lambda x: xp.asarray(x, xp.float32)
  column = lambda x: f32(x)[..., None]
  # View directions stay in world space in NDC too.
  viewdirs = world_dirs / xp.linalg.norm(world_dirs, axis=-1, keepdims=True)
  return Rays.create(f32(origins), f32(directions), column(cam.near),
                     column(cam.far), viewdirs=f32(viewdirs),
                     radii=column(radii * RADIUS_PER_PIXEL),
                     lossmult=pixels.lossmult,
                     camera_index=pixels.camera_index, time=column(cam.time),
                     light=xp.broadcast_to(
                         f32(cam.light), origins.shape[:-1] +
                         cam.light.shape[-1:]))


def image_rays(cameras: Cameras, index: int,
               lossmult: float = 1.0) -> Rays:
  """Host rays through every pixel of camera `index`: Rays [H, W], float32.

  Cast in float64 (then rounded), so precomputed rays are as exact as the
  poses allow.
  """
  cams64 = jax.tree.map(lambda x: np.asarray(
      x, np.float64 if np.asarray(x).dtype.kind == "f" else x.dtype), cameras)
  pixels = pixel_grid(int(cameras.width[index]), int(cameras.height[index]),
                      index, lossmult)
  pixels = pixels.replace(xy=pixels.xy.astype(np.float64))
  rays = cast_rays(cams64, pixels)
  return jax.tree.map(lambda x: np.ascontiguousarray(
      x, np.int32 if x.dtype.kind == "i" else np.float32), rays)


def pinhole_rays(camtoworlds: np.ndarray, height: int, width: int,
                 focal: float, near: float, far: float,
                 ndc: bool = False) -> Rays:
  """Rays through every pixel of each of N cameras sharing intrinsics.

  Args:
    camtoworlds: [N, 3, 4] or [N, 4, 4].
    ndc: warp origins/directions into NDC (forward-facing scenes); `near`
      and `far` should then be 0 and 1. View directions stay in world space.
  Returns:
    Rays with leading shape [N, H, W], float32 numpy arrays.
  """
  cams = Cameras.create(camtoworlds, focal, width, height, near, far, ndc=ndc)
  rays = [image_rays(cams, i) for i in range(len(cams))]
  return jax.tree.map(lambda *xs: np.stack(xs), *rays)


def pixel_radii(directions: np.ndarray) -> np.ndarray:
  """mip-NeRF cone radii from the spacing of neighbouring ray directions.

  The reference form of what `cast_rays` computes per pixel: the distance
  to the next pixel's direction along x (the last column copies its
  neighbour), times RADIUS_PER_PIXEL.

  Args:
    directions: [..., H, W, 3].
  Returns:
    [..., H, W, 1].
  """
  dx = np.sqrt(np.sum((directions[..., :-1, :] - directions[..., 1:, :])**2,
                      axis=-1))
  dx = np.concatenate([dx, dx[..., -2:-1]], axis=-1)
  return (dx * RADIUS_PER_PIXEL)[..., None]


# Render paths. Poses follow NeRF's LLFF helpers (load_llff.py): `viewmatrix`
# builds a camera-to-world [3, 4] whose +z axis is `z` (the camera looks down
# -z), and `average_pose` is the pose `recenter_poses` maps to the identity.


def normalize(x: np.ndarray) -> np.ndarray:
  """Scales the vector `x` [3] to unit length."""
  return x / np.linalg.norm(x)


def viewmatrix(z: np.ndarray, up: np.ndarray, pos: np.ndarray) -> np.ndarray:
  """Camera-to-world [3, 4] with back axis `z`, roughly `up` +y, at `pos`.

  Args:
    z: [3] the camera's +z axis (it looks down -z, away from `z`).
    up: [3] approximate +y axis; made orthogonal to `z`.
    pos: [3] the camera centre.
  Returns:
    [3, 4] float64, columns (right, up, back, position).
  """
  vec2 = normalize(z)
  vec0 = normalize(np.cross(up, vec2))
  vec1 = normalize(np.cross(vec2, vec0))
  return np.stack([vec0, vec1, vec2, pos], axis=1)


def average_pose(camtoworlds: np.ndarray) -> np.ndarray:
  """NeRF's `poses_avg`: mean centre, summed back and up axes.

  Args:
    camtoworlds: [N, 3, 4] (or [N, 3, >=4]; extra columns are ignored).
  Returns:
    [3, 4] float64.
  """
  camtoworlds = np.asarray(camtoworlds, np.float64)
  center = camtoworlds[:, :3, 3].mean(0)
  z = normalize(camtoworlds[:, :3, 2].sum(0))
  up = camtoworlds[:, :3, 1].sum(0)
  return viewmatrix(z, up, center)


def spiral_focus_depth(bounds: np.ndarray) -> float:
  """NeRF's spiral focus depth: a disparity-weighted mix of near and far.

  `1 / ((1 - dt) / close + dt / inf)` with close = 0.9 * min bound,
  inf = 5 * max bound and dt = 0.75.
  """
  bounds = np.asarray(bounds, np.float64)
  close_depth, inf_depth = bounds.min() * 0.9, bounds.max() * 5.0
  dt = 0.75
  return float(1.0 / ((1.0 - dt) / close_depth + dt / inf_depth))


def spiral_path(camtoworlds: np.ndarray, bounds: np.ndarray,
                n_frames: int = 120, n_rots: int = 2,
                zrate: float = 0.5) -> np.ndarray:
  """A spiral of cameras around the average pose (NeRF's render_path_spiral).

  The centres trace an ellipse in the average camera's xy plane (radii: the
  90th percentile of |camera position| per axis, which for recentred poses is
  the spread around the average pose) while bobbing along its z axis, and
  every camera looks at the point `spiral_focus_depth(bounds)` in front of
  the average camera.

  Args:
    camtoworlds: [N, 3, 4] the (recentred) poses of the scene.
    bounds: [N, 2] their near/far depth bounds, same units.
    n_frames: number of cameras.
    n_rots: turns around the spiral.
    zrate: bobbing frequency along z relative to the turns.
  Returns:
    [n_frames, 3, 4] float32 camera-to-world matrices.
  """
  camtoworlds = np.asarray(camtoworlds, np.float64)[:, :3, :4]
  c2w = average_pose(camtoworlds)
  up = normalize(camtoworlds[:, :3, 1].sum(0))
  focal = spiral_focus_depth(bounds)
  rads = np.percentile(np.abs(camtoworlds[:, :3, 3]), 90, axis=0)
  rads = np.concatenate([rads, [1.0]])
  focus = c2w @ np.array([0.0, 0.0, -focal, 1.0])
  poses = []
  for theta in np.linspace(0.0, 2.0 * np.pi * n_rots, n_frames + 1)[:-1]:
    c = c2w @ (np.array([np.cos(theta), -np.sin(theta),
                         -np.sin(theta * zrate), 1.0]) * rads)
    poses.append(viewmatrix(c - focus, up, c))
  return np.stack(poses).astype(np.float32)


def pose_spherical(theta_deg: float, phi_deg: float,
                   radius: float) -> np.ndarray:
  """NeRF's `pose_spherical`: a camera on a sphere looking at the origin.

  `theta_deg` is the azimuth around world z; `phi_deg` the elevation in
  NeRF's sign convention (negative puts the camera above the z = 0 plane, at
  height `-radius * sin(phi)`); the camera's up is towards +z.

  Returns:
    [4, 4] float64 camera-to-world.
  """
  th, phi = np.deg2rad(theta_deg), np.deg2rad(phi_deg)
  trans_t = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, radius],
                      [0, 0, 0, 1]], np.float64)
  rot_phi = np.array([[1, 0, 0, 0], [0, np.cos(phi), -np.sin(phi), 0],
                      [0, np.sin(phi), np.cos(phi), 0], [0, 0, 0, 1]])
  rot_theta = np.array([[np.cos(th), 0, -np.sin(th), 0], [0, 1, 0, 0],
                        [np.sin(th), 0, np.cos(th), 0], [0, 0, 0, 1]])
  swap = np.array([[-1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
                  np.float64)
  return swap @ rot_theta @ rot_phi @ trans_t


def circle_path(n_frames: int = 120, radius: float = 4.0,
                elevation_deg: float = -30.0) -> np.ndarray:
  """Cameras on a horizontal circle around world z, looking at the origin.

  NeRF's Blender render path: `pose_spherical(theta, elevation_deg, radius)`
  for theta evenly spaced over [-180, 180). With NeRF's convention the
  default -30 degrees puts the cameras 30 degrees above the z = 0 plane.

  Returns:
    [n_frames, 3, 4] float32 camera-to-world matrices.
  """
  thetas = np.linspace(-180.0, 180.0, n_frames + 1)[:-1]
  poses = [pose_spherical(th, elevation_deg, radius)[:3, :4] for th in thetas]
  return np.stack(poses).astype(np.float32)


# Cameras leaving an azimuth gap wider than this (a photo collection taken
# from one side) get an arc over the azimuths they span, not a full circle
# through views nobody took.
MAX_CIRCLE_GAP_DEG = 90.0


def azimuth_span(positions: np.ndarray) -> tuple[float, float]:
  """(start, end) azimuths in degrees about world z, end >= start, of the
  smallest arc holding every position [N, 3]: the complement of the widest
  gap between neighbouring azimuths."""
  azimuth = np.sort(np.rad2deg(np.arctan2(positions[:, 1], positions[:, 0])))
  gaps = np.diff(np.append(azimuth, azimuth[0] + 360.0))
  widest = int(np.argmax(gaps))
  start = azimuth[(widest + 1) % len(azimuth)]
  return float(start), float(start + 360.0 - gaps[widest])


def arc_path(camtoworlds: np.ndarray, n_frames: int) -> np.ndarray:
  """Cameras on the arc about world z that `camtoworlds` span (see
  azimuth_span), at their mean horizontal radius and height, looking at the
  origin with +z up.

  Returns:
    [n_frames, 3, 4] float32 camera-to-world matrices.
  """
  pos = np.asarray(camtoworlds, np.float64)[:, :3, 3]
  start, end = azimuth_span(pos)
  radius = float(np.linalg.norm(pos[:, :2], axis=-1).mean())
  height = float(pos[:, 2].mean())
  poses = []
  for a in np.deg2rad(np.linspace(start, end, n_frames)):
    p = np.array([radius * np.cos(a), radius * np.sin(a), height])
    poses.append(viewmatrix(p, np.array([0.0, 0.0, 1.0]), p))
  return np.stack(poses).astype(np.float32)


def generate_render_path(dataset, n_frames: int = 120) -> Rays:
  """Rays for a video of `dataset`'s scene: those of
  `render_path_cameras`, Rays with leading shape [n_frames, H, W] (float32
  numpy arrays)."""
  cams = render_path_cameras(dataset, n_frames)
  rays = [image_rays(cams, i) for i in range(len(cams))]
  return jax.tree.map(lambda *xs: np.stack(xs), *rays)


def render_path_cameras(dataset, n_frames: int = 120) -> Cameras:
  """Cameras for a video of `dataset`'s scene.

  Forward-facing (`dataset.ndc`) scenes get `spiral_path` over the poses and
  depth bounds the loader stored in `dataset.extras` ('poses', all the
  scene's cameras, defaulting to the split's; 'bounds', required). Other
  scenes get `circle_path` at the dataset cameras' mean distance from the
  origin and their mean elevation (pass the training split), or `arc_path`
  when the cameras leave an azimuth gap wider than MAX_CIRCLE_GAP_DEG.

  Args:
    dataset: a `jaxnerf.data.loaders.Dataset`.
    n_frames: number of frames.
  Returns:
    host Cameras [n_frames] (the dataset's image size, focal, near/far and
    ndc).
  Raises:
    ValueError: an NDC dataset without extras['bounds'].
  """
  if dataset.ndc:
    if "bounds" not in dataset.extras:
      raise ValueError("generate_render_path: an NDC dataset needs the scene "
                       "depth bounds in dataset.extras['bounds']")
    poses = dataset.extras.get("poses", dataset.camtoworlds)
    path = spiral_path(poses, dataset.extras["bounds"], n_frames)
  else:
    positions = np.asarray(dataset.camtoworlds, np.float64)[:, :3, 3]
    start, end = azimuth_span(positions)
    if end - start < 360.0 - MAX_CIRCLE_GAP_DEG:
      path = arc_path(dataset.camtoworlds, n_frames)
    else:
      dists = np.linalg.norm(positions, axis=-1)
      elevation = np.rad2deg(np.arcsin(np.clip(positions[:, 2] / dists, -1,
                                               1)))
      # NeRF's phi is minus the elevation above the z = 0 plane.
      path = circle_path(n_frames, float(dists.mean()),
                         -float(elevation.mean()))
  return Cameras.create(path, dataset.focal, dataset.width, dataset.height,
                        dataset.near, dataset.far, ndc=dataset.ndc)
