"""iNeRF (jaxnerf/posing/localization.py, localize.py): starting poses and their
errors, the command's inputs, interest regions, the pose optimisation on an
analytic scene, and the command end to end."""

import json
import os
import subprocess
import sys

import flax.linen as nn
import imageio.v3 as iio
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.ndimage

from conftest import EMBEDDED_LEGO, REPO_ROOT, xla_flags
from jaxnerf.core import cameras as cameras_lib
from jaxnerf.posing import localization
from jaxnerf.engine import training
from jaxnerf.posing.localization import LocalizationError
from jaxnerf.methods import base


def _rotation(axis, angle_deg):
  """Rodrigues' formula written out (not poses.so3_exp)."""
  k = np.asarray(axis, np.float64) / np.linalg.norm(axis)
  kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
  a = np.radians(angle_deg)
  return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx


def _angle_deg(rot):
  """Rotation angle from the trace (independent of poses.rotation_angle)."""
  return np.degrees(np.arccos(np.clip((np.trace(rot) - 1) / 2, -1, 1)))


def _pose(rot, centre):
  return np.concatenate([rot, np.asarray(centre, np.float64)[:, None]], 1)


# Starting poses and errors -------------------------------------------------


def test_perturb_pose_rotates_about_the_origin_and_shifts_within_bounds():
  rng = np.random.default_rng(0)
  max_angle, max_shift = 40.0, 0.2
  angles, shifts = [], []
  for seed in range(300):
    true = _pose(_rotation(rng.normal(size=3), rng.uniform(0, 180)),
                 4.0 * rng.normal(size=3) / np.sqrt(3))
    start = localization.perturb_pose(true, max_angle, max_shift,
                                      np.random.default_rng(seed))
    assert start.shape == (3, 4)
    move = start[:, :3] @ true[:, :3].T  # the rotation applied
    np.testing.assert_allclose(move @ move.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(move) == pytest.approx(1.0)
    angle = _angle_deg(move)
    rot_err, trans_err = localization.pose_error(start, true)
    assert rot_err == pytest.approx(angle, abs=1e-6)
    assert trans_err == pytest.approx(
        np.linalg.norm(start[:, 3] - true[:, 3]), abs=1e-12)
    # About the world origin: the centre is the rotated centre plus a shift
    # (a rotation about the camera centre would move it by up to ~2.7 here).
    shift = start[:, 3] - move @ true[:, 3]
    angles.append(angle)
    shifts.append(shift)
  angles, shifts = np.array(angles), np.abs(np.array(shifts))
  assert angles.min() >= 0 and angles.max() <= max_angle + 1e-9
  assert shifts.max() <= max_shift + 1e-12
  # Spread over the ranges, not degenerate.
  assert angles.min() < 2 and angles.max() > 38
  assert (shifts.max(0) > 0.19).all()
  assert 15 < np.median(angles) < 25


def test_pose_error_of_known_poses():
  rng = np.random.default_rng(1)
  rot = _rotation(rng.normal(size=3), 70.0)
  pose = _pose(rot, [0.5, -1.0, 3.0])
  assert localization.pose_error(pose, pose) == pytest.approx((0, 0),
                                                               abs=1e-6)
  for axis in ([1, 0, 0], [0, 0, 1], [1, 2, -0.5]):
    turned = _pose(_rotation(axis, 30.0) @ rot, pose[:, 3] + [0.3, 0.4, 0.0])
    rot_err, trans_err = localization.pose_error(turned, pose)
    assert rot_err == pytest.approx(30.0, abs=1e-6)
    assert trans_err == pytest.approx(0.5, abs=1e-12)
    # Turned in the camera's frame: the same angle.
    local = _pose(rot @ _rotation(axis, 30.0), pose[:, 3])
    assert localization.pose_error(local, pose)[0] == pytest.approx(30.0,
                                                                    abs=1e-6)


# The command's inputs ------------------------------------------------------


def _write_json(path, value):
  with open(path, "w") as f:
    json.dump(value, f)
  return str(path)


def test_read_pose_round_trips(tmp_path):
  pose = _pose(_rotation([1, -2, 0.5], 33.0), [0.1, -3.0, 2.5])
  full = np.concatenate([pose, [[0, 0, 0, 1]]], 0)
  np.save(tmp_path / "full.npy", full)
  np.save(tmp_path / "short.npy", pose)
  files = [str(tmp_path / "full.npy"), str(tmp_path / "short.npy"),
           _write_json(tmp_path / "bare4.json", full.tolist()),
           _write_json(tmp_path / "bare3.json", pose.tolist()),
           _write_json(tmp_path / "frame.json",
                       {"file_path": "./test/r_0",
                        "transform_matrix": full.tolist()})]
  for path in files:
    read = localization.read_pose(path)
    assert read.shape == (3, 4), path
    np.testing.assert_allclose(read, pose, rtol=0, atol=1e-12)


def test_read_pose_errors_name_the_flag_and_file(tmp_path):
  pose = _pose(_rotation([0, 1, 0], 20.0), [0, 0, 4])
  scaled = pose.copy()
  scaled[:, :3] *= 2
  mirrored = pose.copy()
  mirrored[:, 0] *= -1
  cases = {
      str(tmp_path / "missing.json"): "not found",
      _write_json(tmp_path / "square.json", np.eye(3).tolist()): "shape",
      _write_json(tmp_path / "scaled.json", scaled.tolist()): "rotation",
      _write_json(tmp_path / "mirrored.json", mirrored.tolist()): "rotation",
      _write_json(tmp_path / "frame.json", {"file_path": "r_0"}):
          "transform_matrix",
      _write_json(tmp_path / "ragged.json", [[1, 0], [0, 1, 0]]): "not a pose",
  }
  np.save(tmp_path / "vector.npy", np.zeros(12))
  cases[str(tmp_path / "vector.npy")] = "shape"
  with open(tmp_path / "broken.json", "w") as f:
    f.write("{not json")
  cases[str(tmp_path / "broken.json")] = "not a pose"
  for path, fragment in cases.items():
    with pytest.raises(LocalizationError) as e:
      localization.read_pose(path)
    message = str(e.value)
    assert message.startswith("--init_pose: "), message
    assert message.count("--init_pose") == 1, message  # not wrapped twice
    assert path in message and fragment in message, message


def test_read_photo_size_and_rgba(tmp_path):
  rgba = np.zeros((6, 8, 4), np.uint8)
  rgba[..., :3] = [200, 100, 50]
  rgba[:, :4, 3] = 255  # left half opaque, right half transparent
  path = str(tmp_path / "photo.png")
  iio.imwrite(path, rgba)

  with pytest.raises(LocalizationError) as e:
    localization.read_photo(path, 10, 6, True)
  message = str(e.value)
  assert message.startswith("--image: ") and path in message, message
  assert "8x6" in message and "10x6" in message, message

  white = localization.read_photo(path, 8, 6, True)
  black = localization.read_photo(path, 8, 6, False)
  assert white.shape == (6, 8, 3) and white.dtype == np.float32
  colour = np.array([200, 100, 50]) / 255
  np.testing.assert_allclose(white[:, :4], np.broadcast_to(colour, (6, 4, 3)),
                             atol=1e-6)
  np.testing.assert_allclose(white[:, 4:], 1.0)
  np.testing.assert_allclose(black[:, :4], white[:, :4])
  np.testing.assert_allclose(black[:, 4:], 0.0)

  missing = str(tmp_path / "nope.png")
  with pytest.raises(LocalizationError) as e:
    localization.read_photo(missing, 8, 6, True)
  assert str(e.value).startswith("--image: ") and missing in str(e.value)


# Interest regions ----------------------------------------------------------


def test_interest_mask_marks_the_corners_of_squares():
  image = np.full((100, 100, 3), 0.8)
  squares = [(20, 25), (55, 30), (35, 65)]  # top-left (row, col); 14 px
  for r, c in squares:
    image[r:r + 14, c:c + 14] = 0.05
  dilation = 2
  mask = localization.interest_mask(image, 200, dilation)
  assert mask.shape == (100, 100) and mask.dtype == bool
  assert 0 < mask.mean() < 0.2
  dark = image[..., 0] < 0.5
  edges = dark ^ scipy.ndimage.binary_erosion(dark)
  distance = scipy.ndimage.distance_transform_edt(~edges)
  # Every marked pixel is near an edge of a square: none in the flat
  # background (or the flat inside of a square).
  assert distance[mask].max() <= dilation + 3.5
  # Every corner of every square is covered.
  for r, c in squares:
    for cr in (r, r + 13):
      for cc in (c, c + 13):
        assert mask[cr - 2:cr + 3, cc - 2:cc + 3].any(), (cr, cc)

  flat = localization.interest_mask(np.full((60, 80, 3), 0.3), 200, dilation)
  assert flat.shape == (60, 80) and flat.all()

  options = localization.Options(sampling="random")
  assert localization.sampling_mask(image, options).all()
  options = localization.Options(sampling="interest", dilation=dilation)
  np.testing.assert_array_equal(localization.sampling_mask(image, options),
                                mask)


# The optimisation on an analytic scene -------------------------------------

# Soft coloured blobs at different depths: the colour of a ray blends the
# blobs by exp(-d^2 / 2 s^2) of its distance d to their centres (white where
# it meets none). Smooth in the pose, and every degree of freedom shows
# (parallax between the blobs).
_rng = np.random.default_rng(3)
CENTRES = _rng.uniform(-1.2, 1.2, (16, 3)).astype(np.float32)
COLOURS = _rng.uniform(0.0, 1.0, (16, 3)).astype(np.float32)
SIGMA = 0.3


class Blobs(nn.Module):
  """A method model: `colours` (the field), a per-camera `exposure` (as
  appearance rows: a camera outside training must get the zero row) and a
  non-parameter `state` collection (as an occupancy grid)."""

  num_cameras: int

  def setup(self):
    self.colours = self.param("colours", lambda key: jnp.asarray(COLOURS))
    self.exposure = base.per_camera_param(self, "exposure", self.num_cameras,
                                          nn.initializers.zeros, (1,))
    self.gain = self.variable("state", "gain", lambda: jnp.ones((4,)))

  def __call__(self, rays, key, randomized, progress=None):
    rel = jnp.asarray(CENTRES)[None] - rays.origins[:, None]  # [N, K, 3]
    along = jnp.sum(rel * rays.viewdirs[:, None], -1)
    d2 = jnp.sum(rel**2, -1) - along**2
    w = 0.9 * jnp.exp(-d2 / (2 * SIGMA**2)) * (along > 0)
    background = 0.05
    rgb = ((jnp.sum(w[..., None] * self.colours, 1) + background) /
           (jnp.sum(w, 1, keepdims=True) + background))
    camera = rays.camera_index[:, 0]
    # Indexed by a traced value: a host (numpy) table fails to trace.
    rgb = rgb * self.gain.value[camera][:, None] + self.exposure.value[camera]
    return [{"rgb": rgb}]


BLOBS = base.Method(
    name="blobs", fields=ml_collections.ConfigDict,
    build_model=lambda config, scene: Blobs(scene.num_cameras),
    loss_terms=lambda *args: {}, casts_rays=True,
    param_groups=(base.ParamGroup("exposure", prefix="exposure_",
                                  per_camera=True,
                                  match=lambda path: path[-1] == "exposure"),
                  base.FIELD_GROUP))

SIZE = 40


@pytest.fixture(scope="module")
def blobs_scene():
  """(localize, camera, true pose [3, 4], photo [H, W, 3]) of the blobs."""
  model = Blobs(num_cameras=3)
  variables = jax.jit(lambda: model.init(
      jax.random.PRNGKey(0), cameras_lib.pixel_grid(2, 1).xy.reshape(-1, 2),
      method=lambda m, xy: (m.exposure.value, m.gain.value, m.colours)))()
  # As restored from a run: host arrays, three trained exposure rows that
  # would wreck the colour if used for the photo's camera.
  host = jax.tree.map(np.asarray, variables)
  params = host.pop("params")
  params["exposure"] = np.full((3, 1), 0.7, np.float32)
  camera = localization.single_camera(cameras_lib.Cameras.create(
      np.eye(4)[None], SIZE, SIZE, SIZE, 0.0, 10.0))
  true = cameras_lib.pose_spherical(30.0, -25.0, 4.0)[:3]

  @jax.jit
  def render(c2w):
    grid = cameras_lib.pixel_grid(SIZE, SIZE)
    pixels = jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, x.shape[-1])),
                          grid)
    vs = jax.tree.map(jnp.asarray, {
        "params": {**params, "exposure": np.zeros((1, 1), np.float32)},
        "state": host["state"]})
    _, outputs = training.render(model, vs, pixels,
                                 camera.replace(camtoworlds=c2w[None]),
                                 jax.random.PRNGKey(0), False,
                                 base.Progress.at(1, 1))
    return outputs[-1]["rgb"].reshape(SIZE, SIZE, 3)

  photo = np.asarray(render(jnp.asarray(true, jnp.float32)))
  options = localization.Options(iterations=200, batch_size=256,
                                 sampling="random")
  localize = localization.make_localizer(
      BLOBS, model, ml_collections.ConfigDict({"max_steps": 1}), params,
      host, options)
  return localize, camera, true, photo


