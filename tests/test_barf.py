"""BARF: pose corrections learn from the photometric loss, the pose
evaluation (alignment, errors, test cameras in the learned frame) and the
run through the trainer and evaluator."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import EMBEDDED_LEGO
from jaxnerf.core import cameras as cameras_lib, poses
from jaxnerf.engine import config as config_lib
from jaxnerf.engine import training
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import ConfigError
from jaxnerf.methods import barf, base
from jaxnerf.methods.components import camera_refinement


def tiny_config(tmp_path, **fields):
  c = config_lib.method_config("barf")
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(tmp_path / "run"))
  c.update(num_coarse_samples=16, num_fine_samples=0, netdepth=2,
           netwidth=32, netwidth_condition=16, batch_size=256, max_steps=100,
           print_every=5, save_every=1000, render_every=0, chunk=2048)
  c.update(fields)
  return c


def small_cameras(camtoworlds, size=20):
  """Lego's cameras (focal for 100 pixels) at size x size pixels."""
  focal = cameras_lib.focal_from_fov(size, 0.6911112070083618)
  return cameras_lib.Cameras.create(camtoworlds, focal, size, size, 2.0, 6.0)


@pytest.mark.parametrize("frame", poses.FRAMES)
def test_a_training_step_on_perturbed_poses_lowers_the_pose_error(tmp_path,
                                                                  frame):
  """A scene whose field is known exactly: images rendered by the model's
  own (random) field at the true poses. From perturbed poses, train steps
  with the field almost frozen must move the poses towards the truth (no
  alignment needed: the fixed field fixes the frame), with the corrections
  in either frame."""
  config = tiny_config(tmp_path, coarse_to_fine=False, max_deg_point=3,
                       deg_view=2, randomized=False, pose_lr_init=5e-3,
                       pose_lr_final=5e-3, lr_init=1e-6, lr_final=1e-6,
                       pose_frame=frame)
  true = load_dataset(config, "train", max_images=4).camtoworlds
  method, model, state = training.setup(config, jax.random.PRNGKey(3),
                                        base.SceneInfo(num_cameras=4))
  size = 20
  pixels = [cameras_lib.pixel_grid(size, size, i) for i in range(4)]
  pixels = jax.tree.map(lambda *x: jnp.asarray(np.stack(x).reshape(
      4, size * size, -1)), *pixels)
  flat = jax.tree.map(lambda x: x.reshape(4 * size * size, -1), pixels)
  rgb = training.render(
      model, {"params": state.params}, flat, jax.tree.map(
          jnp.asarray, small_cameras(true).device_arrays()),
      jax.random.PRNGKey(0), False, base.Progress.at(0, 100))[1][-1]["rgb"]
  rgb = rgb.reshape(4, size * size, 3)
  assert float(jnp.std(rgb)) > 0.02  # the scene has contrast to fit

  noisy = small_cameras(poses.perturb(true, 0.03, seed=1, frame=frame)
                        .astype(np.float32))
  data = training.TrainData(rgb=rgb, pixels=pixels)
  step = jax.jit(functools.partial(training.train_step, method, model,
                                   config))
  cams = jax.tree.map(jnp.asarray, noisy.device_arrays())

  def errors(params):
    learned = model.apply({"params": params}, cams, method="refine_cameras")
    rot, trans = poses.pose_errors(np.asarray(learned.camtoworlds), true)
    return rot.mean(), trans.mean()

  rot0, trans0 = errors(state.params)
  for _ in range(25):
    state, _ = step(state, data, cams, jax.random.PRNGKey(0))
  rot1, trans1 = errors(state.params)
  # Measured: 1.52 -> 0.17 degrees, 0.102 -> 0.016 units.
  assert rot1 < 0.3 * rot0 and trans1 < 0.3 * trans0, (rot0, rot1, trans0,
                                                       trans1)


def test_an_unknown_pose_frame_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match="config.pose_frame: unknown 'screen'"):
    training.setup(tiny_config(tmp_path, pose_frame="screen"),
                   jax.random.PRNGKey(0), base.SceneInfo(num_cameras=2))


def _context(model, params, given, true, config):
  return base.EvalContext(
      model=model, variables={"params": params}, config=config, step=0,
      train_cameras=small_cameras(given), true_camtoworlds=true,
      train_names=tuple(f"c{i}" for i in range(len(true))))


