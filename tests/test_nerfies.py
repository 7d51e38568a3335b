"""dataset_type="nerfies": the Nerfies capture layout; a point projected by
Nerfies' camera model lies on the ray through its pixel."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REPO_ROOT
from jaxnerf.core import cameras
from jaxnerf.engine import config as config_lib
from jaxnerf.data import normalization
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import DatasetError

DATA = os.environ.get("JAXNERF_SHARED_DATA",
                      os.path.join(REPO_ROOT, "..", "shared", "data"))
W, H = 24, 40
IDS = [f"{i:06d}" for i in range(6)]


def _camera(i):
  a = 0.3 * i
  rotation = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0],
                       [np.sin(a), 0, np.cos(a)]])  # world to camera
  position = -rotation.T @ np.array([0.0, 0.0, 5.0])  # looks at the origin
  return dict(orientation=rotation.tolist(), position=position.tolist(),
              focal_length=30.0, principal_point=[11.5, 20.5], skew=0.0,
              pixel_aspect_ratio=1.1, radial_distortion=[0.05, -0.02, 0.0],
              tangential_distortion=[0.001, 0.002], image_size=[W, H])


def _project(cam, x):
  """Nerfies' projection (OpenCV model) of a world point."""
  local = np.asarray(cam["orientation"]) @ (x - np.asarray(cam["position"]))
  u, v = local[:2] / local[2]
  k1, k2, _ = cam["radial_distortion"]
  p1, p2 = cam["tangential_distortion"]
  r2 = u * u + v * v
  radial = 1 + k1 * r2 + k2 * r2 * r2
  ud = u * radial + 2 * p1 * u * v + p2 * (r2 + 2 * u * u)
  vd = v * radial + p1 * (r2 + 2 * v * v) + 2 * p2 * u * v
  f = cam["focal_length"]
  return np.array([f * ud + cam["principal_point"][0],
                   f * cam["pixel_aspect_ratio"] * vd +
                   cam["principal_point"][1]])


def _write_capture(root):
  for folder in ("camera", "rgb/1x", "rgb/2x"):
    os.makedirs(root / folder)
  for i, name in enumerate(IDS):
    (root / "camera" / f"{name}.json").write_text(json.dumps(_camera(i)))
    iio.imwrite(root / "rgb" / "1x" / f"{name}.png",
                np.full((H, W, 3), 10 * i, np.uint8))
    iio.imwrite(root / "rgb" / "2x" / f"{name}.png",
                np.full((H // 2, W // 2, 3), 10 * i, np.uint8))
  (root / "dataset.json").write_text(json.dumps(
      dict(ids=IDS, train_ids=IDS[1:5], val_ids=[IDS[0], IDS[5]])))
  (root / "scene.json").write_text(json.dumps(
      dict(scale=0.1, center=[0, 0, 0], near=0.2, far=0.9)))


def _config(root, **fields):
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "nerfies", str(root), "/tmp/unused", **fields)
  return c


@pytest.mark.parametrize("factor", [1, 2])
def test_projected_points_lie_on_their_rays(tmp_path, factor):
  _write_capture(tmp_path)
  data = load_dataset(_config(tmp_path, factor=factor), "train")
  assert data.names == IDS[1:5]
  assert data.images[0].shape == (H // factor, W // factor, 3)
  scene_from_world = np.linalg.inv(data.world_from_scene)
  x = np.array([0.3, -0.2, 0.4])
  for i, name in enumerate(data.names):
    pixel = _project(_camera(IDS.index(name)), x) / factor
    rays = cameras.cast_rays(data.cameras, cameras.Pixels(
        xy=pixel[None], camera_index=np.array([[i]], np.int32),
        lossmult=np.ones((1, 1))))
    target = normalization.apply_to_points(scene_from_world, x)
    d = rays.directions[0] / np.linalg.norm(rays.directions[0])
    v = target - rays.origins[0]
    assert np.linalg.norm(v - np.dot(v, d) * d) < 1e-5
  # scene.json's bounds are in Nerfies' scaled units: world near = 0.2 / 0.1.
  scale = np.cbrt(np.linalg.det(scene_from_world[:3, :3]))
  assert data.near == pytest.approx(2.0 * scale)
  assert data.far == pytest.approx(9.0 * scale)


def test_val_split_and_errors(tmp_path):
  _write_capture(tmp_path)
  assert load_dataset(_config(tmp_path), "val").names == [IDS[0], IDS[5]]
  with pytest.raises(DatasetError, match=r"rgb/4x: not found for "
                     "config.factor=4"):
    load_dataset(_config(tmp_path, factor=4), "val")
  cam = _camera(0)
  cam["radial_distortion"] = [0.1, 0.0, 0.3]
  (tmp_path / "camera" / f"{IDS[0]}.json").write_text(json.dumps(cam))
  with pytest.raises(DatasetError, match="000000.json: radial_distortion k3"):
    load_dataset(_config(tmp_path), "val")
  del cam["focal_length"]
  (tmp_path / "camera" / f"{IDS[0]}.json").write_text(json.dumps(cam))
  with pytest.raises(DatasetError, match="missing field 'focal_length'"):
    load_dataset(_config(tmp_path), "val")


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA, "captures")),
                    reason="needs ../shared/data/captures (not present)")
def test_cake_loads_as_is():
  data = load_dataset(_config(os.path.join(DATA, "captures", "cake"),
                              factor=8), "val")
  assert data.names == ["000004", "000025", "000045", "000066", "000086"]
  assert data.images[0].shape == (107, 60, 3) and data.cameras.distorted