def _run(scene, start, mask, seed=0):
  localize, camera, _, photo = scene
  c2w, history = localize(camera, jnp.asarray(start, jnp.float32),
                          jnp.asarray(photo), jnp.asarray(mask),
                          jax.random.PRNGKey(seed))
  return np.asarray(c2w, np.float64), np.asarray(history)


def test_localization_recovers_the_pose_of_an_analytic_scene(blobs_scene):
  _, _, true, photo = blobs_scene
  # The photo shows the blobs (not a blank frame).
  assert photo.std() > 0.1 and photo.min() < 0.5
  everywhere = np.ones((SIZE, SIZE), bool)
  for seed in (0, 1):
    rng = np.random.default_rng(seed)
    # 10 degrees about a random axis, and 0.1 per axis.
    axis = rng.normal(size=3)
    start = _pose(_rotation(axis, 10.0) @ true[:, :3],
                  _rotation(axis, 10.0) @ true[:, 3] +
                  rng.choice([-0.1, 0.1], 3))
    rot0, trans0 = localization.pose_error(start, true)
    assert rot0 == pytest.approx(10.0) and trans0 > 0.1
    c2w, history = _run(blobs_scene, start, everywhere, seed)
    rot, trans = localization.pose_error(c2w, true)
    assert history.shape == (200,) and np.isfinite(history).all()
    assert history[-10:].mean() < 0.01 * history[:10].mean(), history
    assert rot < 0.1 and trans < 0.01, (seed, rot, trans)
    np.testing.assert_allclose(c2w[:, :3] @ c2w[:, :3].T, np.eye(3),
                               atol=1e-5)


