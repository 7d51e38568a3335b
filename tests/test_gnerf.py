"""GNeRF: the pose prior, the discriminator's and inversion network's
shapes and losses, the stop-gradient separation of the objectives in one
step, the phase schedule, the learned look-at cameras, strided patches and
bad settings."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import EMBEDDED_LEGO
from jaxnerf.core import cameras as cameras_lib
from jaxnerf.core import poses
from jaxnerf.engine import config as config_lib
from jaxnerf.engine import parallel, trainer, training
from jaxnerf.data.dataset import load_dataset
from jaxnerf.engine.trainer import stack_training_data
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.methods.components import adversarial as adv


def tiny_config(tmp_path, **fields):
  c = config_lib.method_config("gnerf")
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(tmp_path / "run"))
  c.update(patch_size=4, patch_stride=2, batch_size=32, gan_disc_width=4,
           gan_inversion_width=4)
  c.update(fields)
  return c


def test_prior_poses_stay_in_the_range_and_look_at_the_origin():
  centres = adv.sample_prior(jax.random.PRNGKey(0), 2000, (30.0, 120.0),
                             (10.0, 80.0), (3.5, 4.5))
  c = np.asarray(centres, np.float64)
  radius = np.linalg.norm(c, axis=-1)
  elevation = np.degrees(np.arcsin(c[:, 2] / radius))
  azimuth = np.degrees(np.arctan2(c[:, 1], c[:, 0]))
  for x, lo, hi in ((radius, 3.5, 4.5), (elevation, 10.0, 80.0),
                    (azimuth, 30.0, 120.0)):
    assert lo - 1e-3 <= x.min() and x.max() <= hi + 1e-3
    # Uniform: the whole range is used, evenly.
    assert x.min() < lo + 0.02 * (hi - lo) and x.max() > hi - 0.02 * (hi - lo)
    assert abs(np.mean(x) - (lo + hi) / 2) < 0.03 * (hi - lo)
  c2w = np.asarray(poses.look_at(centres), np.float64)
  rot = c2w[:, :, :3]
  np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1),
                             np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
  # The viewing axis (-z) points at the origin; the camera's x axis is
  # horizontal (no roll).
  np.testing.assert_allclose(-rot[:, :, 2], -c / radius[:, None], atol=1e-5)
  np.testing.assert_allclose(rot[:, 2, 0], 0.0, atol=1e-5)
  np.testing.assert_allclose(c2w[:, :, 3], c, atol=1e-5)
  # Blender's default: the upper hemisphere at one radius.
  blender = np.asarray(adv.sample_prior(
      jax.random.PRNGKey(1), 500, (0.0, 360.0), (0.0, 90.0),
      (4.0311, 4.0311)))
  np.testing.assert_allclose(np.linalg.norm(blender, axis=-1), 4.0311,
                             rtol=1e-5)
  assert blender[:, 2].min() >= 0


def test_look_at_is_finite_and_a_rotation_at_the_pole():
  c2w = np.asarray(poses.look_at(jnp.array([[0.0, 0.0, 4.0]])))
  rot = c2w[0, :, :3]
  assert np.all(np.isfinite(c2w))
  np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-6)
  np.testing.assert_allclose(rot[:, 2], [0, 0, 1], atol=1e-6)


def test_phase_schedule_by_hand():
  weights = lambda step: np.asarray(adv.phase_weights(step, 10, 25))
  for step, expected in ((0, (1, 0)), (9, (1, 0)), (10, (1, 1)),
                         (24, (1, 1)), (25, (0, 1)), (1000, (0, 1))):
    np.testing.assert_array_equal(weights(step), expected, err_msg=step)
  # No phase A at all: refinement from the start.
  np.testing.assert_array_equal(adv.phase_weights(0, 0, 0), (0, 1))


def init_networks(config, size=4, batch=3):
  x = jnp.zeros((batch, size, size, 3))
  d = adv.discriminator_of(config).init(jax.random.PRNGKey(0), x)["params"]
  i = adv.inversion_of(config).init(jax.random.PRNGKey(1), x)["params"]
  return d, i


@pytest.mark.parametrize("size", [4, 16])
def test_network_shapes_and_a_valid_pose(tmp_path, size):
  config = tiny_config(tmp_path)
  d, i = init_networks(config, size)
  x = jax.random.uniform(jax.random.PRNGKey(2), (3, size, size, 3),
                         minval=-1, maxval=1)
  logits = adv.discriminator_of(config).apply({"params": d}, x)
  pred = adv.inversion_of(config).apply({"params": i}, x)
  assert logits.shape == (3,) and pred.shape == (3, 3)
  c2w = np.asarray(adv.inversion_pose(pred, 4.0), np.float64)
  assert c2w.shape == (3, 3, 4)
  rot = c2w[:, :, :3]
  np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1),
                             np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
  np.testing.assert_allclose(c2w[:, :, 3], 4.0 * np.asarray(pred), rtol=1e-6)


def test_losses_by_hand():
  # Cross-entropy on logits (0, ln 3): target 1 -> (ln 2 + ln 4/3) / 2,
  # target 0 -> (ln 2 + ln 4) / 2.
  logits = jnp.array([0.0, np.log(3.0)])
  np.testing.assert_allclose(adv.bce_logits(logits, 1),
                             (np.log(2) + np.log(4 / 3)) / 2, rtol=1e-6)
  np.testing.assert_allclose(adv.bce_logits(logits, 0),
                             (np.log(2) + np.log(4)) / 2, rtol=1e-6)
  # R1 of D(x) = sum(w x^2) per patch: grad 2 w x, so E ||2 w x||^2.
  w = jnp.array(0.5)
  apply_d = lambda p, x: jnp.sum(p * x ** 2, axis=(1, 2, 3))
  x = jnp.arange(2 * 2 * 2 * 3, dtype=jnp.float32).reshape(2, 2, 2, 3) / 10
  expected = np.mean(np.sum((2 * 0.5 * np.asarray(x)) ** 2, axis=(1, 2, 3)))
  np.testing.assert_allclose(adv.r1_penalty(w, apply_d, x), expected,
                             rtol=1e-6)


def test_each_objective_reaches_only_its_own_parameters(tmp_path):
  config = tiny_config(tmp_path)
  d, i = init_networks(config)
  keys = jax.random.split(jax.random.PRNGKey(3), 4)
  inputs = {
      "discriminator": d, "inversion": i,
      "gan_position": jax.random.normal(keys[0], (5, 3)),
      # The generator: its patches (the field's gradient flows through).
      "fake": jax.random.uniform(keys[1], (3, 4, 4, 3), minval=-1),
      "centres": jax.random.normal(keys[2], (3, 3)),
  }
  real = jax.random.uniform(keys[3], (2, 4, 4, 3), minval=-1)
  camera = jnp.array([1, 3])

  def terms(v):
    params = {k: v[k] for k in ("discriminator", "inversion",
                                "gan_position")}
    return adv.gan_terms(config, v["fake"], v["centres"], real, camera,
                         params)

  # d term / d input, for every term at once (one compilation).
  jacobian = jax.jit(jax.jacrev(terms))(inputs)
  owner = {"gan_d": "discriminator", "gan_r1": "discriminator",
           "gan_g": "fake", "inversion": "inversion",
           "pose_prior": "gan_position"}
  assert set(jacobian) == set(owner)
  for term, own in owner.items():
    g = {k: float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(v)))
         for k, v in jacobian[term].items()}
    assert g[own] > 0, (term, g)
    for other, value in g.items():
      if other != own:
        assert value == 0.0, (term, other, g)


def test_learned_cameras_look_at_the_origin_from_their_centres(tmp_path):
  module = adv.AdversarialPoses(
      config=ml_collections.FrozenConfigDict(tiny_config(tmp_path)),
      num_cameras=2)
  cams = cameras_lib.Cameras.create(np.tile(np.eye(4)[None], (2, 1, 1)),
                                    50.0, 8, 8, 2.0, 6.0)
  cams = jax.tree.map(jnp.asarray, cams.device_arrays())
  variables = module.init(jax.random.PRNGKey(0), cams,
                          method="refine_cameras")
  # Every camera starts at one prior point off the pole, radius 4.0311.
  start = np.asarray(variables["params"]["gan_position"])
  np.testing.assert_allclose(np.linalg.norm(start, axis=-1), 4.0311,
                             rtol=1e-5)
  centres = np.array([[1.0, 2.0, 3.0], [-3.0, 0.5, 1.0]], np.float32)
  variables = {"params": {**variables["params"], "gan_position": centres}}
  out = module.apply(variables, cams, method="refine_cameras")
  np.testing.assert_allclose(out.camtoworlds, poses.look_at(centres),
                             atol=1e-6)
  # A view of another split (rows 0) keeps its given centre.
  moved = cams.replace(camtoworlds=jnp.asarray(poses.look_at(centres)))
  zero = {"params": {**variables["params"],
                     "gan_position": np.zeros((2, 3), np.float32)}}
  np.testing.assert_allclose(
      module.apply(zero, moved, method="refine_cameras").camtoworlds,
      poses.look_at(centres), atol=1e-5)


def test_strided_patches_cover_a_larger_region():
  y, x = cameras_lib.patch_pixels(jnp.array([3]), jnp.array([5]), 4, 6)
  np.testing.assert_array_equal(y[0, :, 0], [3, 9, 15, 21])
  np.testing.assert_array_equal(x[0, 0], [5, 11, 17, 23])
  assert y.shape == x.shape == (1, 4, 4)
  # The engine's draws: inside 30x20 images at stride 6 (span 19).
  unit, pixel = training.draw_indices(jax.random.PRNGKey(0), 16 * 50, 3,
                                      600, False, 4, 30, 6)
  pixel = np.asarray(pixel).reshape(50, 4, 4)
  rows, cols = pixel // 30, pixel % 30
  assert rows.max() < 20 and cols.max() < 30
  np.testing.assert_array_equal(np.diff(rows, axis=1), 6)
  np.testing.assert_array_equal(np.diff(cols, axis=2), 6)
  # Stride 1 draws what the engine drew before strides.
  _, before = training.draw_indices(jax.random.PRNGKey(4), 32, 3, 600,
                                    False, 4, 30)
  key_y, key_x = jax.random.split(jax.random.PRNGKey(4), 3)[1:]
  y0 = jax.random.randint(key_y, (2, 1, 1), 0, 20 - 4 + 1)
  x0 = jax.random.randint(key_x, (2, 1, 1), 0, 30 - 4 + 1)
  dy, dx = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
  np.testing.assert_array_equal(before,
                                ((y0 + dy) * 30 + x0 + dx).reshape(-1))


@pytest.mark.parametrize("fields,says", [
    (dict(gan_elevation_range=(0.0, 100.0)), "config.gan_elevation_range"),
    (dict(gan_radius_range=(4.0, 3.0)), "config.gan_radius_range"),
    (dict(gan_phase_a_steps=10, gan_phase_ab_steps=5),
     "config.gan_phase_ab_steps"),
    (dict(gan_r1_weight=-1.0), "config.gan_r1_weight"),
    (dict(gan_fake_patches=-2), "config.gan_fake_patches"),
    (dict(patch_size=0), "config.patch_size"),
    (dict(pose_init="given"), "config.pose_init"),
])
def test_bad_settings_are_one_line_errors(tmp_path, fields, says):
  config = tiny_config(tmp_path, **fields)
  with pytest.raises(ConfigError) as info:
    adv.check_config(config)
  message = str(info.value)
  assert message.startswith(says) and "\n" not in message


def test_a_stride_too_wide_for_the_images_is_refused(tmp_path):
  config = tiny_config(tmp_path, patch_size=16, patch_stride=7,
                       batch_size=256)
  data = training.TrainData(rgb=jnp.zeros((1, 100 * 100, 3)),
                            image_width=100)
  with pytest.raises(ConfigError, match=r"^config.patch_stride: patches of "
                     r"16 pixels 7 apart span 106"):
    trainer.check_patches(config, data, parallel.make_mesh())
  config.patch_stride = 6  # spans 91 pixels: accepted
  trainer.check_patches(config, data, parallel.make_mesh())


def test_the_train_step_follows_the_phases(tmp_path):
  """Through the engine's step: in phase A the photometric term is off (the
  se(3) corrections, which only it reaches, stay put) while the
  discriminator learns; in phase B the discriminator and inversion
  network get nothing and the poses learn from the images."""
  config = tiny_config(tmp_path, hash_levels=2, hash_log2_size=8,
                       hash_max_resolution=16, occupancy_resolution=8,
                       march_steps=16, samples_budget=1024,
                       render_samples_per_ray=8, gan_phase_a_steps=5,
                       gan_phase_ab_steps=10)
  dataset = load_dataset(config, "train", max_images=2)
  method, model, state = training.setup(
      config, jax.random.PRNGKey(0), base.SceneInfo(num_cameras=2))
  data = jax.tree.map(jnp.asarray, stack_training_data(dataset, True))
  cameras = jax.tree.map(jnp.asarray, dataset.cameras.device_arrays())
  step = jax.jit(functools.partial(training.train_step, method, model,
                                   config))
  def changed(a, b, *path):
    pick = lambda tree: jax.tree.leaves(
        functools.reduce(lambda x, k: x[k], path, tree))
    return any(not np.array_equal(x, y) for x, y in zip(pick(a), pick(b)))

  new, stats = step(state, data, cameras, jax.random.PRNGKey(1))
  assert {"loss/gan_d", "loss/gan_g", "loss/gan_r1", "loss/inversion",
          "loss/pose_prior"} <= set(stats)
  assert changed(new.params, state.params, "gan", "discriminator")
  assert changed(new.params, state.params, "gan", "inversion")
  assert not changed(new.params, state.params, "cameras", "pose_delta")
  late = state.replace(step=jnp.asarray(10, jnp.int32))
  new, stats = step(late, data, cameras, jax.random.PRNGKey(1))
  assert float(stats["loss/gan_d"]) == 0.0
  assert not changed(new.params, late.params, "gan", "discriminator")
  assert not changed(new.params, late.params, "gan", "inversion")
  assert changed(new.params, late.params, "cameras", "pose_delta")
  assert changed(new.params, late.params, "gan", "gan_position")
