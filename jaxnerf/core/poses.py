"""Rigid and similarity transforms of camera poses: the se(3)/SO(3)
exponential and logarithm, composition, Procrustes alignment and pose errors.

Poses are [..., 3, 4] matrices [R | t] acting on column vectors (camera-to-
world in this library, as `jaxnerf.core.cameras`), composed as 4x4 matrices with
the row (0, 0, 0, 1) left implicit. A twist xi = (w, u) in R^6 has the
rotation part first (BARF's order): exp(xi) = [exp(w^) | V(w) u].

Every function works on numpy arrays (float64 on the host: evaluation) and on
jax arrays (inside jitted, differentiated code: pose corrections), whichever
it is given. The exponential is differentiable at zero (Taylor expansions
near w = 0), where pose corrections start.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

# Below this squared angle the coefficients of exp/log use their Taylor
# series: their closed forms cancel catastrophically in float32 near 0.
_SMALL_ANGLE_SQ = 1e-2


def _xp(x):
  return np if isinstance(x, (np.ndarray, float, int)) else jnp


def skew(w):
  """The cross-product matrix w^ of w: [..., 3] -> [..., 3, 3]."""
  xp = _xp(w)
  x, y, z = w[..., 0], w[..., 1], w[..., 2]
  o = xp.zeros_like(x)
  return xp.stack([xp.stack([o, -z, y], -1), xp.stack([z, o, -x], -1),
                   xp.stack([-y, x, o], -1)], -2)


def vee(m):
  """Inverse of `skew` on the antisymmetric part: [..., 3, 3] -> [..., 3]."""
  xp = _xp(m)
  return 0.5 * xp.stack([m[..., 2, 1] - m[..., 1, 2],
                         m[..., 0, 2] - m[..., 2, 0],
                         m[..., 1, 0] - m[..., 0, 1]], -1)


def _exp_coefficients(theta_sq):
  """A = sin(t)/t, B = (1 - cos t)/t^2, C = (t - sin t)/t^3 of t^2 [...].

  The branch not taken is evaluated at a safe argument, so gradients are
  finite everywhere (a `where` differentiates both branches).
  """
  xp = _xp(theta_sq)
  small = theta_sq < _SMALL_ANGLE_SQ
  t2 = xp.where(small, 1.0, theta_sq)
  t = xp.sqrt(t2)
  s2 = theta_sq  # Taylor series in t^2
  a_taylor = 1 - s2 / 6 * (1 - s2 / 20 * (1 - s2 / 42))
  b_taylor = 0.5 - s2 / 24 * (1 - s2 / 30 * (1 - s2 / 56))
  c_taylor = 1 / 6 - s2 / 120 * (1 - s2 / 42 * (1 - s2 / 72))
  a = xp.where(small, a_taylor, xp.sin(t) / t)
  b = xp.where(small, b_taylor, (1 - xp.cos(t)) / t2)
  c = xp.where(small, c_taylor, (t - xp.sin(t)) / (t2 * t))
  return a, b, c


def so3_exp(w):
  """Rodrigues' formula: rotation vectors [..., 3] -> rotations [..., 3, 3]."""
  xp = _xp(w)
  wx = skew(w)
  a, b, _ = _exp_coefficients(xp.sum(w * w, -1))
  eye = xp.eye(3, dtype=w.dtype)
  return eye + a[..., None, None] * wx + b[..., None, None] * (wx @ wx)


def se3_exp(xi):
  """Twists (w, u) [..., 6] -> poses [R | t] [..., 3, 4].

  R = exp(w^), t = V u with V = I + B w^ + C w^2 (the left Jacobian), so
  that a twist with w = 0 translates by u.
  """
  xp = _xp(xi)
  w, u = xi[..., :3], xi[..., 3:]
  wx = skew(w)
  wx2 = wx @ wx
  a, b, c = _exp_coefficients(xp.sum(w * w, -1))
  eye = xp.eye(3, dtype=xi.dtype)
  rot = eye + a[..., None, None] * wx + b[..., None, None] * wx2
  v = eye + b[..., None, None] * wx + c[..., None, None] * wx2
  return xp.concatenate([rot, (v @ u[..., None])], -1)


