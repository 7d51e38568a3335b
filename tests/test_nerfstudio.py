"""nerfstudio transforms.json: write, load, rays equal; intrinsics (global,
per frame, distortion, downscale), splits, errors."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.data import colmap_model, normalization
from jaxnerf.engine import config as config_lib, trainer
from jaxnerf.data.dataset import load_dataset
from jaxnerf.data.loaders import nerfstudio
from jaxnerf.errors import DatasetError

W, H = 16, 12
INTRINSICS = dict(fl_x=20.0, fl_y=21.0, cx=7.5, cy=6.25, w=W, h=H, k1=0.05,
                  k2=-0.01, p1=0.002, p2=-0.001)


def _poses(n):
  poses = []
  for a in np.linspace(0, 1.5, n):
    pos = np.array([3 * np.cos(a), 2.0, 3 * np.sin(a)]) + [10.0, -4.0, 7.0]
    poses.append(cameras.viewmatrix(pos - [10.0, -4.0, 7.0], [0, 1.0, 0],
                                    pos))
  return np.stack(poses)


def _write_scene(root, n=10, factor=None, points=True, **extra):
  os.makedirs(root / "images", exist_ok=True)
  rng = np.random.default_rng(0)
  for i in range(n):
    iio.imwrite(root / "images" / f"f{i:02d}.png",
                rng.integers(0, 256, (H, W, 3), np.uint8))
    if factor:
      os.makedirs(root / f"images_{factor}", exist_ok=True)
      iio.imwrite(root / f"images_{factor}" / f"f{i:02d}.png",
                  rng.integers(0, 256, (H // factor, W // factor, 3),
                               np.uint8))
  ply = None
  if points:
    pts = np.random.default_rng(1).normal(size=(200, 3)) + [10.0, -4.0, 7.0]
    colmap_model.write_ply(str(root / "sparse_pc.ply"), pts,
                           np.zeros((200, 3), np.uint8))
    ply = "sparse_pc.ply"
  # Paths with and without an extension.
  files = [f"images/f{i:02d}" + (".png" if i % 2 else "") for i in range(n)]
  nerfstudio.write_transforms(str(root / "transforms.json"), files,
                              _poses(n), INTRINSICS, ply_file_path=ply,
                              extra=extra)
  return _poses(n)


def _config(root, **fields):
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "nerfstudio", str(root), "/tmp/unused", **fields)
  return c


def test_round_trip_rays_equal(tmp_path):
  poses = _write_scene(tmp_path)
  data = load_dataset(_config(tmp_path), "train")
  assert data.names[0] == "f01" and len(data) == 8  # 0 and 8 held out
  assert data.cameras.distorted
  # The same rays, cast from the written cameras in the written frame and
  # mapped by the stored transform into the loaded (normalised) frame.
  scene_from_world = np.linalg.inv(data.world_from_scene)
  scale = np.cbrt(np.linalg.det(scene_from_world[:3, :3]))
  rotation = scene_from_world[:3, :3] / scale
  k = [INTRINSICS[x] for x in ("k1", "k2", "p1", "p2")]
  reference = cameras.Cameras.create(
      poses[1:2], INTRINSICS["fl_x"], W, H, 1.0, 2.0, fy=INTRINSICS["fl_y"],
      cx=INTRINSICS["cx"], cy=INTRINSICS["cy"], distortion=k)
  expected = cameras.image_rays(reference, 0)
  got = data.image_rays(0)
  np.testing.assert_allclose(
      got.origins, normalization.apply_to_points(scene_from_world,
                                                 expected.origins), atol=1e-5)
  np.testing.assert_allclose(got.directions, expected.directions @ rotation.T,
                             atol=1e-5)
  np.testing.assert_allclose(got.viewdirs, expected.viewdirs @ rotation.T,
                             atol=1e-5)
  # Normalisation: cameras (of all splits) in the unit cube, up to +z.
  poses_scene = data.extras["poses"]
  assert np.abs(poses_scene[:, :, 3]).max() == pytest.approx(1.0, abs=1e-6)
  up = poses_scene[:, :, 1].mean(0)
  np.testing.assert_allclose(up / np.linalg.norm(up), [0, 0, 1], atol=1e-6)
  # near/far from the points, in scene units.
  assert 0 < data.near < data.far
  assert np.all(data.cameras.near < data.cameras.far)


def test_point_colours_reach_the_scene_info(tmp_path):
  """A hand-written ASCII sparse_pc.ply: its uchar colours, /255, in the
  loaded extras and the trainer's ScenePoints."""
  _write_scene(tmp_path)
  (tmp_path / "sparse_pc.ply").write_text(
      "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
      "property float y\nproperty float z\nproperty uchar red\n"
      "property uchar green\nproperty uchar blue\nend_header\n"
      "10 -4 7 255 0 51\n10.5 -4 7 0 102 255\n10 -3.5 7.2 204 153 0\n")
  data = load_dataset(_config(tmp_path), "train")
  expected = np.array([[1, 0, 0.2], [0, 0.4, 1], [0.8, 0.6, 0]], np.float32)
  np.testing.assert_allclose(data.extras["point_colours"], expected,
                             rtol=1e-6)
  points = trainer.scene_info(data).points
  assert points.xyz.shape == (3, 3)
  np.testing.assert_allclose(points.rgb, expected, rtol=1e-6)
  # No colours in the file: none in the scene (the initialisers' random).
  _write_scene(tmp_path)
  ply = (tmp_path / "sparse_pc.ply").read_bytes()
  (tmp_path / "sparse_pc.ply").write_bytes(ply.replace(
      b"property uchar red\nproperty uchar green\nproperty uchar blue\n",
      b"property uchar r\nproperty uchar g\nproperty uchar b\n"))
  data = load_dataset(_config(tmp_path), "train")
  assert "point_colours" not in data.extras
  assert trainer.scene_info(data).points.rgb is None