def test_localization_draws_rays_from_the_mask_only(blobs_scene):
  _, _, true, photo = blobs_scene
  # The photo is black outside the mask: a ray drawn there costs ~0.3.
  mask = np.zeros((SIZE, SIZE), bool)
  mask[:, :SIZE // 2] = True
  wrong = photo.copy()
  wrong[~mask] = 0.0
  scene = blobs_scene[:3] + (wrong,)
  start = _pose(_rotation([1, 1, 0], 10.0) @ true[:, :3],
                _rotation([1, 1, 0], 10.0) @ true[:, 3])
  c2w, history = _run(scene, start, mask)
  assert history[-10:].max() < 1e-5, history
  # Half the image pins the pose less tightly, but it moves most of the way.
  rot, trans = localization.pose_error(c2w, true)
  assert rot < 2.5 and trans < 0.25 * localization.pose_error(start, true)[1]
  _, history = _run(scene, start, np.ones_like(mask))
  assert history[-10:].min() > 0.05, history


# The command ---------------------------------------------------------------


def test_localize_command(tmp_path, tiny_config):
  """localize.py on a run of the tiny NeRF: an initialised checkpoint is
  enough to test the command (the optimisation is tested above)."""
  from jaxnerf.engine import checkpoints, trainer
  train_dir = tiny_config.train_dir
  os.makedirs(train_dir)
  scene = base.SceneInfo(num_cameras=1)
  _, _, state = training.setup(tiny_config, jax.random.PRNGKey(0), scene)
  trainer.write_scene_info(train_dir, scene)
  checkpointer = checkpoints.Checkpointer(train_dir)
  checkpointer.save(0, state)
  checkpointer.close()

  with open(os.path.join(EMBEDDED_LEGO, "transforms_test.json")) as f:
    frame = json.load(f)["frames"][0]
  true = np.asarray(frame["transform_matrix"], np.float64)[:3]
  start = localization.perturb_pose(true, 5.0, 0.05,
                                    np.random.default_rng(0))
  init_pose = _write_json(tmp_path / "guess.json",
                          {"transform_matrix": start.tolist()})
  photo = os.path.join(EMBEDDED_LEGO, frame["file_path"] + ".png")
  small = str(tmp_path / "small.png")
  iio.imwrite(small, np.zeros((40, 50, 3), np.uint8))
  output = str(tmp_path / "pose.json")

  config = ["--config=demo", f"--config.data_dir={EMBEDDED_LEGO}",
            "--config.num_coarse_samples=8", "--config.num_fine_samples=8",
            "--config.netdepth=2", "--config.netwidth=32",
            "--config.netwidth_condition=16", "--train_dir", train_dir]
  env = dict(os.environ, PYTHONPATH=REPO_ROOT, XLA_FLAGS=xla_flags())

  def run(*args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "localize.py"), *config,
         *args], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        env=env)

  def one_line_error(r, *fragments):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for fragment in fragments:
      assert fragment in lines[0], lines[0]

  one_line_error(run("--image", photo, "--init_pose", init_pose,
                     "--bogus", "3"), "--bogus")
  one_line_error(run(f"--image={small}", "--init_pose", init_pose),
                 "--image", small, "50x40", "100x100")

  r = run("--image", photo, f"--init_pose={init_pose}", "--iterations", "3",
          "--batch_size=16", "--sampling", "random", "--output", output)
  assert r.returncode == 0, r.stderr
  with open(output) as f:
    result = json.load(f)
  # The file is signed, so a later run may replace it (someone else's
  # file there is an error: tests/test_cli_flags.py).
  assert result.pop("comment") == "written by jaxnerf (localize.py)"
  assert json.loads(r.stdout) == result
  matrix = np.asarray(result["transform_matrix"])
  assert matrix.shape == (4, 4)
  np.testing.assert_allclose(matrix[3], [0, 0, 0, 1])
  np.testing.assert_allclose(matrix[:3, :3] @ matrix[:3, :3].T, np.eye(3),
                             atol=1e-5)
  # Three small steps from the start, not a jump elsewhere.
  rot, trans = localization.pose_error(matrix[:3], start)
  assert rot < 3.0 and trans < 0.2, (rot, trans)
  assert np.isfinite(result["loss_first"]) and np.isfinite(result["loss_last"])
  assert result["seconds"] > 0
