"""The shared Dataset: pose-estimation experiments (corrupted training
poses with the true ones kept)."""

import numpy as np
import pytest

from conftest import EMBEDDED_LEGO
from jaxnerf.core import poses
from jaxnerf.engine.config import base_config
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import ConfigError


def _config(**fields):
  c = base_config()
  c.data_dir = EMBEDDED_LEGO
  c.update(fields)
  return c


def test_pose_noise_corrupts_only_the_training_split_reproducibly():
  clean = load_dataset(_config(), "train", max_images=5)
  assert clean.true_camtoworlds is None
  np.testing.assert_array_equal(clean.reference_camtoworlds,
                                clean.camtoworlds)
  noisy = load_dataset(_config(pose_noise=0.15, seed=3), "train",
                       max_images=5)
  np.testing.assert_array_equal(noisy.true_camtoworlds, clean.camtoworlds)
  np.testing.assert_array_equal(noisy.reference_camtoworlds,
                                clean.camtoworlds)
  # BARF's noise, in the world frame by default, seeded by config.seed.
  expected = poses.perturb(clean.camtoworlds, 0.15, seed=3, frame="world")
  np.testing.assert_allclose(noisy.camtoworlds, expected, atol=1e-6)
  in_camera_frame = load_dataset(_config(pose_noise=0.15, seed=3,
                                         pose_noise_frame="camera"),
                                 "train", max_images=5)
  np.testing.assert_allclose(in_camera_frame.camtoworlds, poses.perturb(
      clean.camtoworlds, 0.15, seed=3, frame="camera"), atol=1e-6)
  again = load_dataset(_config(pose_noise=0.15, seed=3), "train")
  np.testing.assert_array_equal(again.camtoworlds[:5], noisy.camtoworlds)
  # The images and intrinsics are untouched, and so is the test split.
  np.testing.assert_array_equal(noisy.images[0], clean.images[0])
  assert noisy.cameras.fx[0] == clean.cameras.fx[0]
  test = load_dataset(_config(pose_noise=0.15), "test", max_images=2)
  assert test.true_camtoworlds is None
  sub = noisy.subset([3, 1])
  np.testing.assert_array_equal(sub.true_camtoworlds,
                                clean.camtoworlds[[3, 1]])


def test_identity_initial_poses():
  ds = load_dataset(_config(pose_init="identity"), "train", max_images=3)
  np.testing.assert_array_equal(ds.camtoworlds, np.tile(np.eye(3, 4),
                                                        (3, 1, 1)))
  assert not np.allclose(ds.true_camtoworlds, ds.camtoworlds)


@pytest.mark.parametrize("split", ["train", "test"])
def test_focal_error_scales_every_split_s_focal_lengths(split):
  clean = load_dataset(_config(), split, max_images=2)
  off = load_dataset(_config(focal_error=0.1), split, max_images=2)
  np.testing.assert_allclose(off.cameras.fx, 1.1 * clean.cameras.fx,
                             rtol=1e-6)
  np.testing.assert_allclose(off.cameras.fy, 1.1 * clean.cameras.fy,
                             rtol=1e-6)
  np.testing.assert_array_equal(off.cameras.cx, clean.cameras.cx)
  np.testing.assert_array_equal(off.camtoworlds, clean.camtoworlds)
  # Rays of the miscalibrated camera: the corner ray turns towards the
  # optical axis by the focal ratio.
  corner = lambda ds: ds.image_rays(0).directions[0, 0]
  a, b = corner(clean), corner(off)
  axis = -clean.camtoworlds[0][:3, 2]
  lateral = lambda d: np.linalg.norm(d / (d @ axis) - axis)
  np.testing.assert_allclose(lateral(b), lateral(a) / 1.1, rtol=1e-4)


@pytest.mark.parametrize("fields,message", [
    (dict(pose_init="random"), "config.pose_init: unknown 'random'"),
    (dict(pose_noise=-0.1), "config.pose_noise: must be >= 0"),
    (dict(pose_noise=0.1, pose_noise_frame="screen"),
     "config.pose_noise_frame: unknown 'screen'"),
    (dict(focal_error=-1.0), "config.focal_error: must be > -1")])
def test_bad_pose_experiment_fields_are_one_line_errors(fields, message):
  with pytest.raises(ConfigError, match=message):
    load_dataset(_config(**fields), "train", max_images=1)
