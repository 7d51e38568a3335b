"""se(3)/SO(3) maths, Procrustes alignment and pose errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from jaxnerf.core import cameras, poses


def random_twists(n, seed=0, max_angle=3.0):
  rng = np.random.default_rng(seed)
  axis = rng.normal(size=(n, 3))
  axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
  angle = rng.uniform(0, max_angle, size=(n, 1))
  return np.concatenate([axis * angle, rng.normal(size=(n, 3))], -1)


def test_so3_exp_matches_scipy_rotation_vectors():
  xi = random_twists(50)
  expected = Rotation.from_rotvec(xi[:, :3]).as_matrix()
  np.testing.assert_allclose(poses.so3_exp(xi[:, :3]), expected, atol=1e-12)
  np.testing.assert_allclose(poses.se3_exp(xi)[:, :, :3], expected,
                             atol=1e-12)


def test_se3_exp_translation_is_the_left_jacobian_times_u():
  # A rotation of pi/2 about z with u along x: the closed form
  # V = I + (1 - cos t)/t^2 w^ + (t - sin t)/t^3 w^2 gives V u =
  # (2/pi, 2/pi, 0) for t = pi/2.
  xi = np.array([0, 0, np.pi / 2, 1, 0, 0])
  np.testing.assert_allclose(poses.se3_exp(xi)[:, 3],
                             [2 / np.pi, 2 / np.pi, 0], atol=1e-12)
  # Without rotation exp is a pure translation by u.
  np.testing.assert_allclose(poses.se3_exp(np.array([0, 0, 0, 1., 2, 3])),
                             np.concatenate([np.eye(3), [[1], [2], [3]]], 1))


def test_exp_log_round_trip_at_all_angles():
  xi = random_twists(200, max_angle=np.pi - 1e-3)
  xi[:3, :3] *= 1e-7  # near zero, where the Taylor branches apply
  xi[3:6, :3] *= 0.05 / np.linalg.norm(xi[3:6, :3], axis=-1, keepdims=True)
  np.testing.assert_allclose(poses.se3_log(poses.se3_exp(xi)), xi,
                             atol=1e-9)
  # Near pi (the antisymmetric part vanishes) the log takes the axis from
  # the symmetric part.
  axis = np.array([[1.0, 2.0, -2.0]]) / 3
  for angle in (np.pi - 1e-6, np.pi - 1e-3):
    rot = poses.so3_exp(axis * angle)
    np.testing.assert_allclose(poses.so3_log(rot), axis * angle, atol=1e-6)


def test_jax_float32_exp_matches_float64_and_has_finite_gradients_at_zero():
  xi = random_twists(20, seed=1)
  xi[:5] *= 1e-3
  out = poses.se3_exp(jnp.asarray(xi, jnp.float32))
  np.testing.assert_allclose(out, poses.se3_exp(xi), atol=2e-6)
  grad = jax.jacfwd(poses.se3_exp)(jnp.zeros(6))
  assert np.all(np.isfinite(grad))
  # d exp(xi) / d xi at 0 is the generator basis: d R / d w_z = z^.
  np.testing.assert_allclose(grad[:, :3, 2], poses.skew(np.eye(3)[2]),
                             atol=1e-7)
  np.testing.assert_allclose(grad[:, 3, 3:], np.eye(3), atol=1e-7)
  grad = jax.grad(lambda x: jnp.sum(poses.se3_exp(x)**2))(jnp.zeros(6))
  assert np.all(np.isfinite(grad))


def test_composition_and_inverse():
  a, b, c = (poses.se3_exp(random_twists(10, seed=s)) for s in (1, 2, 3))
  as4 = lambda p: np.concatenate([p, np.tile([[[0, 0, 0, 1.]]],
                                             (len(p), 1, 1))], 1)
  np.testing.assert_allclose(as4(poses.compose(a, b)), as4(a) @ as4(b),
                             atol=1e-12)
  # Associative, and the inverse undoes a pose on either side.
  np.testing.assert_allclose(poses.compose(poses.compose(a, b), c),
                             poses.compose(a, poses.compose(b, c)),
                             atol=1e-12)
  identity = np.tile(np.eye(3, 4), (10, 1, 1))
  np.testing.assert_allclose(poses.compose(a, poses.invert(a)), identity,
                             atol=1e-12)
  np.testing.assert_allclose(poses.compose(poses.invert(a), a), identity,
                             atol=1e-12)
  # exp of a sum is the composition for twists about the same axis.
  xi = np.array([0.1, -0.2, 0.3, 0.5, 0.1, 0.2])
  np.testing.assert_allclose(
      poses.compose(poses.se3_exp(0.3 * xi), poses.se3_exp(0.7 * xi)),
      poses.se3_exp(xi), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_umeyama_recovers_a_known_motion_and_similarity(seed):
  rng = np.random.default_rng(seed)
  rot = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
  t = rng.normal(size=3) * 2
  src = np.random.default_rng(10 + seed).normal(size=(30, 3))
  s, r, tt = poses.umeyama(src, src @ rot.T + t)
  assert s == 1.0
  np.testing.assert_allclose(r, rot, atol=1e-10)
  np.testing.assert_allclose(tt, t, atol=1e-10)
  s, r, tt = poses.umeyama(src, 2.5 * src @ rot.T + t, with_scale=True)
  assert s == pytest.approx(2.5, rel=1e-10)
  np.testing.assert_allclose(r, rot, atol=1e-10)
  np.testing.assert_allclose(tt, t, atol=1e-10)
  # A mirrored cloud still gets a rotation (det +1), not a reflection.
  _, r, _ = poses.umeyama(src, src * [1, 1, -1])
  assert np.linalg.det(r) == pytest.approx(1.0)


def test_procrustes_recovers_a_known_similarity():
  rng = np.random.default_rng(0)
  source = rng.normal(size=(30, 3))
  rot = Rotation.from_rotvec([0.3, -1.1, 2.0]).as_matrix()
  target = 2.5 * source @ rot.T + np.array([1.0, -2.0, 0.5])
  sim = poses.procrustes(source, target)
  assert sim.scale == pytest.approx(2.5, rel=1e-12)
  np.testing.assert_allclose(sim.rotation, rot, atol=1e-12)
  np.testing.assert_allclose(sim.translation, [1.0, -2.0, 0.5], atol=1e-12)
  np.testing.assert_allclose(sim.apply(source), target, atol=1e-12)
  np.testing.assert_allclose(sim.inverse().apply(target), source, atol=1e-12)
  # A reflection is never returned: mirrored targets get a proper rotation.
  mirrored = target * np.array([1, 1, -1])
  assert np.linalg.det(poses.procrustes(source, mirrored).rotation) > 0


def test_aligned_poses_of_a_similar_set_have_zero_error():
  rng = np.random.default_rng(1)
  reference = poses.se3_exp(np.concatenate(
      [rng.normal(size=(12, 3)), 4 * rng.normal(size=(12, 3))], -1))
  rot_err, trans_err = poses.pose_errors(reference, reference)
  np.testing.assert_array_equal(rot_err, 0.0)
  np.testing.assert_array_equal(trans_err, 0.0)
  # The same cameras in a rotated, scaled, shifted world align exactly.
  sim = poses.Similarity(0.7, Rotation.from_rotvec([1.0, 0.2, -0.4])
                         .as_matrix(), np.array([3.0, 1.0, -1.0]))
  moved = sim.apply_to_poses(reference)
  aligned, found = poses.align_cameras(moved, reference)
  assert found.scale == pytest.approx(1 / 0.7)
  rot_err, trans_err = poses.pose_errors(aligned, reference)
  assert rot_err.max() < 1e-6 and trans_err.max() < 1e-10


def test_pose_errors_of_known_perturbations():
  reference = np.tile(np.eye(3, 4), (2, 1, 1))
  reference[:, :, 3] = [[0, 0, 4], [1, 0, 4]]
  moved = reference.copy()
  moved[0, :3, :3] = Rotation.from_rotvec([0, np.radians(2.0), 0]).as_matrix()
  moved[1, :3, 3] += [0.0, 0.03, 0.04]  # a world-to-camera shift of 0.05
  rot_err, trans_err = poses.pose_errors(moved, reference)
  np.testing.assert_allclose(rot_err, [2.0, 0.0], atol=1e-9)
  # Camera 0 turned about its centre: its world-to-camera translation
  # -R^T c moves by |R^T c - c| = 2 |c| sin(1 deg).
  np.testing.assert_allclose(
      trans_err, [2 * np.hypot(0, 4) * np.sin(np.radians(1.0)), 0.05],
      atol=1e-12)


@pytest.mark.parametrize("frame", poses.FRAMES)
def test_perturb_is_seeded_and_has_the_requested_spread(frame):
  reference = poses.se3_exp(random_twists(2000, seed=4))
  noisy = poses.perturb(reference, 0.15, seed=7, frame=frame)
  np.testing.assert_array_equal(
      noisy, poses.perturb(reference, 0.15, 7, frame))
  assert not np.allclose(noisy, poses.perturb(reference, 0.15, 8, frame))
  # The twist is recovered on the side it was applied: exp(xi) o c2w in
  # the world frame, c2w o exp(xi) in the camera's.
  moved_by = (poses.compose(noisy, poses.invert(reference))
              if frame == "world" else
              poses.compose(poses.invert(reference), noisy))
  xi = poses.se3_log(moved_by)
  np.testing.assert_allclose(xi.std(0), 0.15, rtol=0.06)
  np.testing.assert_allclose(xi.mean(0), 0.0, atol=0.015)


def look_at_origin(centres):
  """Camera-to-world poses (OpenGL axes: looking down -z) at `centres`
  [N, 3], each aimed at the world origin, +z up."""
  return np.stack([cameras.viewmatrix(c, np.array([0.0, 0.0, 1.0]), c)
                   for c in centres])


def test_a_world_frame_turn_keeps_the_aim_at_the_origin_a_camera_turn_not():
  """BARF composes its noise and corrections on the world side: a pure
  rotation then turns the camera about the world origin (distance and aim
  at the origin kept); in the camera's frame it turns about the camera's
  centre (centre kept, aim lost by up to the angle)."""
  c2w = look_at_origin(np.array([[4.0, 0.0, 1.0], [-1.0, 3.0, 2.0]]))
  xi = np.array([[0.0, 0.2, 0.1, 0, 0, 0], [0.3, -0.1, 0.0, 0, 0, 0]])
  angle = np.degrees(np.linalg.norm(xi[:, :3], axis=-1))

  def aim_error_deg(pose):
    forward = -pose[:, :, 2]
    to_origin = -pose[:, :, 3] / np.linalg.norm(pose[:, :, 3], axis=-1,
                                                 keepdims=True)
    return np.degrees(np.arccos(np.clip(
        np.sum(forward * to_origin, -1), -1, 1)))

  world = poses.move(c2w, xi, "world")
  np.testing.assert_allclose(np.linalg.norm(world[:, :, 3], axis=-1),
                             np.linalg.norm(c2w[:, :, 3], axis=-1))
  np.testing.assert_allclose(aim_error_deg(world), 0.0, atol=1e-5)
  np.testing.assert_allclose(world[:, :, 3], np.einsum(
      "nij,nj->ni", poses.se3_exp(xi)[:, :, :3], c2w[:, :, 3]))

  camera = poses.move(c2w, xi, "camera")
  np.testing.assert_allclose(camera[:, :, 3], c2w[:, :, 3])
  # The optical axis z turns into R z (camera coordinates): off by
  # arccos(R_zz), the whole angle when the axis of turn is across it.
  np.testing.assert_allclose(aim_error_deg(camera), np.degrees(np.arccos(
      poses.se3_exp(xi)[:, 2, 2])), rtol=1e-9)
  assert aim_error_deg(camera)[1] == pytest.approx(angle[1])
  # Both turn the camera by the same angle.
  for moved in (world, camera):
    np.testing.assert_allclose(np.degrees(poses.rotation_angle(
        moved[:, :, :3] @ np.swapaxes(c2w[:, :, :3], -1, -2))), angle)
  # A camera-frame translation is along the camera's own axes.
  forward = poses.move(c2w, np.array([[0, 0, 0, 0, 0, -1.0]] * 2), "camera")
  np.testing.assert_allclose(forward[:, :, 3] - c2w[:, :, 3],
                             -c2w[:, :, 2])
  with pytest.raises(ValueError, match="frame"):
    poses.move(c2w, xi, "screen")
