"""iMAP (jaxnerf/posing/slam.py, slam.py): trajectory alignment and
scores, the TUM format, the keyframe rule, tracking on an analytic field
with depth, and the driver on a tiny stream end to end."""

import dataclasses
import json
import os

import flax.linen as nn
import imageio.v3 as iio
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import REPO_ROOT
from jaxnerf.commands import slam as slam_command
from jaxnerf.core import cameras as cameras_lib, poses as poses_lib
from jaxnerf.engine import config as config_lib, evaluator, parallel
from jaxnerf.posing import localization, slam

TINY = os.path.join(REPO_ROOT, "tests", "configs", "tiny_imap.py")


def _orbit(num=40, radius=4.0):
  """[num, 3, 4] camera-to-world poses on a rising circle, looking at the
  origin (as the lego's test orbit)."""
  return np.stack([cameras_lib.pose_spherical(a, -30.0 + 20 * np.sin(a / 60),
                                              radius)[:3]
                   for a in np.linspace(0, 300, num)]).astype(np.float64)


def _similarity(seed):
  rng = np.random.default_rng(seed)
  rot = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
  return rot, rng.normal(size=3) * 2


# Alignment and scores ------------------------------------------------------


def test_trajectory_errors_after_alignment():
  ref = _orbit()
  rot, t = _similarity(3)
  moved = slam.align_poses(ref, 1.0, rot, t)  # the same path elsewhere
  errors = slam.trajectory_errors(moved, ref)
  assert errors["ate_rmse"] < 1e-9 and errors["rotation_max_deg"] < 1e-5
  # Noise of a known size on the centres (alignment can only lower it),
  # and every orientation turned by 2 degrees about its own z axis.
  noisy = moved.copy()
  offsets = np.random.default_rng(4).normal(size=(len(ref), 3))
  offsets *= 0.03 / np.linalg.norm(offsets, axis=-1, keepdims=True)
  noisy[:, :, 3] += offsets
  noisy[:, :, :3] = noisy[:, :, :3] @ Rotation.from_rotvec(
      [0, 0, np.radians(2.0)]).as_matrix()
  errors = slam.trajectory_errors(noisy, ref)
  assert 0.02 < errors["ate_rmse"] <= 0.03 + 1e-12
  assert errors["rotation_mean_deg"] == pytest.approx(2.0, abs=0.1)
  # Scaled: SE(3) sees the scale error, Sim(3) recovers it.
  scaled = slam.align_poses(ref, 0.5, np.eye(3), np.zeros(3))
  assert slam.trajectory_errors(scaled, ref)["ate_rmse"] > 1.0
  sim = slam.trajectory_errors(scaled, ref, with_scale=True)
  assert sim["ate_rmse"] < 1e-9 and sim["scale"] == pytest.approx(2.0)


def test_constant_velocity_continues_an_orbit_exactly():
  ref = np.stack([cameras_lib.pose_spherical(a, -30.0, 4.0)[:3]
                  for a in (0.0, 3.6, 7.2)]).astype(np.float64)
  np.testing.assert_allclose(slam.constant_velocity(ref[1], ref[0]), ref[2],
                             atol=1e-6)
  # Any constant twist (a screw: turning about an oblique axis off the
  # origin while advancing), continued from the mean motion of 1-6 frames.
  step = poses_lib.se3_exp(np.array([0.02, -0.05, 0.06, 0.1, 0.2, -0.05]))
  path = [ref[0]]
  for _ in range(8):
    path.append(poses_lib.compose(step, path[-1]))
  path = np.stack(path)
  for window in (1, 3, 6):
    np.testing.assert_allclose(slam.motion_guess(path, 8, window), path[8],
                               atol=1e-9)
  np.testing.assert_allclose(slam.motion_guess(path, 1, 4), path[0])
  np.testing.assert_allclose(slam.motion_guess(path, 3, 6), path[3],
                             atol=1e-9)  # only 2 motions known


