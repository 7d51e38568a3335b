"""dataset_type="colmap": a COLMAP model and its photos, per-image cameras,
rays through each observed keypoint pass through its 3D point."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.data import colmap_model, normalization
from jaxnerf.engine import config as config_lib
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import DatasetError

from conftest import REPO_ROOT

# The read-only development data (../shared/data of the main checkout).
DATA = os.environ.get("JAXNERF_SHARED_DATA",
                      os.path.join(REPO_ROOT, "..", "shared", "data"))
CAMERAS = {1: ("OPENCV", 40, 30, [36.0, 38.0, 19.5, 15.25, 0.08, -0.02,
                                  0.003, -0.002]),
           2: ("SIMPLE_RADIAL", 32, 24, [30.0, 16.0, 12.0, -0.1])}


def _project(camera, qvec, tvec, x):
  """COLMAP's projection (OpenCV distortion) of world points x [P, 3]."""
  k = colmap_model.camera_intrinsics(camera)
  local = x @ colmap_model.qvec_to_rotation(qvec).T + tvec
  xd, yd = cameras.distort(local[:, 0] / local[:, 2],
                           local[:, 1] / local[:, 2],
                           np.broadcast_to(k["distortion"], (len(x), 4)))
  return np.stack([k["fx"] * xd + k["cx"], k["fy"] * yd + k["cy"]], -1)


def _write_scene(root, n=6):
  """n images alternating between two cameras (different sizes and
  models), looking at a cloud of points that they observe."""
  rng = np.random.default_rng(0)
  points = rng.uniform(-1, 1, (60, 3)) + [0.0, 0.0, 8.0]
  cams = {i: colmap_model.Camera(i, m, w, h, np.array(p))
          for i, (m, w, h, p) in CAMERAS.items()}
  images, tracks = {}, [[] for _ in points]
  os.makedirs(root / "images")
  for i in range(n):
    angle = 0.05 * (i - n / 2)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                         [-np.sin(angle), 0, np.cos(angle)]])
    tvec = np.array([0.3 * i, -0.1 * i, 0.2])
    qvec = colmap_model.rotation_to_qvec(rotation)
    cam = cams[1 + i % 2]
    xys = _project(cam, qvec, tvec, points)
    seen = np.nonzero((xys[:, 0] > 0) & (xys[:, 0] < cam.width) &
                      (xys[:, 1] > 0) & (xys[:, 1] < cam.height))[0]
    for k, p in enumerate(seen):
      tracks[p].append((i + 1, k))
    images[i + 1] = colmap_model.Image(i + 1, qvec, tvec, cam.id,
                                       f"im{i}.png", xys[seen],
                                       seen.astype(np.int64) + 100)
    iio.imwrite(root / "images" / f"im{i}.png",
                rng.integers(0, 255, (cam.height, cam.width, 3), np.uint8))
  model = colmap_model.Model(
      cams, images, np.arange(len(points)) + 100, points,
      (np.arange(len(points) * 3) * 7 % 256).reshape(-1, 3).astype(np.uint8),
      np.zeros(len(points)),
      [np.array(t, np.int32).reshape(-1, 2) for t in tracks])
  colmap_model.write_model(model, str(root / "sparse" / "0"))
  return model


def _config(root, **fields):
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "colmap", str(root), "/tmp/unused", **fields)
  return c


def _ray_distance(rays_o, rays_d, x):
  d = rays_d / np.linalg.norm(rays_d, axis=-1, keepdims=True)
  v = x - rays_o
  return np.linalg.norm(v - np.sum(v * d, -1, keepdims=True) * d, axis=-1)


