"""COLMAP model reading (binary and text) against a model pycolmap writes
with known values, our writer's round trip, and the conversions."""

import os

import numpy as np
import pytest

from jaxnerf.data import colmap_model
from jaxnerf.errors import DatasetError

QUAT_XYZW = np.array([0.1, 0.2, 0.3, 0.9]) / np.linalg.norm([0.1, 0.2, 0.3,
                                                            0.9])
TRANSLATION = np.array([0.5, -0.2, 3.0])
OPENCV = [50.0, 52.0, 32.0, 24.0, 0.1, -0.05, 0.001, 0.002]


def _pycolmap_model(folder, text=False):
  """Two cameras (OPENCV, SIMPLE_RADIAL), two images, one 3D point seen by
  both, written by COLMAP itself."""
  pycolmap = pytest.importorskip("pycolmap")
  r = pycolmap.Reconstruction()
  r.add_camera_with_trivial_rig(pycolmap.Camera(
      camera_id=1, model="OPENCV", width=64, height=48, params=OPENCV))
  r.add_camera_with_trivial_rig(pycolmap.Camera(
      camera_id=2, model="SIMPLE_RADIAL", width=80, height=60,
      params=[70.0, 40.0, 30.0, -0.2]))
  for image_id, camera_id, name, pose in (
      (1, 1, "a.png", pycolmap.Rigid3d(pycolmap.Rotation3d(QUAT_XYZW),
                                       TRANSLATION)),
      (2, 2, "b.png", pycolmap.Rigid3d())):
    image = pycolmap.Image(
        image_id=image_id, name=name, camera_id=camera_id,
        points2D=[pycolmap.Point2D(np.array([10.5, 20.25])),
                  pycolmap.Point2D(np.array([30.0, 40.0]))])
    r.add_image_with_trivial_frame(image, pose)
  track = pycolmap.Track()
  point_id = r.add_point3D(np.array([0.1, 0.2, 0.3]), track,
                           np.array([255, 128, 0], np.uint8))
  r.add_observation(point_id, pycolmap.TrackElement(1, 0))
  r.add_observation(point_id, pycolmap.TrackElement(2, 1))
  os.makedirs(folder, exist_ok=True)
  if text:
    r.write_text(folder)
  else:
    r.write(folder)
  return point_id


@pytest.mark.parametrize("text", [False, True])
def test_reads_what_colmap_writes(tmp_path, text):
  point_id = _pycolmap_model(str(tmp_path), text)
  if text:
    for f in ("cameras.bin", "images.bin", "points3D.bin"):
      assert not (tmp_path / f).exists()
  model = colmap_model.read_model(str(tmp_path))
  assert model.cameras[1].model == "OPENCV"
  assert (model.cameras[1].width, model.cameras[1].height) == (64, 48)
  np.testing.assert_allclose(model.cameras[1].params, OPENCV)
  assert model.cameras[2].model == "SIMPLE_RADIAL"
  np.testing.assert_allclose(model.cameras[2].params, [70, 40, 30, -0.2])
  a = model.image_by_name()["a.png"]
  assert a.camera_id == 1
  # COLMAP stores (w, x, y, z).
  np.testing.assert_allclose(a.qvec, np.roll(QUAT_XYZW, 1), atol=1e-12)
  np.testing.assert_allclose(a.tvec, TRANSLATION)
  np.testing.assert_allclose(a.xys, [[10.5, 20.25], [30.0, 40.0]])
  np.testing.assert_array_equal(a.point3d_ids, [point_id, -1])
  b = model.image_by_name()["b.png"]
  np.testing.assert_array_equal(b.point3d_ids, [-1, point_id])
  np.testing.assert_allclose(model.points, [[0.1, 0.2, 0.3]])
  np.testing.assert_array_equal(model.colors, [[255, 128, 0]])
  np.testing.assert_array_equal(model.tracks[0], [[1, 0], [2, 1]])


def test_pose_conventions_match_pycolmap(tmp_path):
  pycolmap = pytest.importorskip("pycolmap")
  _pycolmap_model(str(tmp_path))
  ours = colmap_model.read_model(str(tmp_path)).image_by_name()["a.png"]
  theirs = pycolmap.Reconstruction(str(tmp_path)).images[1]
  np.testing.assert_allclose(ours.rotation,
                             theirs.cam_from_world().rotation.matrix(),
                             atol=1e-12)
  np.testing.assert_allclose(ours.center, theirs.projection_center(),
                             atol=1e-12)
  # OpenGL camera-to-world: the camera looks down -z, its +y is OpenCV's -y.
  c2w = colmap_model.camtoworld_opengl(ours)
  np.testing.assert_allclose(c2w[:, 3], theirs.projection_center(), atol=1e-12)
  np.testing.assert_allclose(-c2w[:, 2], theirs.viewing_direction(),
                             atol=1e-12)
  np.testing.assert_allclose(-c2w[:, 1], ours.rotation[1], atol=1e-12)


