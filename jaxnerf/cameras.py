"""Pinhole cameras: pixels to rays, the NDC warp and pixel radii.

Conventions: camera-to-world matrices are [3, 4] (or [4, 4]) in the OpenGL /
Blender convention: the camera looks down -z, +y is up, +x is right. Pixel
(i, j) is sampled at its centre (i + 0.5, j + 0.5), as mip-NeRF does.
These run on the host (numpy) once per dataset; the arrays then go to device.
"""

from __future__ import annotations

import numpy as np

from jaxnerf.rays import Rays


def focal_from_fov(width: int, camera_angle_x: float) -> float:
  """Focal length in pixels of a camera `width` pixels wide."""
  return 0.5 * width / np.tan(0.5 * camera_angle_x)


def camera_directions(height: int, width: int, focal: float) -> np.ndarray:
  """Camera-space ray directions through pixel centres, z = -1.

  Returns:
    [H, W, 3] float32.
  """
  x, y = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5,
                     np.arange(height, dtype=np.float64) + 0.5, indexing="xy")
  dirs = np.stack([(x - 0.5 * width) / focal, -(y - 0.5 * height) / focal,
                   -np.ones_like(x)], axis=-1)
  return dirs


def convert_to_ndc(origins: np.ndarray, directions: np.ndarray, focal: float,
                   width: int, height: int, near: float = 1.0):
  """Warps rays into normalised device coordinates (NeRF appendix C).

  Forward-facing scenes: the frustum between the plane z = -near and
  infinity maps to the cube [-1, 1]^3, and `t` in [0, 1] spans it.

  Args:
    origins: [..., 3]; directions: [..., 3] (camera z component nonzero).
  Returns:
    (origins, directions), both [..., 3], in NDC.
  """
  # Shift the origins onto the near plane first.
  t = -(near + origins[..., 2]) / directions[..., 2]
  origins = origins + t[..., None] * directions
  dx, dy, dz = np.moveaxis(directions, -1, 0)
  ox, oy, oz = np.moveaxis(origins, -1, 0)
  o0 = -((2 * focal) / width) * (ox / oz)
  o1 = -((2 * focal) / height) * (oy / oz)
  o2 = 1 + 2 * near / oz
  d0 = -((2 * focal) / width) * (dx / dz - ox / oz)
  d1 = -((2 * focal) / height) * (dy / dz - oy / oz)
  d2 = -2 * near / oz
  return np.stack([o0, o1, o2], -1), np.stack([d0, d1, d2], -1)


def pixel_radii(directions: np.ndarray) -> np.ndarray:
  """mip-NeRF cone radii from the spacing of neighbouring ray directions.

  The radius is the distance to the next pixel's direction along x, scaled
  by 2/sqrt(12) so the cone's cross-section has the variance of a pixel-wide
  box. The last column copies its neighbour.

  Args:
    directions: [..., H, W, 3].
  Returns:
    [..., H, W, 1].
  """
  dx = np.sqrt(np.sum((directions[..., :-1, :] - directions[..., 1:, :])**2,
                      axis=-1))
  dx = np.concatenate([dx, dx[..., -2:-1]], axis=-1)
  return (dx * 2 / np.sqrt(12))[..., None]


def pinhole_rays(camtoworlds: np.ndarray, height: int, width: int,
                 focal: float, near: float, far: float,
                 ndc: bool = False) -> Rays:
  """Rays through every pixel of each camera.

  Args:
    camtoworlds: [N, 3, 4] or [N, 4, 4].
    ndc: warp origins/directions into NDC (forward-facing scenes); `near`
      and `far` should then be 0 and 1. View directions stay in world space.
  Returns:
    Rays with leading shape [N, H, W], float32 numpy arrays.
  """
  camtoworlds = np.asarray(camtoworlds, np.float64)[:, :3, :4]
  cam_dirs = camera_directions(height, width, focal)
  directions = np.einsum("hwj,nij->nhwi", cam_dirs, camtoworlds[:, :3, :3])
  origins = np.broadcast_to(camtoworlds[:, None, None, :3, 3],
                            directions.shape)
  viewdirs = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
  if ndc:
    origins, directions = convert_to_ndc(origins, directions, focal, width,
                                         height)
    # NDC makes the reference camera's rays (nearly) parallel, so the pixel
    # footprint is the spacing of the origins on the near plane, averaged
    # over x and y (mip-NeRF's LLFF loader).
    radii = 0.5 * (pixel_radii(origins) +
                   np.swapaxes(pixel_radii(np.swapaxes(origins, -2, -3)),
                               -2, -3))
  else:
    radii = pixel_radii(directions)
  ones = np.ones(directions.shape[:-1] + (1,))
  f32 = lambda x: np.ascontiguousarray(x, dtype=np.float32)
  return Rays(origins=f32(origins), directions=f32(directions),
              viewdirs=f32(viewdirs), radii=f32(radii), near=f32(ones * near),
              far=f32(ones * far), lossmult=f32(ones))


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


def generate_render_path(dataset, n_frames: int = 120) -> Rays:
  """Rays for a video of `dataset`'s scene.

  Forward-facing (`dataset.ndc`) scenes get `spiral_path` over the poses and
  depth bounds the loader stored in `dataset.extras` ('poses', all the
  scene's cameras, defaulting to the split's; 'bounds', required). Other
  scenes get `circle_path` at the dataset cameras' mean distance from the
  origin and their mean elevation (pass the training split).

  Args:
    dataset: a `jaxnerf.datasets.Dataset`.
    n_frames: number of frames.
  Returns:
    Rays with leading shape [n_frames, H, W] (the dataset's image size,
    focal, near/far and ndc), float32 numpy arrays.
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
    dists = np.linalg.norm(positions, axis=-1)
    elevation = np.rad2deg(np.arcsin(np.clip(positions[:, 2] / dists, -1, 1)))
    # NeRF's phi is minus the elevation above the z = 0 plane.
    path = circle_path(n_frames, float(dists.mean()), -float(elevation.mean()))
  return pinhole_rays(path, dataset.height, dataset.width, dataset.focal,
                      dataset.near, dataset.far, ndc=dataset.ndc)
