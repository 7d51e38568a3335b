"""Camera paths for the generator, as camera-to-world matrices in
Blender's (and NeRF's Blender layout's) convention: the camera looks along
its -z axis with +y up, so a matrix is also the Blender camera object's
`matrix_world`. The world's up is +z.
"""

from __future__ import annotations

import numpy as np


def look_at(eye, target, up=(0.0, 0.0, 1.0), roll: float = 0.0
            ) -> np.ndarray:
  """[4, 4] camera-to-world of a camera at `eye` looking at `target`.

  `roll` (radians) turns the camera about its viewing axis. Raises
  ValueError when the viewing axis is parallel to `up`.
  """
  eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
  back = eye - target
  back /= np.linalg.norm(back)
  right = np.cross(up, back)
  norm = np.linalg.norm(right)
  if norm < 1e-8:
    raise ValueError(f"look_at: the view from {eye} to {target} is "
                     f"parallel to up {up}")
  right /= norm
  cam_up = np.cross(back, right)
  c, s = np.cos(roll), np.sin(roll)
  right, cam_up = c * right + s * cam_up, -s * right + c * cam_up
  c2w = np.eye(4)
  c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, cam_up, back, eye
  return c2w


def spherical(radius, azimuth, elevation, target=(0.0, 0.0, 0.0)
              ) -> np.ndarray:
  """[..., 3] points at `radius` from `target` (angles in radians,
  azimuth from +x towards +y, elevation above the xy plane)."""
  radius, azimuth, elevation = np.broadcast_arrays(
      *(np.asarray(v, np.float64) for v in (radius, azimuth, elevation)))
  return np.asarray(target, np.float64) + radius[..., None] * np.stack(
      [np.cos(elevation) * np.cos(azimuth),
       np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], -1)


def hemisphere(n: int, radius: float, rng: np.random.Generator,
               min_elevation_deg: float = 5.0,
               target=(0.0, 0.0, 0.0)) -> np.ndarray:
  """[n, 4, 4] cameras uniform (by area) on the upper hemisphere above
  `min_elevation_deg`, looking at `target` (Blender-synthetic style)."""
  low = np.sin(np.radians(min_elevation_deg))
  elevation = np.arcsin(rng.uniform(low, 0.98, n))
  azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
  eyes = spherical(radius, azimuth, elevation, target)
  return np.stack([look_at(e, target) for e in eyes])


def orbit(n: int, radius: float, elevation_deg: float,
          target=(0.0, 0.0, 0.0), turns: float = 1.0) -> np.ndarray:
  """[n, 4, 4] cameras evenly spaced on a circle at one elevation (the
  Blender-synthetic test path), `turns` times around."""
  azimuth = np.arange(n) * 2.0 * np.pi * turns / n
  eyes = spherical(radius, azimuth, np.radians(elevation_deg), target)
  return np.stack([look_at(e, target) for e in eyes])


def _wander(rng: np.random.Generator, amplitude: float, harmonics: int = 3):
  """A smooth random function of t in [0, 1]: a few sinusoids of random
  phase whose amplitudes fall with frequency, peak at most `amplitude`.
  The phases are drawn now, so the function can be evaluated anywhere."""
  weights = 1.0 / np.arange(1, harmonics + 1)
  weights /= weights.sum()
  phases = [rng.uniform() for _ in weights]

  def at(t: np.ndarray) -> np.ndarray:
    out = np.zeros_like(t)
    for k, (w, phase) in enumerate(zip(weights, phases), start=1):
      out += w * np.sin(2.0 * np.pi * (k * t + phase))
    return amplitude * out
  return at


def handheld_path(rng: np.random.Generator, radius: float,
                  elevation_deg: float, target=(0.0, 0.0, 0.0),
                  sweep_deg: float = 360.0, radius_jitter: float = 0.1,
                  elevation_jitter_deg: float = 8.0,
                  target_jitter: float = 0.1, roll_jitter_deg: float = 2.0):
  """A continuous path as a person walking around `target` with a camera,
  as a function of time t in [0, 1] (an array [n]) to cameras [n, 4, 4]:
  the azimuth sweeps `sweep_deg` at a wandering pace, and the height,
  distance, aim and roll wander smoothly. Its randomness is drawn here,
  so frames at any t (held-out ones between the frames, as Semantic-NeRF
  holds out Replica's) lie on one path."""
  pace = _wander(rng, 0.03)
  start = rng.uniform(0, 2 * np.pi)
  elevation = _wander(rng, elevation_jitter_deg)
  dist = _wander(rng, radius_jitter)
  aims = [_wander(rng, target_jitter) for _ in range(3)]
  roll = _wander(rng, roll_jitter_deg)

  def at(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float64)
    azimuth = start + np.radians(sweep_deg) * (t + pace(t))
    eyes_dist = radius * (1.0 + dist(t))
    targets = np.asarray(target, np.float64) + np.stack(
        [aim(t) for aim in aims], -1)
    eyes = spherical(eyes_dist, azimuth,
                     np.radians(elevation_deg + elevation(t))) + targets
    return np.stack([look_at(e, a, roll=r) for e, a, r in
                     zip(eyes, targets, np.radians(roll(t)))])
  return at