def rotation_angle(rot):
  """The angle in [0, pi] of rotations [..., 3, 3] (radians).

  atan2 of the sine (from the antisymmetric part) and the cosine (from the
  trace): accurate at every angle, unlike arccos near 0.
  """
  xp = _xp(rot)
  cos = (rot[..., 0, 0] + rot[..., 1, 1] + rot[..., 2, 2] - 1) / 2
  sin = xp.linalg.norm(vee(rot), axis=-1)
  return xp.arctan2(sin, cos)


def so3_log(rot):
  """Rotations [..., 3, 3] -> rotation vectors [..., 3] (angle <= pi).

  Near pi, where the antisymmetric part vanishes, the axis comes from the
  symmetric part (R + R^T) / 2 - cos(t) I = (1 - cos t) a a^T instead.
  """
  xp = _xp(rot)
  theta = rotation_angle(rot)
  sin_axis = vee(rot)  # sin(t) a
  sin = xp.linalg.norm(sin_axis, axis=-1)
  cos = xp.cos(theta)
  # Generic angles: t / sin(t) * sin(t) a (Taylor near 0).
  near_zero = theta < 1e-3
  scale = xp.where(near_zero, 1 + theta**2 / 6,
                   theta / xp.where(near_zero, 1.0, sin))
  generic = scale[..., None] * sin_axis
  # Near pi: the column of (1 - cos t) a a^T with the largest diagonal.
  sym = 0.5 * (rot + xp.swapaxes(rot, -1, -2)) - cos[..., None, None] * \
      xp.eye(3, dtype=rot.dtype)
  diag = xp.stack([sym[..., i, i] for i in range(3)], -1)
  k = xp.argmax(diag, axis=-1)
  column = xp.take_along_axis(sym, k[..., None, None], axis=-1)[..., 0]
  axis = column / xp.maximum(xp.linalg.norm(column, axis=-1,
                                            keepdims=True), 1e-12)
  sign = xp.where(xp.sum(axis * sin_axis, -1) < 0, -1.0, 1.0)
  near_pi = (sin < 1e-2) & (cos < 0)
  return xp.where(near_pi[..., None], (sign * theta)[..., None] * axis,
                  generic)


def se3_log(pose):
  """Poses [R | t] [..., 3, 4] -> twists (w, u) [..., 6]; inverts se3_exp
  for rotation angles below pi."""
  xp = _xp(pose)
  w = so3_log(pose[..., :3, :3])
  wx = skew(w)
  _, b, c = _exp_coefficients(xp.sum(w * w, -1))
  v = xp.eye(3, dtype=pose.dtype) + b[..., None, None] * wx + \
      c[..., None, None] * (wx @ wx)
  u = xp.linalg.solve(v, pose[..., :3, 3:])[..., 0]
  return xp.concatenate([w, u], -1)


def compose(a, b):
  """a o b (apply b, then a): [..., 3, 4] x [..., 3, 4] -> [..., 3, 4]."""
  xp = _xp(a)
  rot = a[..., :3, :3] @ b[..., :3, :3]
  t = (a[..., :3, :3] @ b[..., :3, 3:]) + a[..., :3, 3:]
  return xp.concatenate([rot, t], -1)


def invert(pose):
  """The inverse rigid transform: [R | t] -> [R^T | -R^T t], [..., 3, 4]."""
  xp = _xp(pose)
  rot_t = xp.swapaxes(pose[..., :3, :3], -1, -2)
  return xp.concatenate([rot_t, -(rot_t @ pose[..., :3, 3:])], -1)


