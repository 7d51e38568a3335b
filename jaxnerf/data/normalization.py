"""Scene normalisation of posed captures, as nerfstudio and instant-ngp users
expect: orient the cameras' average up-vector to +z, centre the scene (on
the cameras or on the focus point of their optical axes), scale it so the
cameras lie in the unit cube; and ray bounds from the sparse points.

The result is one similarity transform `scene_from_world` (4x4: scale times
rotation, and translation) applied to every pose and point. Loaders keep
its inverse, `world_from_scene`, on the Dataset and the trainer records it
in `train_dir/scene.json`, so exports and render paths map back to the
capture's own frame.

Poses are camera-to-world [N, 3, 4] in the OpenGL convention (x right, y up,
the camera looks down -z).
"""

from __future__ import annotations

import numpy as np

from jaxnerf.errors import ConfigError

ORIENTATIONS = ("up", "none")
CENTERS = ("poses", "focus", "none")


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """The [3, 3] rotation taking the direction of `a` [3] to that of `b`
  [3], about their common normal (Rodrigues); a half turn about an axis
  normal to `a` when they are opposite."""
  a = np.asarray(a, np.float64) / np.linalg.norm(a)
  b = np.asarray(b, np.float64) / np.linalg.norm(b)
  v = np.cross(a, b)
  c = float(np.dot(a, b))
  if c < -1.0 + 1e-10:
    # Opposite: any axis normal to a.
    axis = np.cross(a, [1.0, 0.0, 0.0])
    if np.linalg.norm(axis) < 1e-6:
      axis = np.cross(a, [0.0, 1.0, 0.0])
    axis /= np.linalg.norm(axis)
    return 2.0 * np.outer(axis, axis) - np.eye(3)
  k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
  return np.eye(3) + k + k @ k / (1.0 + c)


def focus_point(camtoworlds: np.ndarray) -> np.ndarray:
  """The point nearest (least squares) to the optical axes of the cameras
  that see it in front of them: [3].

  As nerfstudio's `focus_of_attention`: start from the mean camera centre,
  solve for the point nearest all axes of the cameras that have it in front
  (-z), and repeat while that set changes. Nearly parallel axes (a
  forward-facing capture) leave the system ill-conditioned: the solution is
  then damped towards the previous estimate (ridge), so it stays finite.
  """
  c2w = np.asarray(camtoworlds, np.float64)
  origins = c2w[:, :3, 3]
  dirs = -c2w[:, :3, 2]
  dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
  focus = origins.mean(0)
  active = np.ones(len(c2w), bool)
  for _ in range(10):
    proj = np.eye(3)[None] - dirs[active, :, None] * dirs[active, None, :]
    a = proj.sum(0)
    b = np.einsum("nij,nj->i", proj, origins[active])
    # Ridge towards the current estimate: a well-posed least squares when
    # the axes are (nearly) parallel, negligible when they converge.
    damping = 1e-6 * np.trace(a)
    focus_new = np.linalg.solve(a + damping * np.eye(3), b + damping * focus)
    in_front = np.einsum("ni,ni->n", focus_new - origins, dirs) > 0
    focus = focus_new
    if in_front.sum() < 2 or np.array_equal(in_front, active):
      break
    active = in_front
  return focus


