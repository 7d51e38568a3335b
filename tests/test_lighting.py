"""The light vector of cameras and rays (jaxnerf/core/lighting.py) and its
reading from the generator's records by the Blender loader."""

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest

from jaxnerf.core import cameras, lighting
from jaxnerf.data.dataset import load_dataset
from jaxnerf.engine.config import base_config
from jaxnerf.errors import DatasetError


def test_records_encode_by_hand():
  cam = np.array([1.0, 2.0, 3.0])
  vec = lighting.encode([{"type": "collocated", "power": 4 * math.pi,
                          "color": [1.0, 0.5, 0.0]}], cam, "lights")
  np.testing.assert_allclose(lighting.position(vec), cam)
  np.testing.assert_allclose(lighting.intensity(vec), [1.0, 0.5, 0.0])
  assert bool(lighting.collocated(vec))
  sh = np.arange(27.0).reshape(9, 3)
  vec = lighting.encode([{"type": "point", "power": 8 * math.pi,
                          "position": [0, 0, 5]},
                         {"type": "environment", "kind": "sky",
                          "strength": 1.0, "sh": sh.tolist()}], cam, "l")
  np.testing.assert_allclose(lighting.position(vec), [0, 0, 5])
  np.testing.assert_allclose(lighting.intensity(vec), [2.0, 2.0, 2.0])
  assert not bool(lighting.collocated(vec)) and vec[7] == 1.0
  np.testing.assert_allclose(lighting.environment_sh(vec), sh)


@pytest.mark.parametrize("records,message", [
    ([{"type": "area", "power": 1.0}], "l[0].type: unknown light type"),
    ([{"type": "point", "power": 1.0}], "l[0]: a point light needs"),
    ([{"type": "environment", "kind": "sky", "strength": 1.0}],
     "needs its 'sh'"),
    ([{"type": "environment", "kind": "sky"}], "needs field 'strength'"),
    ([{"type": "collocated", "power": 1.0}] * 2, "at most one point light"),
])
def test_bad_records_name_the_light(records, message):
  with pytest.raises(ValueError, match=message.replace("[", r"\[")):
    lighting.encode(records, np.zeros(3), "l")


def test_rays_carry_their_camera_light_and_default_to_a_flash():
  poses = np.stack([np.eye(4)[:3]] * 2)
  light = np.zeros((2, lighting.LIGHT_DIM))
  light[1, 3:6] = 7.0
  cams = cameras.Cameras.create(poses, 10.0, 4, 3, 0.1, 5.0, light=light)
  rays = cameras.image_rays(cams, 1)
  assert rays.light.shape == (3, 4, lighting.LIGHT_DIM)
  np.testing.assert_allclose(rays.light[..., 3:6], 7.0)
  bare = cameras.image_rays(cameras.Cameras.create(poses, 10.0, 4, 3, 0.1,
                                                   5.0), 0)
  assert bare.light.shape == (3, 4, lighting.NONE_DIM)
  flash = np.asarray(lighting.resolve(bare.light, bare.origins, 3.0))
  np.testing.assert_allclose(flash[..., :3], bare.origins)
  np.testing.assert_allclose(flash[..., 3:7],
                             np.broadcast_to([3.0, 3.0, 3.0, 1.0], (3, 4, 4)))


def _scene(root, frames):
  (root / "train").mkdir(parents=True)
  for i, _ in enumerate(frames):
    iio.imwrite(root / "train" / f"r_{i}.png", np.zeros((4, 4, 4), np.uint8))
  meta = {"camera_angle_x": 0.7, "frames": [
      dict({"file_path": f"./train/r_{i}", "transform_matrix":
            np.eye(4).tolist()}, **extra) for i, extra in enumerate(frames)]}
  (root / "transforms_train.json").write_text(json.dumps(meta))
  c = base_config()
  c.dataset_type, c.data_dir = "blender", str(root)
  return c


def test_the_loader_reads_each_frame_light(tmp_path):
  flash = {"lights": [{"type": "collocated", "power": 4 * math.pi}]}
  data = load_dataset(_scene(tmp_path / "a", [flash, flash]), "train")
  assert data.cameras.light.shape == (2, lighting.LIGHT_DIM)
  np.testing.assert_allclose(data.cameras.light[:, 3:6], 1.0)
  with pytest.raises(DatasetError, match=r"frames\[1\] names no 'lights'"):
    load_dataset(_scene(tmp_path / "b", [flash, {}]), "train")
  with pytest.raises(DatasetError, match=r"frames\[0\].lights\[0\].type"):
    load_dataset(_scene(tmp_path / "c", [
        {"lights": [{"type": "sun", "power": 1}]}]), "train")
  bare = load_dataset(_scene(tmp_path / "d", [{}]), "train")
  assert bare.cameras.light.shape == (1, lighting.NONE_DIM)
