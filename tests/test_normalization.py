"""Scene normalisation: invariants (cameras in the unit cube, up-vector to
+z, centring), the focus point, near/far from points."""

import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.data import normalization
from jaxnerf.errors import ConfigError


def _orbit(n=12, radius=3.0, height=1.0, target=(0.5, -1.0, 2.0),
           up=(0.0, 1.0, 0.0)):
  """Cameras on a circle around `target`, looking at it, in a world whose
  up is `up` (here +y, as many SfM frames)."""
  target, up = np.asarray(target), np.asarray(up, float)
  e1 = np.cross(up, [0.3, 0.1, 0.9])
  e1 /= np.linalg.norm(e1)
  e2 = np.cross(up, e1)
  poses = []
  for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
    pos = target + radius * (np.cos(a) * e1 + np.sin(a) * e2) + height * up
    poses.append(cameras.viewmatrix(pos - target, up, pos))
  return np.stack(poses)


@pytest.mark.parametrize("center", ["poses", "focus"])
def test_cameras_in_the_unit_cube_up_is_z(center):
  c2w = _orbit()
  t = normalization.normalization_transform(c2w, "up", center)
  out = normalization.apply_to_poses(t, c2w)
  assert np.max(np.abs(out[:, :, 3])) == pytest.approx(1.0)
  # Rotations stay orthonormal, right-handed.
  for r in out[:, :, :3]:
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
  up = out[:, :, 1].mean(0)
  np.testing.assert_allclose(up / np.linalg.norm(up), [0, 0, 1], atol=1e-12)
  if center == "poses":
    np.testing.assert_allclose(out[:, :, 3].mean(0), 0, atol=1e-12)
  else:
    # The cameras look at the target, which goes to the origin: every
    # optical axis passes through it.
    for pose in out:
      d = -pose[:, 2]
      assert np.linalg.norm(np.cross(d, -pose[:, 3])) < 1e-6


def test_transform_is_a_similarity_mapping_cameras_and_points_alike():
  c2w = _orbit()
  t = normalization.normalization_transform(c2w, "up", "poses",
                                            scale_factor=0.5)
  out = normalization.apply_to_poses(t, c2w)
  assert np.max(np.abs(out[:, :, 3])) == pytest.approx(0.5)
  # A point 2 units in front of camera 0 stays 2 * scale in front of it.
  p = c2w[0, :, 3] - 2.0 * c2w[0, :, 2]
  q = normalization.apply_to_points(t, p)
  scale = np.cbrt(np.linalg.det(t[:3, :3]))
  np.testing.assert_allclose(q, out[0, :, 3] - 2.0 * scale * out[0, :, 2],
                             atol=1e-12)
  back = normalization.apply_to_points(np.linalg.inv(t), q)
  np.testing.assert_allclose(back, p, atol=1e-12)


def test_none_keeps_the_frame():
  c2w = _orbit()
  t = normalization.normalization_transform(c2w, "none", "none",
                                            auto_scale=False)
  np.testing.assert_array_equal(t, np.eye(4))


def test_rotation_between():
  rng = np.random.default_rng(0)
  for a, b in rng.normal(size=(10, 2, 3)):
    r = normalization.rotation_between(a, b)
    np.testing.assert_allclose(r @ (a / np.linalg.norm(a)),
                               b / np.linalg.norm(b), atol=1e-12)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
  r = normalization.rotation_between([0, 0, -1.0], [0, 0, 1.0])
  np.testing.assert_allclose(r @ [0, 0, -1.0], [0, 0, 1.0], atol=1e-12)
  assert np.linalg.det(r) == pytest.approx(1.0)


def test_focus_point_of_forward_facing_cameras_is_finite():
  # Parallel optical axes (LLFF-like): no point is nearest to all of them;
  # the damped solution stays near the cameras.
  c2w = np.stack([cameras.viewmatrix(np.array([0, 0, 1.0]),
                                     np.array([0, 1.0, 0]),
                                     np.array([x, y, 0.0]))
                  for x in (-1, 0, 1) for y in (-1, 0, 1)])
  f = normalization.focus_point(c2w)
  assert np.all(np.isfinite(f)) and np.linalg.norm(f) < 1e3


def test_depth_bounds_from_points():
  c2w = np.stack([cameras.viewmatrix(np.array([0, 0, 1.0]),
                                     np.array([0, 1.0, 0]),
                                     np.zeros(3))])
  depths = np.linspace(2.0, 10.0, 1001)
  points = np.stack([np.zeros_like(depths), np.zeros_like(depths), -depths],
                    -1)
  behind = np.array([[0, 0, 5.0]])
  near, far = normalization.depth_bounds(c2w, np.concatenate([points,
                                                              behind]))
  np.testing.assert_allclose(near, 0.9 * np.percentile(depths, 0.1))
  np.testing.assert_allclose(far, 1.1 * np.percentile(depths, 99.9))
  near, far = normalization.depth_bounds(c2w, points, [np.arange(10)])
  np.testing.assert_allclose(far, 1.1 * np.percentile(depths[:10], 99.9))


def test_bad_choices_name_the_field():
  with pytest.raises(ConfigError, match="config.center_method: unknown 'x'"):
    normalization.normalization_transform(_orbit(), "up", "x")
  with pytest.raises(ConfigError, match="config.orientation_method"):
    normalization.normalization_transform(_orbit(), "pca", "poses")