def test_constant_velocity_over_frames_damps_tracking_noise():
  # A straight path (constant velocity, no turn) with independent noise
  # of the same size on each tracked centre: the guess's error is
  # (1 + 1/m) e_k - e_{k-m} / m, RMS sqrt(5) times the noise for m = 1
  # and sqrt((1 + 1/m)^2 + 1/m^2) for m frames: 0.570 of it for m = 4.
  rng = np.random.default_rng(5)
  true = np.concatenate([np.tile(np.eye(3), (7, 1, 1)),
                         (np.arange(7)[:, None] * [0.2, 0.1, 0.0])[..., None]],
                        -1)
  errors = {1: [], 4: []}
  for _ in range(2000):
    tracked = true.copy()
    tracked[:6, :, 3] += rng.normal(size=(6, 3)) * 0.01
    for m in errors:
      errors[m].append(slam.motion_guess(tracked, 6, m)[:, 3] - true[6, :, 3])
  rms = {m: np.sqrt(np.mean(np.square(e))) for m, e in errors.items()}
  assert rms[1] == pytest.approx(0.01 * np.sqrt(5), rel=0.05)
  assert rms[4] / rms[1] == pytest.approx(np.sqrt(1.625 / 5), abs=0.03)


# TUM -----------------------------------------------------------------------


def test_tum_round_trip(tmp_path):
  ref = _orbit(7)
  stamps = np.arange(7) * 0.5
  path = str(tmp_path / "traj.txt")
  slam.write_tum(path, stamps, ref)
  with open(path) as f:
    lines = f.read().splitlines()
  assert lines[0].startswith("#") and len(lines) == 8
  first = [float(v) for v in lines[1].split()]
  # timestamp tx ty tz qx qy qz qw, the quaternion of unit norm, qw last.
  assert len(first) == 8 and first[0] == 0.0
  np.testing.assert_allclose(first[1:4], ref[0, :, 3], atol=1e-7)
  assert np.linalg.norm(first[4:]) == pytest.approx(1.0, abs=1e-7)
  q = Rotation.from_matrix(ref[0, :, :3]).as_quat()
  assert abs(np.dot(first[4:], q)) == pytest.approx(1.0, abs=1e-7)
  read_stamps, poses = slam.read_tum(path)
  np.testing.assert_allclose(read_stamps, stamps)
  np.testing.assert_allclose(poses, ref, atol=1e-7)