def test_rays_through_keypoints_hit_their_points(tmp_path):
  model = _write_scene(tmp_path)
  data = load_dataset(_config(tmp_path, llffhold=3), "train")
  assert data.names == ["im1", "im2", "im4", "im5"]
  # Per-image cameras: sizes and intrinsics alternate.
  assert [im.shape[:2] for im in data.images] == [(24, 32), (30, 40),
                                                  (30, 40), (24, 32)]
  np.testing.assert_allclose(data.cameras.distortion[0], [-0.1, 0, 0, 0])
  scene_from_world = np.linalg.inv(data.world_from_scene)
  pixels_checked = 0
  for i, name in enumerate(data.names):
    image = model.image_by_name()[name + ".png"]
    pixels = cameras.Pixels(
        xy=image.xys.astype(np.float64),
        camera_index=np.full((len(image.xys), 1), i, np.int32),
        lossmult=np.ones((len(image.xys), 1)))
    rays = cameras.cast_rays(data.cameras, pixels)
    target = normalization.apply_to_points(
        scene_from_world, model.points[image.point3d_ids - 100])
    dist = _ray_distance(rays.origins, rays.directions, target)
    assert dist.max() < 1e-4
    pixels_checked += len(dist)
  assert pixels_checked > 50
  # The points' colours as 0-1, in the model's order.
  np.testing.assert_array_equal(data.extras["point_colours"],
                                (model.colors / 255).astype(np.float32))
  # near/far per image from the points it observes.
  assert np.all(data.cameras.near > 0) and np.all(data.cameras.far >
                                                  data.cameras.near)


def test_camera_size_differs_from_image(tmp_path):
  _write_scene(tmp_path)
  for name in os.listdir(tmp_path / "images"):
    image = iio.imread(tmp_path / "images" / name)
    iio.imwrite(tmp_path / "images" / name, np.repeat(np.repeat(
        image, 2, 0), 2, 1))
  data = load_dataset(_config(tmp_path, llffhold=3), "test")
  assert data.images[0].shape[:2] == (60, 80)
  np.testing.assert_allclose(data.cameras.fx[0], 2 * CAMERAS[1][3][0])
  np.testing.assert_allclose(data.cameras.cy[0], 2 * CAMERAS[1][3][3])


def test_errors(tmp_path):
  with pytest.raises(DatasetError, match="has no COLMAP model"):
    load_dataset(_config(tmp_path), "train")
  _write_scene(tmp_path)
  os.remove(tmp_path / "images" / "im2.png")
  with pytest.raises(DatasetError, match=r"images/im2.png: image file not "
                     "found"):
    load_dataset(_config(tmp_path, llffhold=3), "train")


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA, "phototourism")),
                    reason="needs ../shared/data/phototourism (not present)")
def test_liberty40_loads_as_is():
  c = _config(os.path.join(DATA, "phototourism", "liberty40"))
  data = load_dataset(c, "test", max_images=2)
  assert len(data) == 2 and data.images[0].shape == (1200, 800, 3)
  assert data.cameras.distorted and data.cameras.fx[0] > 1000
  assert 0 < data.near < data.far


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA, "captures")),
                    reason="needs ../shared/data/captures (not present)")
def test_cake_colmap_model_reprojects(tmp_path):
  """The cake's own COLMAP model (made at rgb/4x size) with the 1x frames:
  the intrinsics scale by 4 and observed keypoints land within a pixel of
  their points' rays."""
  cake = os.path.join(DATA, "captures", "cake")
  os.symlink(os.path.join(cake, "rgb", "1x"), tmp_path / "images")
  os.makedirs(tmp_path / "sparse")
  os.symlink(os.path.join(cake, "colmap", "sparse", "0"),
             tmp_path / "sparse" / "0")
  data = load_dataset(_config(tmp_path, llffhold=40), "test")
  model = colmap_model.read_model(str(tmp_path / "sparse" / "0"))
  scene_from_world = np.linalg.inv(data.world_from_scene)
  index = {int(p): i for i, p in enumerate(model.point_ids)}
  errors = []
  for i, name in enumerate(data.names):
    image = model.image_by_name()[name + ".png"]
    keep = image.point3d_ids >= 0
    xy = image.xys[keep] * 4  # pixel corners scale with the image
    pixels = cameras.Pixels(xy=xy, camera_index=np.full((len(xy), 1), i,
                                                        np.int32),
                            lossmult=np.ones((len(xy), 1)))
    rays = cameras.cast_rays(data.cameras, pixels)
    target = normalization.apply_to_points(
        scene_from_world,
        model.points[[index[int(p)] for p in image.point3d_ids[keep]]])
    depth = np.sum((target - rays.origins) * rays.directions, -1) / np.sum(
        rays.directions**2, -1)
    # Distance to the ray in 1x pixels at that depth.
    errors.append(_ray_distance(rays.origins, rays.directions, target) /
                  depth * data.cameras.fx[i])
  errors = np.concatenate(errors)
  assert np.median(errors) < 4 * 0.5  # the model's 0.46 px at 4x size