@pytest.mark.parametrize("frame", poses.FRAMES)
def test_pose_metrics_and_test_cameras_in_the_learned_frame(tmp_path, frame):
  """Cameras learned in a rotated, scaled, shifted copy of the world have
  zero error after alignment, and test cameras are moved into that copy."""
  config = tiny_config(tmp_path, pose_frame=frame)
  true = load_dataset(config, "train", max_images=6).camtoworlds
  model = training.build_model(barf.METHOD, config,
                               base.SceneInfo(num_cameras=6))
  params = training.create_train_state(barf.METHOD, model, config,
                                       jax.random.PRNGKey(0), 6).params
  params = jax.tree.map(np.asarray, params)
  sim = poses.Similarity(1.3, Rotation.from_rotvec([0.2, -0.5, 0.1])
                         .as_matrix(), np.array([0.3, 0.0, -0.2]))
  learned_world = sim.apply_to_poses(true.astype(np.float64))
  # The given poses are off by known corrections, which the learned rows
  # undo exactly: exp(delta) o given = learned in the world frame,
  # given o exp(delta) = learned in the camera's.
  delta = np.random.default_rng(0).normal(size=(6, 6)) * 0.1
  given = poses.move(learned_world, -delta, frame)
  if frame == "world":
    np.testing.assert_allclose(poses.compose(poses.se3_exp(delta), given),
                               learned_world, atol=1e-12)
  params["cameras"]["pose_delta"] = delta.astype(np.float32)
  metrics = camera_refinement.pose_metrics(_context(model, params, given, true, config))
  assert metrics["rotation_error_deg"] < 1e-3
  assert metrics["translation_error"] < 1e-3  # x100
  assert len(metrics["camera_errors"]) == 6
  assert metrics["camera_errors"][2]["name"] == "c2"

  # Without the corrections the errors are those of the perturbation.
  params["cameras"]["pose_delta"] *= 0
  metrics = camera_refinement.pose_metrics(_context(model, params, given, true, config))
  assert metrics["rotation_error_deg"] > 3.0

  params["cameras"]["pose_delta"] = delta.astype(np.float32)
  test = load_dataset(config, "test", max_images=2).cameras
  moved = camera_refinement.aligned_eval_cameras(
      _context(model, params, given, true, config), test)
  np.testing.assert_allclose(moved.camtoworlds,
                             sim.apply_to_poses(test.camtoworlds), atol=1e-4)
  assert moved.fx[0] == test.fx[0]


def read_json(path):
  with open(path) as f:
    return json.load(f)


def test_noisy_poses_through_the_trainer_and_evaluator(tmp_path):
  """pose_noise corrupts the training poses; the pose errors reach
  TensorBoard every metrics_every steps and metrics.json after eval, where
  test views get test-time pose optimisation."""
  from test_methods import read_scalars
  from jaxnerf.engine import evaluator, trainer
  config = tiny_config(tmp_path, pose_noise=0.1, max_steps=6,
                       metrics_every=3, test_view_limit=1, test_time_steps=2,
                       save_video=False, batch_size=64)
  state, history = trainer.train(config)
  logged = {h["step"]: h["rotation_error_deg"] for h in history
            if "rotation_error_deg" in h}
  assert sorted(logged) == [0, 3, 6]
  # Noise 0.1 per se(3) coordinate: about 0.1 sqrt(3) rad per camera.
  assert 5.0 < logged[0] < 15.0, logged
  scalars = read_scalars(tmp_path / "run" / "summaries")
  assert sorted(scalars["train/rotation_error_deg"]) == [0, 3, 6]
  assert "train/translation_error" in scalars
  result = evaluator.evaluate(config)
  saved = read_json(tmp_path / "run" / "eval_test_6" / "metrics.json")
  assert len(saved["camera_errors"]) == 100
  np.testing.assert_allclose(saved["rotation_error_deg"], logged[6],
                             rtol=1e-4)
  assert np.isfinite(result["mean"]["psnr"])


def test_learned_focal_is_scored_against_the_true_one(tmp_path):
  """focal_error gives every camera 1.1x its focal; a learned residual of
  log(1.05 / 1.1) leaves it 5 % long of the truth."""
  config = tiny_config(tmp_path, learn_intrinsics=True, focal_error=0.1)
  true = load_dataset(config, "train", max_images=3).camtoworlds
  model = training.build_model(barf.METHOD, config,
                               base.SceneInfo(num_cameras=3))
  params = jax.tree.map(np.asarray, training.create_train_state(
      barf.METHOD, model, config, jax.random.PRNGKey(0), 3).params)
  params["cameras"]["intrinsics"] = np.array(
      [np.log(1.05 / 1.1), 0.0, 0.0, 0.0], np.float32)
  context = _context(model, params, true, true, config)
  given = context.train_cameras
  context = dataclasses.replace(context, train_cameras=given.replace(
      fx=given.fx * 1.1, fy=given.fy * 1.1))
  metrics = camera_refinement.pose_metrics(context)
  np.testing.assert_allclose(metrics["focal_error_percent"], 5.0, rtol=1e-4)
  np.testing.assert_allclose(metrics["focal_x"], 1.05 * given.fx[0],
                             rtol=1e-5)
  np.testing.assert_allclose(metrics["focal_y"], 1.1 * given.fy[0],
                             rtol=1e-5)


def test_shared_focal_scales_both_axes_by_the_fx_residual():
  """shared_focal: fy takes fx's residual and the fy residual has no
  effect (its gradient is zero); without it each axis takes its own."""
  cams = small_cameras(np.eye(4)[None, :3])
  residual = jnp.array([np.log(1.05), 0.3, 0.0, 0.0])
  shared = camera_refinement.refine_intrinsics(cams, residual, shared_focal=True)
  np.testing.assert_allclose(shared.fx, 1.05 * cams.fx, rtol=1e-6)
  np.testing.assert_allclose(shared.fy, 1.05 * cams.fy, rtol=1e-6)
  own = camera_refinement.refine_intrinsics(cams, residual)
  np.testing.assert_allclose(own.fy, np.exp(0.3) * cams.fy, rtol=1e-6)
  grad = jax.grad(lambda d: jnp.sum(camera_refinement.refine_intrinsics(
      cams, d, shared_focal=True).fy))(residual)
  np.testing.assert_allclose(grad, [1.05 * cams.fy[0], 0, 0, 0], rtol=1e-6)
