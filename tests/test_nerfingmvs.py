"""NerfingMVS's depth prior (jaxnerf/data/depth_prior.py) and depth term
(jaxnerf/methods/nerfingmvs.py): hand-checked geometry on tiny cameras."""

import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import EMBEDDED_LEGO
from jaxnerf.core import cameras as cameras_lib
from jaxnerf.data import colmap_model, depth_prior
from jaxnerf.data.dataset import load_dataset
from jaxnerf.engine import config as config_lib
from jaxnerf.errors import ConfigError, DatasetError
from jaxnerf.methods import nerfingmvs

W, H, F = 40, 30, 20.0


def pose(x: float = 0.0) -> np.ndarray:
  """[3, 4] OpenGL camera-to-world at (x, 0, 0) looking down -z."""
  return np.concatenate([np.eye(3), [[x], [0.0], [0.0]]], 1)


def cam(x: float = 0.0) -> depth_prior.Pinhole:
  return depth_prior.Pinhole(pose(x), F, F, W / 2, H / 2, W, H)


def test_sparse_depth_is_the_depth_along_the_axis_in_the_track_only():
  points = np.array([[0.0, 0.0, -2.0],    # the centre pixel, depth 2
                     [1.0, 0.5, -4.0],    # x = 20 + 20/4, y = 15 - 10/4
                     [0.0, 0.0, -3.0],    # not in the track
                     [0.0, 0.0, 1.0],     # behind the camera
                     [10.0, 0.0, -1.0]])  # outside the image
  xy, depth = depth_prior.sparse_depths(
      cam(), points, np.array([True, True, False, True, True]))
  np.testing.assert_allclose(xy, [[20.0, 15.0], [25.0, 12.5]])
  np.testing.assert_allclose(depth, [2.0, 4.0])


def test_densify_of_a_plane_is_exact_and_consistency_error_is_its_scale():
  # A plane tilted in x: depth linear in disparity over the image, so the
  # interpolated map is exact inside the sparse points' hull.
  xs = np.linspace(-3, 3, 7)
  points = np.array([[x, y, -5.0 - 0.3 * x] for x in xs
                     for y in np.linspace(-2, 2, 5)])
  xy, depth = depth_prior.sparse_depths(cam(), points,
                                        np.ones(len(points), bool))
  dense = depth_prior.densify(xy, depth, W, H)
  truth = depth_prior.project(cam(), depth_prior.backproject(
      cam(), dense))[1]  # (the map's own depths, re-projected)
  np.testing.assert_allclose(truth, dense, rtol=1e-9)
  # Exact on the plane: every pixel's back-projection lies on it.
  world = depth_prior.backproject(cam(), dense)
  inside = (slice(8, 22), slice(8, 28))
  np.testing.assert_allclose(world[inside][..., 2],
                             -5.0 - 0.3 * world[inside][..., 0], atol=1e-9)

  # Two views of a fronto-parallel plane at depth 5, exact: error 0 where
  # view 0's pixels land inside view 1; 1 where they fall outside.
  plane = np.full((H, W), 5.0)
  err = depth_prior.consistency_error(cam(0.0), plane, [cam(1.0)], [plane],
                                      topk=4)
  # x = 1 at depth 5 shifts by F / 5 = 4 pixels: columns >= 4 are seen.
  np.testing.assert_allclose(err[:, 5:], 0.0, atol=1e-12)
  np.testing.assert_allclose(err[:, :3], 1.0)
  # A depth 10 % too far: its points sit at 5.5 where view 1 sees 5.
  err = depth_prior.consistency_error(cam(0.0), plane * 1.1, [cam(1.0)],
                                      [plane], topk=4)
  np.testing.assert_allclose(err[:, 6:], 0.5 / 5.5, rtol=1e-9)
  # topk: the mean of the k smallest over the other views.
  err = depth_prior.consistency_error(
      cam(0.0), plane, [cam(1.0), cam(0.5)], [plane, plane * 1.2], topk=1)
  np.testing.assert_allclose(err[:, 6:], 0.0, atol=1e-12)
  err = depth_prior.consistency_error(
      cam(0.0), plane, [cam(1.0), cam(0.5)], [plane, plane * 1.2], topk=2)
  np.testing.assert_allclose(err[:, 6:], 0.5 * (1.0 / 5.0), rtol=1e-9)