def test_our_writer_round_trips_and_colmap_reads_it(tmp_path):
  _pycolmap_model(str(tmp_path / "src"))
  model = colmap_model.read_model(str(tmp_path / "src"))
  for text in (False, True):
    out = tmp_path / ("txt" if text else "bin")
    colmap_model.write_model(model, str(out), binary=not text)
    again = colmap_model.read_model(str(out))
    for k, cam in model.cameras.items():
      np.testing.assert_array_equal(again.cameras[k].params, cam.params)
      assert again.cameras[k].model == cam.model
    for k, im in model.images.items():
      np.testing.assert_array_equal(again.images[k].qvec, im.qvec)
      np.testing.assert_array_equal(again.images[k].xys, im.xys)
      assert again.images[k].name == im.name
    np.testing.assert_array_equal(again.points, model.points)
  pycolmap = pytest.importorskip("pycolmap")
  back = pycolmap.Reconstruction(str(tmp_path / "bin"))
  assert back.num_reg_images() == 2 and back.num_points3D() == 1


def test_quaternion_conversions():
  rng = np.random.default_rng(0)
  for q in rng.normal(size=(20, 4)):
    q = q / np.linalg.norm(q) * np.sign(q[0])
    r = colmap_model.qvec_to_rotation(q)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(colmap_model.rotation_to_qvec(r), q,
                               atol=1e-10)
  # A quarter turn about z: (w, x, y, z) = (cos 45, 0, 0, sin 45).
  np.testing.assert_allclose(
      colmap_model.qvec_to_rotation([np.cos(np.pi / 4), 0, 0,
                                     np.sin(np.pi / 4)]),
      [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_intrinsics_of_each_model():
  cam = lambda model, params: colmap_model.Camera(1, model, 10, 10,
                                                   np.array(params, float))
  k = colmap_model.camera_intrinsics(cam("SIMPLE_RADIAL", [5, 4, 3, 0.1]))
  assert (k["fx"], k["fy"], k["cx"], k["cy"]) == (5, 5, 4, 3)
  np.testing.assert_array_equal(k["distortion"], [0.1, 0, 0, 0])
  k = colmap_model.camera_intrinsics(cam("OPENCV", OPENCV))
  np.testing.assert_array_equal(k["distortion"], OPENCV[4:])
  k = colmap_model.camera_intrinsics(cam("RADIAL", [5, 4, 3, 0.1, 0.2]))
  np.testing.assert_array_equal(k["distortion"], [0.1, 0.2, 0, 0])
  with pytest.raises(DatasetError, match="model.sparse: camera 1 uses the "
                     "OPENCV_FISHEYE model, which is not supported"):
    colmap_model.camera_intrinsics(cam("OPENCV_FISHEYE", [1] * 8),
                                   "model.sparse")


def test_malformed_models_are_named(tmp_path):
  with pytest.raises(DatasetError, match="no COLMAP model"):
    colmap_model.read_model(str(tmp_path))
  _pycolmap_model(str(tmp_path))
  data = (tmp_path / "images.bin").read_bytes()
  (tmp_path / "images.bin").write_bytes(data[:-5])
  with pytest.raises(DatasetError, match=r"images.bin: truncated file"):
    colmap_model.read_model(str(tmp_path))
  (tmp_path / "images.bin").write_bytes(data + b"xx")
  with pytest.raises(DatasetError, match=r"images.bin: 2 trailing bytes"):
    colmap_model.read_model(str(tmp_path))


def test_ply_round_trip(tmp_path):
  rng = np.random.default_rng(1)
  points = rng.normal(size=(50, 3)).astype(np.float32)
  colors = rng.integers(0, 256, (50, 3)).astype(np.uint8)
  colmap_model.write_ply(str(tmp_path / "p.ply"), points, colors)
  np.testing.assert_array_equal(
      colmap_model.read_ply_points(str(tmp_path / "p.ply")), points)
  ascii_ply = ("ply\nformat ascii 1.0\nelement vertex 2\nproperty double x\n"
               "property double y\nproperty double z\nend_header\n"
               "1 2 3\n4 5 6\n")
  (tmp_path / "a.ply").write_text(ascii_ply)
  np.testing.assert_array_equal(
      colmap_model.read_ply_points(str(tmp_path / "a.ply")),
      [[1, 2, 3], [4, 5, 6]])
  xyz, rgb = colmap_model.read_ply(str(tmp_path / "p.ply"))
  np.testing.assert_array_equal(rgb, colors / 255.0)
  assert colmap_model.read_ply(str(tmp_path / "a.ply"))[1] is None
  float_ply = ascii_ply.replace("end_header", "property float red\n"
                                "property float green\nproperty float blue\n"
                                "end_header").replace("3\n4", "3 0.25 1 0\n4")
  (tmp_path / "f.ply").write_text(float_ply.replace("6\n", "6 0 0.5 0.75\n"))
  np.testing.assert_array_equal(
      colmap_model.read_ply(str(tmp_path / "f.ply"))[1],
      [[0.25, 1, 0], [0, 0.5, 0.75]])
  (tmp_path / "f.ply").write_text(float_ply.replace("6\n", "6 0 2 0\n"))
  with pytest.raises(DatasetError, match="f.ply: vertex colours outside 0-1"):
    colmap_model.read_ply(str(tmp_path / "f.ply"))
  (tmp_path / "bad.ply").write_text("not a ply")
  with pytest.raises(DatasetError, match="bad.ply: not a PLY file"):
    colmap_model.read_ply_points(str(tmp_path / "bad.ply"))
