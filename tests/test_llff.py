"""The LLFF loader on a tiny synthetic scene and on data/fern_small."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

from jaxnerf.core import cameras
from jaxnerf.engine.config import base_config
from jaxnerf.data.dataset import DatasetError, load_dataset
from jaxnerf.data.loaders import llff

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERN_SMALL = os.path.join(REPO_ROOT, "data", "fern_small")

N = 10
HWF = (48.0, 64.0, 50.0)  # original images: 64 wide, 48 high, focal 50
# LLFF rotation columns [down, right, back] of an OpenGL identity camera.
LLFF_IDENTITY = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _positions():
  i = np.arange(N, dtype=np.float64)
  return np.stack([0.1 * i, 0.05 * (i % 3), -0.02 * i], axis=-1)


def _bounds():
  return np.stack([2.0 + 0.1 * np.arange(N), np.full(N, 20.0)], axis=-1)


def _poses_bounds():
  poses = np.zeros((N, 3, 5))
  poses[:, :, :3] = LLFF_IDENTITY
  poses[:, :, 3] = _positions()
  poses[:, :, 4] = HWF
  return np.concatenate([poses.reshape(N, 15), _bounds()], axis=-1)


def _write_images(folder, height, width, n=N, ext="png"):
  os.makedirs(folder, exist_ok=True)
  for i in range(n):
    image = np.full((height, width, 3), 10 * i + 5, np.uint8)
    iio.imwrite(os.path.join(folder, f"img_{i:02d}.{ext}"), image)


@pytest.fixture
def scene(tmp_path):
  np.save(tmp_path / "poses_bounds.npy", _poses_bounds())
  _write_images(str(tmp_path / "images"), 48, 64)
  _write_images(str(tmp_path / "images_8"), 6, 8)
  (tmp_path / "images_8" / "notes.txt").write_text("not an image")
  return tmp_path


def _config(data_dir, factor=8, llffhold=4, spherify=False):
  c = base_config()
  c.dataset_type = "llff"
  c.data_dir = str(data_dir)
  c.factor = factor
  c.llffhold = llffhold
  c.spherify = spherify
  return c


def test_reorder_poses_hand_derived():
  np.testing.assert_allclose(llff.reorder_poses(LLFF_IDENTITY[None])[0],
                             np.eye(3))
  # down = -z, right = +x, back = -y: OpenGL right +x, up +z, back -y (a
  # camera looking down +y with +z up).
  pose = np.array([[[0.0, 1.0, 0.0, 7.0], [0.0, 0.0, -1.0, 8.0],
                    [-1.0, 0.0, 0.0, 9.0]]])
  np.testing.assert_allclose(
      llff.reorder_poses(pose)[0],
      [[1.0, 0.0, 0.0, 7.0], [0.0, 0.0, -1.0, 8.0], [0.0, 1.0, 0.0, 9.0]])


def test_loader_poses_scaled_and_recentred(scene):
  ds = load_dataset(_config(scene), "train")
  scale = 1.0 / (2.0 * 0.75)  # min near bound 2 becomes 1 / 0.75
  assert ds.extras["pose_scale"] == pytest.approx(scale)
  poses = ds.extras["poses"]
  assert poses.shape == (N, 3, 4)
  # Identity rotations after the reorder, so the average pose is the identity
  # at the mean centre: recentring only subtracts the mean.
  np.testing.assert_allclose(poses[:, :, :3], np.tile(np.eye(3), (N, 1, 1)),
                             atol=1e-6)
  pos = _positions()
  np.testing.assert_allclose(poses[:, :, 3], (pos - pos.mean(0)) * scale,
                             atol=1e-6)
  np.testing.assert_allclose(ds.extras["bounds"], _bounds() * scale,
                             rtol=1e-6)
  assert ds.extras["bounds"].min() == pytest.approx(1 / 0.75)
  np.testing.assert_allclose(ds.camtoworlds, poses[ds.extras["indices"]])


def test_holdout_indices(scene):
  train = load_dataset(_config(scene, llffhold=4), "train")
  test = load_dataset(_config(scene, llffhold=4), "test")
  np.testing.assert_array_equal(test.extras["indices"], [0, 4, 8])
  np.testing.assert_array_equal(train.extras["indices"],
                                [1, 2, 3, 5, 6, 7, 9])
  assert test.names == ["img_00", "img_04", "img_08"]
  assert len(train) == 7 and len(test) == 3
  # The images are the ones named (constant grey 10 i + 5); camera j of a
  # split is its j-th image.
  for ds in (train, test):
    for j, (i, image) in enumerate(zip(ds.extras["indices"], ds.images)):
      assert image.shape == (6, 8, 3) and image.dtype == np.float32
      np.testing.assert_allclose(image, (10 * i + 5) / 255.0, rtol=1e-6)
      np.testing.assert_array_equal(ds.image_rays(j).camera_index, j)
  assert len(load_dataset(_config(scene, llffhold=8), "test")) == 2


@pytest.mark.parametrize("factor,size,focal", [(8, (6, 8), 50.0 / 8),
                                               (0, (48, 64), 50.0),
                                               (1, (48, 64), 50.0)])
def test_focal_scaled_with_factor(scene, factor, size, focal):
  ds = load_dataset(_config(scene, factor=factor), "test")
  assert (ds.height, ds.width) == size
  assert ds.focal == pytest.approx(focal)
  assert ds.rays[0].shape == size


def test_ndc_rays(scene):
  ds = load_dataset(_config(scene), "test")
  assert ds.ndc and (ds.near, ds.far) == (0.0, 1.0)
  rays = ds.rays[0]
  np.testing.assert_allclose(rays.near, 0.0)
  np.testing.assert_allclose(rays.far, 1.0)
  # Recentred cameras face -z: origins sit on the near plane, NDC z = -1.
  np.testing.assert_allclose(rays.origins[..., 2], -1.0, atol=1e-5)
  np.testing.assert_allclose((rays.origins + rays.directions)[..., 2], 1.0,
                             atol=1e-5)


def test_spherify_parallel_axes_error(scene):
  with pytest.raises(DatasetError, match="poses_bounds.npy"):
    load_dataset(_config(scene, spherify=True), "train")


def test_jpg_images(tmp_path):
  np.save(tmp_path / "poses_bounds.npy", _poses_bounds())
  _write_images(str(tmp_path / "images_8"), 6, 8, ext="jpg")
  ds = load_dataset(_config(tmp_path), "test")
  assert len(ds) == 3 and ds.images[0].shape == (6, 8, 3)


# Errors name the offending file.


def test_missing_poses_bounds(scene):
  os.remove(scene / "poses_bounds.npy")
  with pytest.raises(DatasetError, match=r"poses_bounds\.npy: file not found"):
    load_dataset(_config(scene), "train")


@pytest.mark.parametrize("array", [np.zeros((N, 16)), np.zeros((N, 3, 5)),
                                   np.zeros((0, 17))])
def test_malformed_poses_bounds(scene, array):
  np.save(scene / "poses_bounds.npy", array)
  with pytest.raises(DatasetError, match=r"poses_bounds\.npy.*\[N, 17\]"):
    load_dataset(_config(scene), "train")


def test_corrupt_poses_bounds(scene):
  (scene / "poses_bounds.npy").write_bytes(b"not numpy")
  with pytest.raises(DatasetError, match=r"poses_bounds\.npy: cannot read"):
    load_dataset(_config(scene), "train")


def test_image_count_mismatch(scene):
  os.remove(scene / "images_8" / "img_09.png")
  with pytest.raises(DatasetError,
                     match=r"poses_bounds\.npy: has 10 poses.*images_8 has 9"):
    load_dataset(_config(scene), "train")


def test_missing_factor_folder(scene):
  with pytest.raises(DatasetError) as e:
    load_dataset(_config(scene, factor=4), "train")
  message = str(e.value)
  assert "images_4" in message and "config.factor=4" in message
  assert "images, images_8" in message


def test_missing_factor_folder_none_present(tmp_path):
  np.save(tmp_path / "poses_bounds.npy", _poses_bounds())
  with pytest.raises(DatasetError, match="images_2.*no images"):
    load_dataset(_config(tmp_path, factor=2), "train")


@pytest.mark.parametrize("split", ["train", "test"])
def test_mixed_image_sizes(scene, split):
  # img_03 is a train image; both splits refuse the folder.
  iio.imwrite(scene / "images_8" / "img_03.png", np.zeros((6, 9, 3), np.uint8))
  with pytest.raises(DatasetError, match=r"img_03\.png: image is 9x6"):
    load_dataset(_config(scene), split)


def test_aspect_mismatch(scene):
  _write_images(str(scene / "images_8"), 8, 8)
  with pytest.raises(DatasetError, match=r"img_00\.png.*aspect"):
    load_dataset(_config(scene), "train")


def test_unknown_split(scene):
  with pytest.raises(DatasetError, match="split"):
    load_dataset(_config(scene), "bogus")


# The embedded fern (scripts/make_embedded_fern.py).


@pytest.fixture(scope="module")
def fern_test():
  if not os.path.isdir(FERN_SMALL):
    pytest.skip("data/fern_small missing; run scripts/make_embedded_fern.py")
  return load_dataset(_config(FERN_SMALL, factor=16, llffhold=8), "test")


def test_fern_small(fern_test):
  ds = fern_test
  assert len(ds) == 3  # ceil(20 / 8)
  assert ds.names == ["image000", "image008", "image016"]
  assert (ds.height, ds.width) == (189, 252)
  assert ds.images[0].shape == (189, 252, 3)
  assert ds.rays[0].shape == (189, 252)
  assert ds.camtoworlds.shape == (3, 3, 4)
  # fern's focal 3260.53 px at 4032 wide.
  assert ds.focal == pytest.approx(3260.526333 * 252 / 4032, rel=1e-6)
  assert ds.ndc and ds.extras["poses"].shape == (20, 3, 4)
  assert ds.extras["bounds"].min() == pytest.approx(1 / 0.75)
  assert all(0.0 <= im.min() and im.max() <= 1.0 for im in ds.images)
  train = load_dataset(_config(FERN_SMALL, factor=16, llffhold=8), "train")
  assert len(train) == 17


def test_fern_small_render_path(fern_test):
  rays = cameras.generate_render_path(fern_test, n_frames=2)
  assert rays.shape == (2, 189, 252)
  assert np.all(np.isfinite(rays.origins)) and np.all(
      np.isfinite(rays.directions))


def test_fern_small_spherify():
  if not os.path.isdir(FERN_SMALL):
    pytest.skip("data/fern_small missing; run scripts/make_embedded_fern.py")
  ds = load_dataset(_config(FERN_SMALL, factor=16, spherify=True), "test")
  bounds = ds.extras["bounds"]
  assert not ds.ndc
  assert ds.near == pytest.approx(bounds.min() * 0.9, rel=1e-6)
  assert ds.far == pytest.approx(bounds.max(), rel=1e-6)
  # Spherify scales the cameras to unit RMS distance from the origin.
  pos = ds.extras["poses"][:, :, 3]
  assert np.sqrt(np.mean(np.sum(pos**2, -1))) == pytest.approx(1.0, rel=1e-5)
  np.testing.assert_allclose(ds.rays[0].near, ds.near, rtol=1e-6)


def test_max_images(scene):
  ds = load_dataset(_config(scene), "train", max_images=2)
  assert ds.names == ["img_01", "img_02"] and len(ds.rays) == 2
  assert ds.extras["poses"].shape == (N, 3, 4)


def test_eval_of_an_llff_run_writes_metrics(tmp_path):
  """eval.py's evaluator on a 2-step NeRF of the embedded fern: LLFF's
  scalar extras are not mistaken for the multiscale per-image levels."""
  import json
  from jaxnerf.engine import config as config_lib, evaluator, trainer
  config = config_lib.load_config("llff_demo")
  with config.unlocked():
    config.update(dict(
        data_dir=os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "data", "fern_small"),
        train_dir=str(tmp_path), netdepth=2, netwidth=32,
        netwidth_condition=16, num_coarse_samples=8, num_fine_samples=8,
        batch_size=64, max_steps=2, save_every=1000, render_every=0,
        chunk=4096, test_view_limit=1, save_video=False))
  trainer.train(config)
  evaluator.evaluate(config)
  with open(tmp_path / "eval_test_2" / "metrics.json") as f:
    metrics = json.load(f)
  assert len(metrics["images"]) == 1 and "per_scale" not in metrics
  assert np.isfinite(metrics["mean"]["psnr"])


def _turned_scene(tmp_path, points, colours):
  """LLFF cameras on a grid, each turned a few degrees from looking along
  world -z, and the COLMAP text model (sparse/0) holding `points`."""
  from scipy.spatial.transform import Rotation
  rng = np.random.default_rng(0)
  poses = np.zeros((N, 3, 5))
  i = np.arange(N)
  poses[:, :, 3] = np.stack([0.3 * (i % 4), 0.2 * (i // 4), 0.05 * i], -1)
  gl = Rotation.from_rotvec(rng.normal(0.0, 0.1, (N, 3))).as_matrix()
  poses[:, :, :3] = gl @ LLFF_IDENTITY
  poses[:, :, 4] = HWF
  np.save(tmp_path / "poses_bounds.npy",
          np.concatenate([poses.reshape(N, 15), _bounds()], axis=-1))
  _write_images(str(tmp_path / "images_8"), 6, 8)
  model = tmp_path / "sparse" / "0"
  model.mkdir(parents=True)
  (model / "cameras.txt").write_text("1 PINHOLE 64 48 50 50 32 24\n")
  (model / "images.txt").write_text("# no images: only the points are read\n")
  (model / "points3D.txt").write_text("".join(
      f"{k + 1} {x} {y} {z} {r} {g} {b} 0.5\n"
      for k, ((x, y, z), (r, g, b)) in enumerate(zip(points, colours))))
  return poses


@pytest.mark.parametrize("spherify", [False, True])
def test_sparse_points_keep_their_place_in_every_camera(tmp_path, spherify):
  """The release's COLMAP points, moved with the cameras: in every loaded
  camera's frame a point is where it is in that camera's world frame, times
  one scale (the loader's rescale; pose_scale unless spherified)."""
  rng = np.random.default_rng(1)
  points = rng.uniform([-2, -2, -9], [3, 3, -4], (40, 3))
  colours = rng.integers(0, 256, (40, 3))
  poses = _turned_scene(tmp_path, points, colours)
  data = load_dataset(_config(tmp_path, spherify=spherify), "train")
  loaded = data.extras["points"]
  assert loaded.shape == (40, 3) and loaded.dtype == np.float32
  np.testing.assert_allclose(data.extras["point_colours"], colours / 255.0,
                             atol=1e-7)
  world = llff.reorder_poses(poses)[data.extras["indices"], :, :4]
  local = lambda c2w, p: (p - c2w[:3, 3]) @ c2w[:3, :3]
  in_world = np.stack([local(c, points) for c in world])
  in_scene = np.stack([local(c, loaded.astype(np.float64))
                       for c in np.asarray(data.cameras.camtoworlds)])
  scale = np.sum(in_scene * in_world) / np.sum(in_world * in_world)
  np.testing.assert_allclose(in_scene, scale * in_world, atol=1e-4)
  if not spherify:
    assert scale == pytest.approx(data.extras["pose_scale"], rel=1e-5)


def test_no_sparse_model_no_points(scene):
  assert "points" not in load_dataset(_config(scene), "train").extras


def test_malformed_sparse_model_names_its_file(tmp_path):
  _turned_scene(tmp_path, np.zeros((1, 3)), np.zeros((1, 3), int))
  (tmp_path / "sparse" / "0" / "points3D.txt").write_text("1 0 0 zero 1 2 3 0.5\n")
  with pytest.raises(DatasetError, match=r"points3D\.txt:1"):
    load_dataset(_config(tmp_path), "train")