def test_read_tum_names_a_malformed_line(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_text("# header\n0 1 2 3 0 0 0 1\n1 1 2 3 0 0 1\n")
  with pytest.raises(slam.SlamError, match="bad.txt: line 3: expected 8"):
    slam.read_tum(str(path))


# The keyframe rule ---------------------------------------------------------


def test_explained_pixels_by_hand():
  rgb = np.full((6, 3), 0.5)
  depth = np.array([4.0, 4.0, 4.0, 0.0, 0.0, 4.0])
  depth_hat = np.array([4.2, 3.0, 4.0, 0.0, 3.0, 0.0])
  acc_hat = np.array([1.0, 1.0, 1.0, 0.1, 0.9, 0.2])
  # Counted: surface in the data (0, 1, 2, 5) or the map (4); pixel 3 is
  # empty in both. Explained: 0 (5 % off) and 2; 1 is 25 % off, 4 has no
  # surface in the data, 5 none in the map.
  assert slam.explained(rgb, acc_hat, depth_hat, rgb, depth, 0.1, 0.1) == (
      2, 5)
  assert slam.explained(rgb, acc_hat, depth_hat, rgb, depth, 0.3, 0.1) == (
      3, 5)
  # RGB-only: every pixel counts, by its mean absolute colour error.
  rgb_hat = rgb + np.array([0.0, 0.05, 0.09, 0.11, 0.3, -0.2])[:, None]
  assert slam.explained(rgb_hat, acc_hat, depth_hat, rgb, None, 0.1,
                        0.1) == (3, 6)
  # iMAP's rule at 0.65: 2 of 5 explained makes a keyframe, 4 of 5 not.
  assert slam.is_keyframe(2, 5, 0.65)
  assert not slam.is_keyframe(4, 5, 0.65)
  assert not slam.is_keyframe(0, 0, 0.65)  # nothing to judge by


def test_forced_keyframes_and_the_mapping_warm_up():
  # A keyframe due 3 frames after the last one; never with every=0.
  assert [f for f in range(1, 10) if slam.is_due(f, 0, 3)] == list(
      range(3, 10))
  assert not slam.is_due(5, 3, 3) and slam.is_due(6, 3, 3)
  assert not any(slam.is_due(f, 0, 0) for f in range(100))
  fields = {f.name: 1 for f in dataclasses.fields(slam.Settings)}
  settings = slam.Settings(**{**fields, "map_warmup_frames": 4,
                              "map_warmup_rounds": 3})
  # Frame 0 has its own initial steps; frames 1-4 three rounds, then one.
  assert [slam.map_rounds(f, settings) for f in range(7)] == [
      1, 3, 3, 3, 3, 1, 1]
  # Tracking's pixels: the surface, grown by the margin; all with -1.
  depth = np.zeros((7, 7), np.float32)
  depth[3, 3] = 4.0
  assert slam.track_mask(depth, 0).sum() == 1
  grown = slam.track_mask(depth, 1)
  assert grown.sum() == 9 and grown[2:5, 2:5].all()
  assert slam.track_mask(depth, -1).all()
  assert slam.track_mask(np.zeros((3, 3)), 2).all()  # no surface: all
  off = slam.Settings(**{**fields, "map_warmup_frames": 0,
                         "map_warmup_rounds": 5})
  assert all(slam.map_rounds(f, off) == 1 for f in range(7))


# Tracking on an analytic field ---------------------------------------------


class Ball(nn.Module):
  """A method model: an opaque ball of radius 1 at the origin, its colour
  varying smoothly over the surface; depth is the hit's camera-z (the
  rays' t), opacity 1 on the ball."""

  @nn.compact
  def __call__(self, rays, key, randomized, progress=None):
    o, d = rays.origins, rays.directions
    a = jnp.sum(d * d, -1)
    b = 2 * jnp.sum(o * d, -1)
    c = jnp.sum(o * o, -1) - 1.0
    disc = b * b - 4 * a * c
    hit = disc > 0
    t = jnp.where(hit, (-b - jnp.sqrt(jnp.maximum(disc, 1e-12))) / (2 * a),
                  0.0)
    p = o + t[:, None] * d
    rgb = 0.5 + 0.4 * jnp.sin(3.0 * p + jnp.array([0.0, 1.0, 2.0]))
    acc = hit.astype(jnp.float32)
    return [{"rgb": jnp.where(hit[:, None], rgb, 1.0), "depth": t * acc,
             "acc": acc}]


def test_tracking_recovers_a_perturbed_pose_with_depth():
  model = Ball()
  size = 32
  camera = localization.single_camera(cameras_lib.Cameras.create(
      np.eye(4)[None], 40.0, size, size, 0.0, 10.0))
  true = cameras_lib.pose_spherical(20.0, -30.0, 3.0)[:3].astype(np.float64)

  @jax.jit
  def render(c2w):
    pixels = jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, x.shape[-1])),
                          cameras_lib.pixel_grid(size, size))
    _, out = localization.training.render(
        model, {}, pixels, camera.replace(camtoworlds=c2w[None]),
        jax.random.PRNGKey(0), False, localization.base.Progress.at(1, 1))
    return out[-1]["rgb"].reshape(size, size, 3), \
        out[-1]["depth"].reshape(size, size)

  image, depth = render(jnp.asarray(true, jnp.float32))
  assert 0.1 < float(jnp.mean(depth > 0)) < 0.9  # the ball and background
  options = localization.Options(iterations=60, batch_size=256,
                                 lr_init=1e-2, lr_final=1e-3,
                                 sampling="random")
  fit = localization.make_pose_fit(
      model, ml_collections.ConfigDict({"max_steps": 1}), options, 0.5)
  # 3 degrees about an oblique axis through the origin, then 0.05 aside.
  turn = Rotation.from_rotvec(np.radians(3.0) * np.array([0.6, -0.48, 0.64])
                              ).as_matrix()
  start = np.concatenate([turn @ true[:, :3],
                          (turn @ true[:, 3] + [0.05, -0.03, 0.0])[:, None]],
                         1)
  rot0, trans0 = localization.pose_error(start, true)
  assert rot0 > 1.0
  c2w, history = fit({}, camera, jnp.asarray(start, jnp.float32), image,
                     jnp.ones((size, size), bool), jax.random.PRNGKey(0),
                     depth)
  rot, trans = localization.pose_error(np.asarray(c2w), true)
  assert history.shape == (60,) and history[-5:].mean() < history[0] / 5
  assert rot < 0.25 * rot0 and trans < 0.25 * trans0, (rot0, rot, trans)

  # The frame also shows what the map lacks (a block in front of the
  # ball, as a view turning onto parts the map has not seen): its rays
  # pull the pose away; the outlier filter leaves them out.
  seen_image = image.at[4:14, 4:14].set(jnp.array([0.9, 0.1, 0.1]))
  seen_depth = depth.at[4:14, 4:14].set(1.2)
  errors = {}
  for ratio in (0.0, 10.0):
    fit = localization.make_pose_fit(
        model, ml_collections.ConfigDict({"max_steps": 1}), options, 0.5,
        ratio)
    c2w, _ = fit({}, camera, jnp.asarray(start, jnp.float32), seen_image,
                 jnp.ones((size, size), bool), jax.random.PRNGKey(0),
                 seen_depth)
    errors[ratio] = localization.pose_error(np.asarray(c2w), true)
  assert errors[10.0][0] < 0.25 * rot0 and errors[10.0][1] < 0.25 * trans0
  assert errors[10.0][0] < 0.5 * errors[0.0][0], errors