def look_at(eyes, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)):
  """Camera-to-world poses of cameras at `eyes` [..., 3] looking at
  `target` [3] (OpenGL: the camera looks down its -z axis, +y up), with the
  world's `up` [3] kept upright: [..., 3, 4].

  A view along `up` has no defined roll: its right axis falls back to the
  world's x (rotation still orthonormal, det 1), so the pose stays finite
  where it is differentiated.
  """
  xp = _xp(eyes)
  target, up = xp.asarray(target, eyes.dtype), xp.asarray(up, eyes.dtype)
  unit = lambda v: v / xp.sqrt(xp.maximum(xp.sum(v * v, -1, keepdims=True),
                                          1e-12))
  back = unit(eyes - target)
  right = xp.cross(up, back)
  norm_sq = xp.sum(right * right, -1, keepdims=True)
  fallback = xp.cross(back, xp.asarray([0.0, -1.0, 0.0], eyes.dtype)
                      * xp.ones_like(back))
  fallback = xp.where(xp.sum(fallback * fallback, -1, keepdims=True) < 1e-12,
                      xp.asarray([1.0, 0.0, 0.0], eyes.dtype)
                      * xp.ones_like(back), fallback)
  right = unit(xp.where(norm_sq < 1e-12, fallback, right))
  cam_up = xp.cross(back, right)
  return xp.stack([right, cam_up, back, eyes], -1)


FRAMES = ("world", "camera")


def move(camtoworlds, xi, frame: str):
  """Camera-to-world poses moved by exp(xi), in the world frame or each
  camera's own.

  "world": exp(xi) o c2w, BARF's convention (its world-to-camera pose
  becomes w2c o exp(-xi)): the rotation turns the camera about the world
  origin, so a camera aimed at an object centred there stays aimed at it.
  "camera": c2w o exp(xi): the rotation turns the camera about its own
  centre, the translation is along its own axes.

  Args:
    camtoworlds: [..., 3, 4]; xi: [..., 6].
  Returns:
    [..., 3, 4].
  """
  if frame == "world":
    return compose(se3_exp(xi), camtoworlds)
  if frame == "camera":
    return compose(camtoworlds, se3_exp(xi))
  raise ValueError(f"unknown frame {frame!r}; known: {list(FRAMES)}")


def perturb(camtoworlds: np.ndarray, std: float, seed: int,
            frame: str = "world") -> np.ndarray:
  """BARF's synthetic pose noise: each camera moved by exp(xi), xi ~
  N(0, std^2 I_6), in `frame` (`move`).

  BARF composes its noise with the world-to-camera pose on the world side
  (w2c o N: the world is moved before the camera sees it), that is
  c2w' = N^-1 o c2w, the "world" frame with xi -> -xi (the same
  distribution). Reproducible: numpy's default generator seeded with
  `seed`.

  Args:
    camtoworlds: [N, 3, 4].
  Returns:
    [N, 3, 4] float64.
  """
  camtoworlds = np.asarray(camtoworlds, np.float64)[:, :3, :4]
  xi = np.random.default_rng(seed).normal(
      size=(camtoworlds.shape[0], 6)) * std
  return move(camtoworlds, xi, frame)


@dataclasses.dataclass(frozen=True)
class Similarity:
  """x -> scale * rotation @ x + translation (scale > 0, det rotation = 1)."""

  scale: float
  rotation: np.ndarray  # [3, 3]
  translation: np.ndarray  # [3]

  def apply(self, points: np.ndarray) -> np.ndarray:
    """points [..., 3] -> [..., 3]."""
    return self.scale * points @ self.rotation.T + self.translation

  def inverse(self) -> "Similarity":
    rot_t = self.rotation.T
    return Similarity(1.0 / self.scale, rot_t,
                      -(rot_t @ self.translation) / self.scale)

  def apply_to_poses(self, camtoworlds: np.ndarray) -> np.ndarray:
    """Camera-to-world poses [..., 3, 4] moved by the similarity: centres
    mapped, orientations rotated (the scale changes no direction)."""
    rot = self.rotation @ camtoworlds[..., :3, :3]
    centre = self.apply(camtoworlds[..., :3, 3])
    return np.concatenate([rot, centre[..., None]], -1)