def test_splits(tmp_path):
  _write_scene(tmp_path)
  names = lambda split, **kw: load_dataset(_config(tmp_path, **kw),
                                           split).names
  assert names("test") == ["f00", "f08"]
  assert names("test", llffhold=4) == ["f00", "f04", "f08"]
  # nerfstudio's: linspace(0, n - 1, ceil(n * fraction), dtype=int).
  assert names("train", train_split_fraction=0.5) == [
      "f00", "f02", "f04", "f06", "f09"]
  assert names("test", train_split_fraction=0.5) == [
      "f01", "f03", "f05", "f07", "f08"]
  _write_scene(tmp_path, train_filenames=["images/f03.png", "images/f04"],
               val_filenames=["images/f09"])
  assert names("train") == ["f03", "f04"]
  assert names("test") == ["f09"]


def test_downscale_factor_scales_intrinsics(tmp_path):
  _write_scene(tmp_path, factor=2)
  full = load_dataset(_config(tmp_path), "test")
  half = load_dataset(_config(tmp_path, factor=2), "test")
  assert half.images[0].shape == (H // 2, W // 2, 3)
  for name in ("fx", "fy", "cx", "cy"):
    np.testing.assert_allclose(getattr(half.cameras, name),
                               getattr(full.cameras, name) / 2)
  with pytest.raises(DatasetError, match=r"images_4: folder not found for "
                     r"config.factor=4; present: images_2"):
    load_dataset(_config(tmp_path, factor=4), "test")


def test_per_frame_intrinsics_and_no_points(tmp_path):
  _write_scene(tmp_path, points=False)
  path = tmp_path / "transforms.json"
  meta = json.loads(path.read_text())
  meta["frames"][0]["fl_x"] = 30.0
  meta["frames"][0]["k1"] = 0.0
  path.write_text(json.dumps(meta))
  data = load_dataset(_config(tmp_path, near=0.3, far=3.0), "test")
  assert data.cameras.fx[0] == 30.0 and data.cameras.fx[1] == 20.0
  assert data.cameras.distortion[0, 0] == 0.0
  assert data.cameras.distortion[1, 0] == INTRINSICS["k1"]
  assert (data.near, data.far) == (0.3, 3.0)


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.pop("frames"), "missing or empty field 'frames'"),
    (lambda m: m["frames"][2].pop("transform_matrix"),
     r"frames\[2\] lacks field 'transform_matrix'"),
    (lambda m: m["frames"][1].update(transform_matrix=[[1, 2]]),
     r"frames\[1\].transform_matrix must be a finite 4x4"),
    (lambda m: m.update(camera_model="OPENCV_FISHEYE"),
     "camera_model 'OPENCV_FISHEYE' is not supported"),
    (lambda m: m.update(k3=0.1), "k3 = 0.1 is not supported"),
    (lambda m: m.pop("fl_x"), "lacks field 'fl_x'"),
    (lambda m: m.update(fl_y="wide"), "fl_y must be a number"),
    (lambda m: m["frames"][0].update(file_path="images/nope.png"),
     r"images/nope.png: image file not found"),
    (lambda m: m.update(val_filenames=["images/x.png"], train_filenames=[]),
     "val_filenames names 'images/x.png', which is not a frame"),
])
def test_errors_name_the_field(tmp_path, edit, message):
  _write_scene(tmp_path)
  path = tmp_path / "transforms.json"
  meta = json.loads(path.read_text())
  edit(meta)
  path.write_text(json.dumps(meta))
  with pytest.raises(DatasetError, match=message):
    load_dataset(_config(tmp_path), "test")