# The driver ----------------------------------------------------------------


def test_slam_command_on_a_tiny_stream(tmp_path, capsys, monkeypatch):
  run = str(tmp_path / "run")
  # The keyframe rule is checked against the map as it was when the last
  # keyframe was added (iMAP's locked copy), not the live map (which has
  # just trained on the previous frame and explains any frame near it):
  # every map update and every check is fingerprinted.
  fingerprint = lambda params: float(sum(
      jnp.sum(leaf) for leaf in jax.tree.leaves(params)))
  mapped, probed = [], []
  make_mapper, make_probe = slam.make_mapper, slam.make_probe

  def recording_mapper(*args):
    update = make_mapper(*args)

    def run_update(state, frames, key):
      out = update(state, frames, key)
      mapped.append(fingerprint(out[0].params))
      return out
    return run_update

  def recording_probe(*args):
    probe = make_probe(*args)

    def run_probe(variables, *rest):
      probed.append(fingerprint(variables["params"]))
      return probe(variables, *rest)
    return run_probe

  monkeypatch.setattr(slam, "make_mapper", recording_mapper)
  monkeypatch.setattr(slam, "make_probe", recording_probe)
  # With the lego's tracking options, a warm-up of 2 rounds on frame 1, the
  # rule never firing (share 0) and a keyframe forced 2 frames after the
  # last.
  assert slam_command.main(["slam.py", f"--config={TINY}",
                            "--train_dir", run,
                            "--config.slam_frames=4",
                            "--config.slam_track_margin=1",
                            "--config.slam_track_outlier_ratio=10",
                            "--config.slam_map_warmup_frames=1",
                            "--config.slam_map_warmup_rounds=2",
                            "--config.slam_keyframe_share=0",
                            "--config.slam_keyframe_every=2"]) == 0
  # The map after frame 0's 2 initial updates, frame 1's 2, frame 2's,
  # frame 3's and the final one. Frames 1 and 2 are checked against frame
  # 0's map; frame 2 became a keyframe, so frame 3 against the map just
  # after frame 2's update.
  assert len(mapped) == 7 and len(probed) == 3
  assert probed == [mapped[1], mapped[1], mapped[4]]
  out = capsys.readouterr().out
  assert "4 frames of 25x25, rgbd" in out
  assert "rotation error" in out
  for name in ("trajectory.txt", "reference.txt", "trajectory.png",
               "slam_metrics.json", "scene.json"):
    assert os.path.isfile(os.path.join(run, name)), name
  stamps, estimate = slam.read_tum(os.path.join(run, "trajectory.txt"))
  _, reference = slam.read_tum(os.path.join(run, "reference.txt"))
  np.testing.assert_allclose(stamps, [0, 1, 2, 3])
  # The first pose is given: it is the reference's.
  np.testing.assert_allclose(estimate[0], reference[0], atol=1e-6)
  assert np.all(np.isfinite(estimate))
  with open(os.path.join(run, "slam_metrics.json")) as f:
    metrics = json.load(f)
  assert metrics["frames"] == 4 and metrics["mode"] == "rgbd"
  assert metrics["keyframe_indices"] == [0, 2]
  # 4 initial, 2 x 2 on frame 1 (the warm-up), 2 on frames 2 and 3, 2
  # final.
  assert metrics["map_steps"] == 4 + 2 * 2 + 2 + 2 + 2
  assert metrics["se3"]["ate_rmse"] == pytest.approx(
      slam.trajectory_errors(estimate, reference)["ate_rmse"], abs=1e-5)
  plot = iio.imread(os.path.join(run, "trajectory.png"))
  assert plot.shape == (512, 1024, 3)
  assert (plot[..., 0] > 200).sum() > 100 and plot.std() > 5  # drawn
  # The map is a normal run: eval.py's restore opens it, from the config
  # it recorded.
  config = config_lib.load_config(run)
  _, _, state = evaluator.restore_latest(config, parallel.make_mesh())
  assert int(state.step) == metrics["map_steps"]
  # A second run into the same folder is refused, the first kept.
  before = os.path.getmtime(os.path.join(run, "trajectory.txt"))
  assert slam_command.main(["slam.py", f"--config={TINY}",
                            "--train_dir", run]) == 1
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: config.train_dir:") and "already" in err
  assert "\n" not in err
  assert os.path.getmtime(os.path.join(run, "trajectory.txt")) == before