def procrustes(source: np.ndarray, target: np.ndarray) -> Similarity:
  """The similarity mapping `source` points onto `target` points, by
  Procrustes analysis as BARF evaluates poses.

  Both sets are centred and scaled to unit RMS distance from their centroid;
  the rotation is the orthogonal Procrustes solution (SVD, reflections
  excluded) and the scale the ratio of the RMS spreads. Exact when target
  is a similarity of source.

  Args:
    source, target: [N, 3], N >= 3 points not all on a line.
  Returns:
    Similarity with target ~= apply(source).
  """
  source = np.asarray(source, np.float64)
  target = np.asarray(target, np.float64)
  mu_s, mu_t = source.mean(0), target.mean(0)
  xs, xt = source - mu_s, target - mu_t
  s_s = np.sqrt(np.mean(np.sum(xs**2, -1)))
  s_t = np.sqrt(np.mean(np.sum(xt**2, -1)))
  # Rotation R maximising trace(R^T (xt^T xs)): R = U D V^T.
  u, _, vt = np.linalg.svd((xt / s_t).T @ (xs / s_s))
  d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
  rot = u @ d @ vt
  scale = s_t / s_s
  return Similarity(float(scale), rot, mu_t - scale * rot @ mu_s)


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = False
            ) -> tuple[float, np.ndarray, np.ndarray]:
  """The similarity (or rigid motion) that best maps `src` onto `dst` in
  the least-squares sense (Umeyama 1991; Horn's closed form).

  Args:
    src, dst: [N, 3] corresponding points, N >= 3 not all collinear.
    with_scale: fit a scale too (Sim(3)); else it is 1 (SE(3)).
  Returns:
    (s, R [3, 3], t [3]) with dst ~ s R src + t.
  """
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  mu_s, mu_d = src.mean(0), dst.mean(0)
  xs, xd = src - mu_s, dst - mu_d
  cov = xd.T @ xs / len(src)
  u, d, vt = np.linalg.svd(cov)
  sign = np.eye(3)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection otherwise
    sign[2, 2] = -1
  rot = u @ sign @ vt
  scale = 1.0
  if with_scale:
    scale = float(np.trace(np.diag(d) @ sign) / np.mean(np.sum(xs ** 2, 1)))
  return scale, rot, mu_d - scale * rot @ mu_s


def align_cameras(camtoworlds: np.ndarray,
                  reference: np.ndarray) -> tuple[np.ndarray, Similarity]:
  """Camera poses moved into the frame of reference poses: the similarity
  (Procrustes) taking their centres onto the reference centres.

  Args:
    camtoworlds, reference: [N, 3, 4].
  Returns:
    (aligned [N, 3, 4], the similarity).
  """
  camtoworlds = np.asarray(camtoworlds, np.float64)
  source = camtoworlds[:, :3, 3]
  target = np.asarray(reference, np.float64)[:, :3, 3]
  if np.ptp(source, axis=0).max() <= 1e-9 * max(np.ptp(target), 1e-30):
    # All centres at one point (poses started at the identity): no
    # similarity is defined; only the centroids are matched.
    sim = Similarity(1.0, np.eye(3), target.mean(0) - source.mean(0))
  else:
    sim = procrustes(source, target)
  return sim.apply_to_poses(camtoworlds), sim


def pose_errors(camtoworlds: np.ndarray,
                reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """BARF's pose errors of already aligned poses.

  Rotation: the geodesic angle between the orientations, in degrees.
  Translation: the distance between the world-to-camera translations
  (-R^T c), in scene units (BARF's tables print it x100).

  Args:
    camtoworlds, reference: [N, 3, 4].
  Returns:
    (rotation errors [N] degrees, translation errors [N] scene units).
  """
  a = np.asarray(camtoworlds, np.float64)
  b = np.asarray(reference, np.float64)
  relative = np.swapaxes(a[..., :3, :3], -1, -2) @ b[..., :3, :3]
  rot_err = np.degrees(rotation_angle(relative))
  trans_err = np.linalg.norm(invert(a)[..., 3] - invert(b)[..., 3], axis=-1)
  return rot_err, trans_err
