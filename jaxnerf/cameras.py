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
  radii = pixel_radii(directions)
  ones = np.ones(directions.shape[:-1] + (1,))
  f32 = lambda x: np.ascontiguousarray(x, dtype=np.float32)
  return Rays(origins=f32(origins), directions=f32(directions),
              viewdirs=f32(viewdirs), radii=f32(radii), near=f32(ones * near),
              far=f32(ones * far), lossmult=f32(ones))