@pytest.mark.parametrize("args,says", [
    (["--config.slam_split=train"], "config.slam_mode: 'rgbd' needs a depth"),
    (["--config.slam_mode=stereo"], "config.slam_mode: unknown 'stereo'"),
    (["--config.slam_keyframe_share=1.5"], "config.slam_keyframe_share"),
    (["--config.slam_track_iterations=0"], "config.slam_track_iterations"),
    (["--config.slam_frames=1"], "at least 2"),
    (["--config.slam_keyframe_every=-1"], "config.slam_keyframe_every"),
    (["--config.slam_map_warmup_rounds=0"], "config.slam_map_warmup_rounds"),
    (["--config.slam_track_margin=-2"], "config.slam_track_margin"),
    (["--config.slam_track_outlier_ratio=0.5"],
     "config.slam_track_outlier_ratio: 0.5; it must be 0 (off)"),
])
def test_bad_settings_are_one_line_errors(tmp_path, capsys, args, says):
  run = str(tmp_path / "run")
  code = slam_command.main(["slam.py", f"--config={TINY}", "--train_dir",
                            run, *args])
  err = capsys.readouterr().err.strip()
  assert code == 1 and "\n" not in err and err.startswith("error: "), err
  assert says in err, err
  assert not os.path.exists(run)


def test_refine_poses_moves_only_drawn_slots_but_the_first():
  frames = slam.Keyframes.empty(3, 4)
  for k in range(2):
    frames = frames.add(jnp.zeros((4, 3)), jnp.zeros(4),
                        jnp.asarray(cameras_lib.pose_spherical(
                            10.0 * k, -30.0, 4.0)[:3], jnp.float32))
  grad = jnp.asarray(np.arange(24, dtype=np.float32).reshape(4, 6) - 5.0)
  drawn = jnp.array([True, True, False, True])
  out = slam.refine_poses(frames, grad, drawn, jnp.array(True), 1e-3)
  xi = np.asarray(out.xi)
  assert np.all(xi[0] == 0) and np.all(xi[2] == 0)  # the first; not drawn
  # Adam's first step: lr against the gradient's sign, per coordinate.
  np.testing.assert_allclose(xi[1], -1e-3 * np.sign(np.asarray(grad[1])),
                             rtol=1e-4)
  np.testing.assert_allclose(np.asarray(out.t), [0, 1, 0, 1])
  # A non-finite step moves nothing; a slot taken again starts over.
  same = slam.refine_poses(frames, grad, drawn, jnp.array(False), 1e-3)
  assert np.all(np.asarray(same.xi) == 0)
  # A slot with a NaN in its own gradient stays (and its moments clean).
  nan = slam.refine_poses(frames, grad.at[1, 2].set(jnp.nan), drawn,
                          jnp.array(True), 1e-3)
  assert np.all(np.asarray(nan.xi[1]) == 0) and np.all(
      np.isfinite(np.asarray(nan.m)))
  assert np.all(np.asarray(nan.xi[3]) != 0)
  again = out.with_current(jnp.zeros((4, 3)), jnp.zeros(4), out.c2w[-1])
  assert np.all(np.asarray(again.xi[-1]) == 0) and again.t[-1] == 0
  np.testing.assert_allclose(np.asarray(out.refined()[0]),
                             np.asarray(frames.c2w[0]), atol=1e-6)