def test_ranges_are_the_clamped_relative_interval_and_hold_the_depth():
  depth = np.array([[2.0, 4.0, 8.0]])
  error = np.array([[0.0, 0.1, 0.9]])
  lo, hi = depth_prior.depth_range(depth, error, 0.05, 0.15)
  np.testing.assert_allclose(lo, [[1.9, 3.6, 6.8]])
  np.testing.assert_allclose(hi, [[2.1, 4.4, 9.2]])

  # Metric rays: t is depth; clipped to the camera's [near, far]; unknown
  # depth (0) keeps the camera's bounds.
  c = depth_prior.Pinhole(pose(), F, F, 1.5, 0.5, 3, 1)
  bounds = depth_prior.ray_bounds(c, np.array([[2.0, 7.9, 0.0]]),
                                  np.zeros((1, 3)), 1.0, 8.0, False, 0.05,
                                  0.15)
  np.testing.assert_allclose(bounds[0], [[1.9, 2.1], [7.505, 8.0],
                                         [1.0, 8.0]], rtol=1e-6)

  # NDC rays: the range's t is that of the true point on the NDC ray.
  c2w = np.concatenate([np.eye(3), [[0.2], [-0.1], [0.3]]], 1)
  c = depth_prior.Pinhole(c2w, F, F, W / 2, H / 2, W, H)
  depth = np.full((H, W), 3.0) + np.linspace(0, 2, W)
  rays = cameras_lib.pinhole_rays(c2w[None], H, W, F, 0.0, 1.0, ndc=True)
  world = depth_prior.backproject(c, depth)
  z_ndc = 1 + 2 / world[..., 2]
  t_true = (z_ndc - rays.origins[0, ..., 2]) / rays.directions[0, ..., 2]
  np.testing.assert_allclose(depth_prior.ndc_t(c, depth), t_true, atol=1e-5)
  bounds = depth_prior.ray_bounds(c, depth, np.zeros((H, W)), 0.0, 1.0,
                                  True, 0.05, 0.15)
  assert np.all(bounds[..., 0] < t_true) and np.all(t_true < bounds[..., 1])


def test_depth_term_against_a_hand_value_and_its_gradient():
  near = jnp.array([[1.0], [0.0]])
  far = jnp.array([[2.0], [2.0]])
  acc = jnp.array([1.0, 0.5])
  ones = jnp.ones((2, 1))
  # Ray 0: (2 - 1.5) / 0.5 = 1; ray 1: (0.5 - 0.5 * 1) / 1 = 0.
  term = lambda d: nerfingmvs.depth_term(d, acc, near, far, ones)
  depth = jnp.array([2.0, 0.5])
  assert float(term(depth)) == pytest.approx(0.5)
  # d/d depth_0 = 2 r_0 / h_0 / N = 2.
  np.testing.assert_allclose(jax.grad(term)(depth), [2.0, 0.0], atol=1e-6)


def opencv_image(image_id: int, c2w: np.ndarray, scale: float):
  """A COLMAP image of an OpenGL camera, in a frame scaled by `scale`."""
  r_cv = c2w[:, :3] @ np.diag([1.0, -1.0, -1.0])
  rotation = r_cv.T
  return colmap_model.Image(
      image_id, colmap_model.rotation_to_qvec(rotation),
      -rotation @ (c2w[:, 3] * scale), 1, f"view{image_id}.png",
      np.zeros((0, 2)), np.zeros(0, np.int64))


