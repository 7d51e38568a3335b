"""Multiscale Blender: box downsampling, conversion and loading."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.engine import config as config_lib
from jaxnerf.data import images
from jaxnerf.data.dataset import DatasetError, load_dataset
from jaxnerf.data.loaders import blender, multiscale


def make_blender_scene(root, size=16, views=2):
  """A tiny Blender-layout scene with random RGBA images."""
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    os.makedirs(os.path.join(root, split))
    frames = []
    for i in range(views):
      rgba = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
      iio.imwrite(os.path.join(root, split, f"r_{i}.png"), rgba)
      frames.append({"file_path": f"./{split}/r_{i}",
                     "transform_matrix": cameras.pose_spherical(
                         30.0 * i, -30.0, 4.0).tolist()})
    with open(os.path.join(root, f"transforms_{split}.json"), "w") as f:
      json.dump({"camera_angle_x": 0.69, "frames": frames}, f)


def config_for(data_dir):
  c = config_lib.load_config("mipnerf_multiscale")
  with c.unlocked():
    c.data_dir = str(data_dir)
  return c


def test_area_downsample_is_box_filter_for_integer_factors():
  x = np.random.default_rng(0).random((12, 8, 4))
  np.testing.assert_allclose(multiscale.area_downsample(x, 6, 4),
                             blender.downsample(x, 2), atol=1e-12)
  np.testing.assert_allclose(multiscale.area_downsample(x, 3, 2),
                             blender.downsample(x, 4), atol=1e-12)


def test_area_downsample_non_integer_factor_keeps_the_mean():
  x = np.random.default_rng(1).random((25, 25, 3))
  y = multiscale.area_downsample(x, 12, 12)
  assert y.shape == (12, 12, 3)
  np.testing.assert_allclose(y.mean(axis=(0, 1)), x.mean(axis=(0, 1)),
                             atol=1e-12)
  # Constant images stay constant.
  np.testing.assert_allclose(
      multiscale.area_downsample(np.full((25, 25, 1), 0.3), 12, 12), 0.3)


def test_make_multiscale_metadata(tmp_path):
  make_blender_scene(tmp_path / "scene")
  meta = multiscale.make_multiscale(str(tmp_path / "scene"),
                                    str(tmp_path / "ms"))
  assert sorted(meta) == ["test", "train"]
  train = meta["train"]
  assert train["width"] == [16, 8, 4, 2] * 2
  assert train["label"] == [0, 1, 2, 3] * 2
  np.testing.assert_allclose(train["lossmult"], [1, 4, 16, 64] * 2)
  focal = cameras.focal_from_fov(16, 0.69)
  np.testing.assert_allclose(train["focal"][:4],
                             [focal, focal / 2, focal / 4, focal / 8])
  on_disk = json.load(open(tmp_path / "ms" / "metadata.json"))
  assert on_disk["train"]["file_path"][5] == "images_train/001_d1.png"
  # The 1/2 scale image is the box-filtered full one (8-bit rounding).
  full = images.read_image(str(tmp_path / "scene" / "train" / "r_0.png"))
  half = images.read_image(str(tmp_path / "ms" / "images_train" /
                                "000_d1.png"))
  np.testing.assert_allclose(half, blender.downsample(full, 2), atol=0.6 / 255)


def test_load_multiscale(tmp_path):
  make_blender_scene(tmp_path / "scene")
  multiscale.make_multiscale(str(tmp_path / "scene"), str(tmp_path / "ms"))
  data = load_dataset(config_for(tmp_path / "ms"), "test")
  assert len(data) == 8
  assert data.extras["scale"] == [0, 1, 2, 3] * 2
  assert [im.shape for im in data.images[:4]] == [
      (16, 16, 3), (8, 8, 3), (4, 4, 3), (2, 2, 3)]
  assert (data.height, data.width) == (16, 16)
  for j in range(4):
    rays = data.rays[j]
    assert rays.shape == data.images[j].shape[:2]
    np.testing.assert_allclose(rays.lossmult, 4.0**j)
    np.testing.assert_array_equal(rays.camera_index, j)
    np.testing.assert_allclose(rays.near, 2.0)
    np.testing.assert_allclose(rays.far, 6.0)
  # Every halving doubles the pixel footprint, hence the cone radius.
  r = [float(np.mean(data.rays[j].radii)) for j in range(4)]
  np.testing.assert_allclose(np.array(r[1:]) / np.array(r[:-1]), 2.0,
                             rtol=2e-2)
  # Each scale spans the same field of view: same corner-to-corner extent.
  extent = lambda d: d[-1, -1] - d[0, 0] + (d[1, 1] - d[0, 0])
  np.testing.assert_allclose(extent(data.rays[0].directions),
                             extent(data.rays[3].directions), atol=1e-5)
  assert len(load_dataset(config_for(tmp_path / "ms"), "test",
                          max_images=3)) == 3


def test_load_multiscale_errors(tmp_path):
  with pytest.raises(DatasetError, match="metadata.json"):
    load_dataset(config_for(tmp_path), "train")
  with open(tmp_path / "metadata.json", "w") as f:
    json.dump({"train": {"file_path": []}}, f)
  with pytest.raises(DatasetError, match="no split 'test'"):
    load_dataset(config_for(tmp_path), "test")
  with pytest.raises(DatasetError, match="lacks fields"):
    load_dataset(config_for(tmp_path), "train")