def handheld(n: int, rng: np.random.Generator, radius: float,
             elevation_deg: float, target=(0.0, 0.0, 0.0), **jitter
             ) -> np.ndarray:
  """[n, 4, 4] `n` frames evenly spaced in time along `handheld_path`
  (consecutive frames are close, which trackers and optical flow need)."""
  return handheld_path(rng, radius, elevation_deg, target, **jitter)(
      np.linspace(0.0, 1.0, n))


def between(n: int, count: int) -> np.ndarray:
  """[count] times in [0, 1] halfway between frames of an `n`-frame path
  (`handheld`'s times i / (n - 1)), one every n // count intervals from
  the middle of the first stride: Semantic-NeRF's held-out Replica frames
  (every 5th frame trains, the one 2 after it tests) for n = 5 count."""
  stride = max(n // count, 1)
  intervals = np.minimum(stride // 2 + stride * np.arange(count),
                         max(n - 2, 0))
  return (intervals + 0.5) / max(n - 1, 1)


def focal(width: int, camera_angle_x: float) -> float:
  """Focal length in pixels of a horizontal field of view (radians)."""
  return 0.5 * width / np.tan(0.5 * camera_angle_x)


def project(points: np.ndarray, c2w: np.ndarray, width: int, height: int,
            camera_angle_x: float) -> tuple[np.ndarray, np.ndarray]:
  """World points [..., 3] to pixel coordinates [..., 2] (x right, y down,
  pixel centres at +0.5) and camera z depth [...] (positive in front)."""
  w2c = np.linalg.inv(c2w)
  cam = points @ w2c[:3, :3].T + w2c[:3, 3]
  f = focal(width, camera_angle_x)
  z = -cam[..., 2]
  x = 0.5 * width + f * cam[..., 0] / z
  y = 0.5 * height - f * cam[..., 1] / z
  return np.stack([x, y], -1), z


def pixel_rays(c2w: np.ndarray, width: int, height: int,
               camera_angle_x: float) -> tuple[np.ndarray, np.ndarray]:
  """Origins [H, W, 3] and directions [H, W, 3] of the rays through pixel
  centres, scaled so that each direction's camera z is -1 (a distance t
  along one is the camera z depth)."""
  f = focal(width, camera_angle_x)
  x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
  dirs = np.stack([(x - 0.5 * width) / f, -(y - 0.5 * height) / f,
                   -np.ones_like(x)], -1)
  dirs = dirs @ c2w[:3, :3].T
  return np.broadcast_to(c2w[:3, 3], dirs.shape), dirs


def flow(depth: np.ndarray, index: np.ndarray, c2w_a: np.ndarray,
         c2w_b: np.ndarray, camera_angle_x: float,
         moves: dict = None) -> np.ndarray:
  """[H, W, 2] pixel motion (x right, y down) from view a to view b of
  each surface point seen in a: its pixel-centre ray at `depth` [H, W]
  (camera z; 0 = no surface, flow 0), moved by `moves[label]` (a [4, 4]
  world transform from a's time to b's, per object label in `index`
  [H, W]; identity for labels not in it), projected into b. Occlusion in
  b is ignored (as Blender's vector pass)."""
  h, w = depth.shape
  origins, dirs = pixel_rays(c2w_a, w, h, camera_angle_x)
  points = origins + dirs * np.where(depth > 0, depth, 1.0)[..., None]
  for label, move in (moves or {}).items():
    at = index == label
    points[at] = points[at] @ move[:3, :3].T + move[:3, 3]
  xy, _ = project(points, c2w_b, w, h, camera_angle_x)
  grid = np.stack(np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5), -1)
  return np.where((depth > 0)[..., None], xy - grid, 0.0)