def plane_model(folder, scale=0.5, empty_track=False):
  """Three views of the plane z = -5 - 0.2 x with a 9 x 7 grid of points,
  written as a COLMAP model in a frame `scale` times the dataset's."""
  poses = [pose(x) for x in (0.0, 0.4, -0.4)]
  images = {i + 1: opencv_image(i + 1, p, scale) for i, p in enumerate(poses)}
  points = np.array([[x, y, -5.0 - 0.2 * x] for x in np.linspace(-3, 3, 9)
                     for y in np.linspace(-2.4, 2.4, 7)])
  tracks = [np.array([[1, 0], [2, 0], [3, 0]], np.int32)] * len(points)
  if empty_track:
    tracks[4] = np.zeros((0, 2), np.int32)
  model = colmap_model.Model(
      {1: colmap_model.Camera(1, "PINHOLE", W, H,
                              np.array([F, F, W / 2, H / 2]))},
      images, np.arange(1, len(points) + 1), points * scale,
      np.zeros((len(points), 3), np.uint8), np.zeros(len(points)), tracks)
  colmap_model.write_model(model, str(folder))
  train = types.SimpleNamespace(
      names=["view1", "view2", "view3"],
      cameras=cameras_lib.Cameras.create(np.stack(poses), F, W, H, 1.0,
                                         20.0))
  return train


def prior_config(folder, **overrides):
  c = ml_collections.ConfigDict(depth_prior.fields())
  c.depth_prior_model = str(folder)
  c.update(overrides)
  return c


def test_priors_of_a_plane_seen_from_a_scaled_model_frame(tmp_path):
  train = plane_model(tmp_path / "model")
  priors = depth_prior.fit_train_priors(prior_config(tmp_path / "model"),
                                        train)
  assert priors.counts == [63, 63, 63]
  for c, depth, error in zip(priors.cameras, priors.depths, priors.errors):
    world = depth_prior.backproject(c, depth)[8:22, 12:28]
    # The model's frame (half the dataset's) is aligned back: the prior
    # lies on the dataset's plane and agrees between the views.
    np.testing.assert_allclose(world[..., 2], -5.0 - 0.2 * world[..., 0],
                               atol=1e-6)
    # (bilinear sampling of a map linear in disparity: ~3e-5 off)
    assert np.abs(error[8:22, 12:28]).max() < 1e-4


def test_missing_model_empty_track_and_bad_fields_are_one_line_errors(
    tmp_path):
  c = config_lib.method_config("nerfingmvs")
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(tmp_path / "run"))
  with pytest.raises(DatasetError, match=r"config.depth_prior_model: .*"
                     r"sparse/0/points3D.bin not found") as e:
    load_dataset(c, "train", max_images=2)
  assert "\n" not in str(e.value)
  c.depth_prior_model = str(tmp_path / "nowhere")
  with pytest.raises(DatasetError, match="nowhere/points3D.bin"):
    load_dataset(c, "train", max_images=2)

  train = plane_model(tmp_path / "model", empty_track=True)
  with pytest.raises(DatasetError, match=r"model/points3D.bin: point 5 has "
                     "an empty track"):
    depth_prior.fit_train_priors(prior_config(tmp_path / "model"), train)

  for field, value in [("depth_prior_error_max", 1.5),
                       ("depth_prior_error_min", -0.1),
                       ("depth_prior_topk", 0),
                       ("depth_loss_weight", -1.0)]:
    bad = prior_config(tmp_path / "model", **{field: value})
    with pytest.raises(ConfigError, match=f"config.{field}: must be"):
      depth_prior.check_fields(bad)
  # Without a model and not required: the plain sampler, but no depth term.
  c.depth_prior_model = ""
  c.depth_prior_required = 0
  assert load_dataset(c, "train", max_images=1).ray_bounds is None
  c.depth_loss_weight = 0.1
  with pytest.raises(ConfigError, match="config.depth_loss_weight: the "
                     "depth term needs a depth prior"):
    load_dataset(c, "train", max_images=1)