def normalization_transform(camtoworlds: np.ndarray, orientation: str = "up",
                            center: str = "poses", auto_scale: bool = True,
                            scale_factor: float = 1.0) -> np.ndarray:
  """The similarity `scene_from_world` [4, 4] that normalises the poses.

  Args:
    camtoworlds: [N, 3, 4] (OpenGL).
    orientation: "up": rotate the mean camera up-vector (+y) to +z; "none".
    center: "poses": the mean camera centre goes to the origin; "focus": the
      `focus_point` of the optical axes does; "none".
    auto_scale: scale so the largest camera coordinate is 1 (cameras in the
      unit cube [-1, 1]^3).
    scale_factor: a further scale.
  Returns:
    [4, 4] float64 T with T @ [p; 1] the normalised point.
  """
  if orientation not in ORIENTATIONS:
    raise ConfigError(f"config.orientation_method: unknown {orientation!r}; "
                      f"known: {list(ORIENTATIONS)}")
  if center not in CENTERS:
    raise ConfigError(f"config.center_method: unknown {center!r}; known: "
                      f"{list(CENTERS)}")
  if not scale_factor > 0:
    raise ConfigError(f"config.scene_scale: must be positive, got "
                      f"{scale_factor}")
  c2w = np.asarray(camtoworlds, np.float64)[:, :3, :4]
  rotation = np.eye(3)
  if orientation == "up":
    up = c2w[:, :3, 1].mean(0)
    if np.linalg.norm(up) > 1e-9:
      rotation = rotation_between(up, np.array([0.0, 0.0, 1.0]))
  origin = np.zeros(3)
  if center == "poses":
    origin = c2w[:, :3, 3].mean(0)
  elif center == "focus":
    origin = focus_point(c2w)
  transform = np.eye(4)
  transform[:3, :3] = rotation
  transform[:3, 3] = -rotation @ origin
  scale = scale_factor
  if auto_scale:
    extent = np.max(np.abs(apply_to_points(transform, c2w[:, :3, 3])))
    if extent > 0:
      scale /= extent
  transform[:3] *= scale
  return transform


def apply_to_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
  """Maps points [..., 3] by a [4, 4] affine transform."""
  points = np.asarray(points, np.float64)
  return points @ transform[:3, :3].T + transform[:3, 3]


def apply_to_poses(transform: np.ndarray,
                   camtoworlds: np.ndarray) -> np.ndarray:
  """Maps camera-to-world poses [N, 3, 4] by a similarity [4, 4]: the
  centres move as points, the rotations turn and stay orthonormal.

  Returns:
    [N, 3, 4] float64.
  """
  c2w = np.asarray(camtoworlds, np.float64)[:, :3, :4]
  scale = np.cbrt(np.linalg.det(transform[:3, :3]))
  rotation = transform[:3, :3] / scale
  return np.concatenate([rotation @ c2w[:, :, :3],
                         apply_to_points(transform, c2w[:, :, 3])[..., None]],
                        axis=-1)


def depth_bounds(camtoworlds: np.ndarray, points: np.ndarray,
                 visible: list[np.ndarray] | None = None,
                 percentiles: tuple[float, float] = (0.1, 99.9),
                 margin: tuple[float, float] = (0.9, 1.1)
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Per-camera near/far depths (along the camera's -z) from sparse points.

  LLFF's `imgs2poses`: the 0.1 and 99.9 percentiles of the depths of the
  points each camera sees, widened by `margin`. Points behind a camera are
  ignored; a camera that sees none gets the bounds of all cameras.

  Args:
    camtoworlds: [N, 3, 4] (OpenGL); points: [P, 3].
    visible: per camera, indices of the points it observes (COLMAP tracks);
      None: every point in front of it.
  Returns:
    near [N], far [N], float64.
  """
  c2w = np.asarray(camtoworlds, np.float64)
  points = np.asarray(points, np.float64).reshape(-1, 3)
  near = np.full(len(c2w), np.nan)
  far = np.full(len(c2w), np.nan)
  for i, pose in enumerate(c2w):
    pts = points if visible is None else points[visible[i]]
    depth = (pts - pose[:3, 3]) @ -pose[:3, 2]
    depth = depth[depth > 0]
    if depth.size:
      lo, hi = np.percentile(depth, percentiles)
      near[i], far[i] = lo * margin[0], hi * margin[1]
  if np.all(np.isnan(near)):
    raise ValueError("depth_bounds: no point lies in front of any camera")
  near = np.where(np.isnan(near), np.nanmin(near), near)
  far = np.where(np.isnan(far), np.nanmax(far), far)
  return near, far
