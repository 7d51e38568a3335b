"""The Blender loader: a tiny synthetic scene, bad input, and the depth maps.

What the depth PNGs hold (`test/r_*_depth_0001.png` of NeRF-synthetic).
Channel 0 (all four channels are equal) is v = 1 - d / 8, 0 for background,
with d the distance *along the ray* from the camera centre, not camera z:

* Source. NeRF's 360_view.py feeds the render layer's Depth into a Map Value
  node (offset -0.7, size 1.4, min 0, no invert). That cannot be what
  produced lego's PNGs: their object pixels range over 88..164 / 255, so
  d = 0.7 + v / 1.4 would put every surface 0.95..1.16 from cameras that
  are 4.03 from the origin. The maintainers said they never used or checked
  these maps (bmild/nerf#107) and rendered with Blender 2.82, whose Cycles
  Depth pass is `camera_distance()`, |P - camera centre| for perspective
  cameras (camera z only from Blender 3.0 on). Nearer is brighter, so the
  remap is inverted; its clamp at 0 explains the background (depth 1e10)
  being 0.
* Numbers (back-project view A with a candidate map, reproject into view B,
  compare with B's map bilinearly interpolated where B's 2x2 neighbourhood
  is one surface; 800x800 originals, 20 ordered pairs 8 views = 14.4 deg
  apart; "consensus" = share of A's pixels that land within 0.02 of B's
  surface, occluded ones included in the denominator):
    ray distance d = 8 (1 - v):     consensus 0.608, median |r| 0.0138,
                                    free-space violations (r < -0.02) 6.8%
    camera z     z = 8 (1 - v):     consensus 0.357, median |r| 0.0296, 20%
    best camera-z affine fit        z = 0.20 + 7.46 (1 - v): consensus 0.413
    best ray affine fit             d = 0.02 + 7.96 (1 - v): 0.608 (a ridge
                                    through (0, 8), same depth at v = 0.5)
    1/d affine in v (ray or z):     best consensus 0.34 / 0.39
    d = 0.7 + v / 1.4 (360_view):   consensus 0.000
  Scanning the scale with offset 0: consensus 0.467, 0.572, 0.608, 0.576,
  0.453 at 7.90, 7.96, 8.00, 8.04, 8.10; the offset with scale 8: 0.565,
  0.608, 0.570 at -0.02, 0, +0.02. For views 2 apart (3.6 deg) the median
  |r| is 0.0097, RMS 0.015, about what two maps quantised to 8 / 255 =
  0.031 per level give. A free per-level lookup table fit to the same
  residuals came out linear in v (max deviation from a line 0.017, half a
  level).
"""

import importlib.util
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

from jaxnerf.engine.config import base_config
from jaxnerf.data.dataset import DatasetError, load_dataset
from jaxnerf.errors import ConfigError
from jaxnerf.data.loaders import blender

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEGO_100 = os.path.join(REPO_ROOT, "data", "lego_100")

H, W = 4, 6
# focal = 0.5 * W / tan(0.5 * angle) = 3 / tan(pi / 4) = 3.
ANGLE = np.pi / 2
FOCAL = 3.0


def _pose(tx=0.0):
  pose = np.eye(4)
  pose[0, 3] = tx
  return pose.tolist()


def _rgba(i, height=H, width=W):
  """Distinct straight-alpha RGBA per frame; a transparent, a half and an
  opaque pixel in row 0."""
  image = np.zeros((height, width, 4), np.uint8)
  image[..., 0] = 200
  image[..., 1] = 20 * i + 10
  image[..., 2] = 50
  image[..., 3] = 255
  image[0, 0] = (255, 0, 255, 0)  # transparent (colour must not show)
  image[0, 1] = (200, 100, 0, 51)  # alpha 0.2
  return image


def _write_scene(root, n=2, split="train", sizes=None, depth=None):
  """transforms_{split}.json plus n RGBA PNGs (and depth PNGs if given)."""
  os.makedirs(os.path.join(root, split), exist_ok=True)
  frames = []
  for i in range(n):
    height, width = sizes[i] if sizes else (H, W)
    iio.imwrite(os.path.join(root, split, f"r_{i}.png"),
                _rgba(i, height, width))
    if depth is not None:
      iio.imwrite(os.path.join(root, split, f"r_{i}_depth_0001.png"), depth)
    frames.append({"file_path": f"./{split}/r_{i}", "rotation": 0.1,
                   "transform_matrix": _pose(0.5 * i)})
  meta = {"camera_angle_x": ANGLE, "frames": frames}
  with open(os.path.join(root, f"transforms_{split}.json"), "w") as f:
    json.dump(meta, f)
  return meta


def _config(data_dir, factor=0, white_bkgd=True):
  c = base_config()
  c.dataset_type = "blender"
  c.data_dir = str(data_dir)
  c.factor = factor
  c.white_bkgd = white_bkgd
  return c


# ----------------------------------------------------------------------------
# A tiny synthetic scene.


def test_shapes_focal_and_poses(tmp_path):
  _write_scene(tmp_path, n=3)
  ds = load_dataset(_config(tmp_path), "train")
  assert len(ds) == 3
  assert ds.names == ["r_0", "r_1", "r_2"]
  assert (ds.height, ds.width) == (H, W)
  assert ds.focal == pytest.approx(FOCAL)
  assert ds.camtoworlds.shape == (3, 3, 4)
  np.testing.assert_allclose(ds.camtoworlds[2, :, 3], [1.0, 0.0, 0.0])
  for i, (image, rays) in enumerate(zip(ds.images, ds.rays)):
    assert image.shape == (H, W, 3) and image.dtype == np.float32
    assert rays.origins.shape == (H, W, 3)
    assert rays.directions.shape == (H, W, 3)
    assert rays.near.shape == (H, W, 1)
    # Every ray knows its camera (per-camera parameters index by it).
    assert rays.camera_index.dtype == np.int32
    np.testing.assert_array_equal(rays.camera_index, i)
    np.testing.assert_array_equal(rays.time, 0.0)
  assert ds.depths is None


def test_unknown_dataset_type_lists_the_loaders(tmp_path):
  c = _config(tmp_path)
  c.dataset_type = "nope"
  with pytest.raises(ConfigError, match="unknown dataset type 'nope'; "
                     "known: ") as error:
    load_dataset(c, "train")
  for loader in ("blender", "colmap", "dnerf", "llff", "multiscale",
                 "nerfies", "nerfstudio"):
    assert f"'{loader}'" in str(error.value)


@pytest.mark.parametrize("white_bkgd", [True, False])
def test_compositing(tmp_path, white_bkgd):
  _write_scene(tmp_path, n=1)
  image = load_dataset(_config(tmp_path, white_bkgd=white_bkgd),
                       "train").images[0]
  bg = 1.0 if white_bkgd else 0.0
  # Transparent: only the background, whatever colour the pixel holds.
  np.testing.assert_allclose(image[0, 0], [bg, bg, bg], atol=1e-6)
  # rgb * a + bg * (1 - a) with a = 51 / 255 = 0.2.
  expected = np.array([200, 100, 0]) / 255 * 0.2 + bg * 0.8
  np.testing.assert_allclose(image[0, 1], expected, atol=1e-6)
  np.testing.assert_allclose(image[1, 1], [200 / 255, 10 / 255, 50 / 255],
                             atol=1e-6)


def test_factor_composites_before_filtering(tmp_path):
  _write_scene(tmp_path, n=1)
  ds = load_dataset(_config(tmp_path, factor=2), "train")
  assert (ds.height, ds.width) == (H // 2, W // 2)
  assert ds.focal == pytest.approx(FOCAL / 2)
  # Block (0, 0): transparent magenta, 0.2 x (200, 100, 0) and two opaque
  # (200, 10, 50) pixels, on white: the mean of the composited pixels.
  opaque = np.array([200, 10, 50]) / 255
  expected = (np.ones(3) + (np.array([200, 100, 0]) / 255 * 0.2 + 0.8) +
              2 * opaque) / 4
  np.testing.assert_allclose(ds.images[0][0, 0], expected, atol=1e-6)


def test_identity_camera_pixel_centre_ray(tmp_path):
  _write_scene(tmp_path, n=1)
  rays = load_dataset(_config(tmp_path), "train").rays[0]
  # Pixel (row 0, col 0) centre (0.5, 0.5): ((0.5 - 3) / 3, -(0.5 - 2) / 3,
  # -1) = (-5/6, 1/2, -1); pixel (row 3, col 5): (5/6, -1/2, -1).
  np.testing.assert_allclose(rays.origins[0, 0], [0.0, 0.0, 0.0])
  np.testing.assert_allclose(rays.directions[0, 0], [-5 / 6, 0.5, -1.0],
                             rtol=1e-6)
  np.testing.assert_allclose(rays.directions[3, 5], [5 / 6, -0.5, -1.0],
                             rtol=1e-6)
  np.testing.assert_allclose(
      rays.viewdirs[0, 0], np.array([-5 / 6, 0.5, -1.0]) /
      np.sqrt(25 / 36 + 0.25 + 1.0), rtol=1e-6)


def test_depth_png_decoding(tmp_path):
  v = np.zeros((H, W), np.uint8)
  v[:, 2:] = 128  # a surface at ray distance 8 (1 - 128/255)
  depth = np.stack([v] * 4, -1)  # Blender's depth PNGs repeat v in RGBA
  _write_scene(tmp_path, n=1, split="test", depth=depth)
  ds = load_dataset(_config(tmp_path), "test")
  (d,) = ds.depths
  assert d.shape == (H, W)
  np.testing.assert_array_equal(d[:, :2], 0.0)  # background
  # Row 0, col 2: direction ((2.5 - 3) / 3, 1.5 / 3, -1), so z is the ray
  # distance over its length.
  dist = 8.0 * (1.0 - 128 / 255)
  norm = np.sqrt((0.5 / 3)**2 + 0.25 + 1.0)
  assert d[0, 2] == pytest.approx(dist / norm, rel=1e-6)
  # z along the ray direction (unit camera z) lands at that distance.
  rays = ds.rays[0]
  point = rays.origins[0, 2] + d[0, 2] * rays.directions[0, 2]
  assert np.linalg.norm(point) == pytest.approx(dist, rel=1e-6)


def test_depth_downsampling_ignores_background(tmp_path):
  v = np.zeros((H, W), np.uint8)
  v[0:2, 0:2] = 128
  v[0, 0] = 0  # 3 of 4 valid: the mean of the 3, not pulled towards 0
  v[0, 2] = 128  # 1 of 4 valid: background
  v[2:4, 2:4] = 128  # 2 of 4 valid (at least half): valid
  v[2, 2] = v[3, 3] = 0
  _write_scene(tmp_path, n=1, split="test", depth=v)
  d = load_dataset(_config(tmp_path, factor=2), "test").depths[0]
  full = blender.distance_to_z_depth(
      blender.depth_png_to_distance(v / 255.0), FOCAL)
  assert d.shape == (2, 3)
  assert d[0, 0] == pytest.approx(full[0:2, 0:2].sum() / 3, rel=1e-6)
  assert d[0, 1] == 0.0
  assert d[1, 1] == pytest.approx((full[2, 3] + full[3, 2]) / 2, rel=1e-6)
  assert d[1, 0] == 0.0 and d[0, 2] == 0.0


def test_depth_round_trip():
  d = np.array([0.0, 2.5, 4.0, 7.9])
  v = blender.distance_to_png(d)
  np.testing.assert_allclose(v, [0.0, 1 - 2.5 / 8, 0.5, 1 - 7.9 / 8])
  np.testing.assert_allclose(blender.depth_png_to_distance(v), d, atol=1e-12)
  z = np.full((3, 5), 4.0)
  np.testing.assert_allclose(
      blender.distance_to_z_depth(blender.z_depth_to_distance(z, 2.0), 2.0),
      z)


def test_premultiplied_downscale_of_embed_script():
  spec = importlib.util.spec_from_file_location(
      "make_embedded_scene",
      os.path.join(REPO_ROOT, "scripts", "make_embedded_scene.py"))
  script = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(script)
  rng = np.random.default_rng(0)
  rgba = rng.uniform(size=(16, 24, 4))
  rgba[..., 3] = np.where(rng.uniform(size=(16, 24)) < 0.3, 0.0,
                          rgba[..., 3])
  rgba[:4, :4, 3] = 0.0  # a fully transparent block
  small = script.downsample_rgba(rgba, 4)
  assert small.shape == (4, 6, 4)
  for bg in (0.0, 1.0):
    composite = lambda x: x[..., :3] * x[..., 3:] + bg * (1 - x[..., 3:])
    np.testing.assert_allclose(composite(small),
                               blender.downsample(composite(rgba), 4),
                               atol=1e-12)
  np.testing.assert_array_equal(small[0, 0], 0.0)


# ----------------------------------------------------------------------------
# Bad input: DatasetError naming the file or field.


def _raises(config, split, *needles):
  with pytest.raises(DatasetError) as e:
    load_dataset(config, split)
  for needle in needles:
    assert needle in str(e.value), str(e.value)


def test_missing_data_dir(tmp_path):
  missing = tmp_path / "nope"
  _raises(_config(missing), "train", str(missing), "data_dir")


def test_missing_json(tmp_path):
  _write_scene(tmp_path, split="train")
  _raises(_config(tmp_path), "test",
          os.path.join(str(tmp_path), "transforms_test.json"))


def test_malformed_json(tmp_path):
  _write_scene(tmp_path)
  path = tmp_path / "transforms_train.json"
  path.write_text('{"camera_angle_x": 0.7, "frames": [')
  _raises(_config(tmp_path), "train", str(path), "malformed JSON")


def test_json_not_an_object(tmp_path):
  _write_scene(tmp_path)
  path = tmp_path / "transforms_train.json"
  path.write_text("[1, 2]")
  _raises(_config(tmp_path), "train", str(path))


def test_missing_camera_angle_x(tmp_path):
  meta = _write_scene(tmp_path)
  del meta["camera_angle_x"]
  path = tmp_path / "transforms_train.json"
  path.write_text(json.dumps(meta))
  _raises(_config(tmp_path), "train", str(path), "camera_angle_x")


def test_frame_missing_transform_matrix(tmp_path):
  meta = _write_scene(tmp_path)
  del meta["frames"][1]["transform_matrix"]
  path = tmp_path / "transforms_train.json"
  path.write_text(json.dumps(meta))
  _raises(_config(tmp_path), "train", str(path), "frames[1]",
          "transform_matrix")


def test_bad_transform_matrix_shape(tmp_path):
  meta = _write_scene(tmp_path)
  meta["frames"][0]["transform_matrix"] = [[1, 0], [0, 1]]
  (tmp_path / "transforms_train.json").write_text(json.dumps(meta))
  _raises(_config(tmp_path), "train", "frames[0].transform_matrix")


def test_missing_image(tmp_path):
  _write_scene(tmp_path)
  os.remove(tmp_path / "train" / "r_1.png")
  _raises(_config(tmp_path), "train",
          os.path.join(str(tmp_path), "train", "r_1.png"), "not found")


def test_mixed_image_sizes(tmp_path):
  _write_scene(tmp_path, n=3, sizes=[(H, W), (H, W), (H + 2, W)])
  _raises(_config(tmp_path), "train",
          os.path.join(str(tmp_path), "train", "r_2.png"), "same size")


def test_depth_size_mismatch(tmp_path):
  _write_scene(tmp_path, n=1, split="test",
               depth=np.full((H + 1, W), 100, np.uint8))
  _raises(_config(tmp_path), "test", "r_0_depth_0001.png")


# ----------------------------------------------------------------------------
# The embedded scene data/lego_100 (scripts/make_embedded_scene.py).


@pytest.fixture(scope="module")
def lego_test():
  if not os.path.isdir(LEGO_100):
    pytest.skip("data/lego_100 missing: run scripts/make_embedded_scene.py")
  return load_dataset(_config(LEGO_100), "test")


def test_lego_100_layout():
  if not os.path.isdir(LEGO_100):
    pytest.skip("data/lego_100 missing: run scripts/make_embedded_scene.py")
  train = load_dataset(_config(LEGO_100), "train")
  assert len(train) == 100 and train.depths is None
  assert (train.height, train.width) == (100, 100)
  with open(os.path.join(LEGO_100, "transforms_train.json")) as f:
    angle = json.load(f)["camera_angle_x"]
  assert train.focal == pytest.approx(0.5 * 100 / np.tan(0.5 * angle))


def test_lego_100_test_split(lego_test):
  assert lego_test.names == [f"r_{i}" for i in range(0, 200, 8)]
  assert len(lego_test.depths) == 25
  for name, image, depth in zip(lego_test.names, lego_test.images,
                                lego_test.depths):
    assert image.shape == (100, 100, 3) and depth.shape == (100, 100)
    # Surfaces are 2.7..5.3 from cameras 4.03 from the origin.
    assert 2.5 < depth[depth > 0].min() and depth.max() < 5.5
    # Depth exactly where the object is: (nearly) opaque pixels have depth,
    # (nearly) transparent ones none.
    alpha = iio.imread(os.path.join(LEGO_100, "test", name + ".png"))[..., 3]
    assert np.all(depth[alpha > 0.9 * 255] > 0)
    assert np.all(depth[alpha < 0.1 * 255] == 0)


def _reprojection_residuals(ds, a, b, depths):
  """z of A's back-projected pixels seen from B, minus B's depth there.

  A's pixels with valid 4-neighbours are lifted to o + z d (d has unit camera
  z) and projected into B; B's depth is interpolated bilinearly between the
  4 nearest pixel centres, only where all 4 are one surface (valid, spread
  < 0.1). Positive: A's point is hidden behind B's surface (occlusion);
  negative: it floats in front of it, which no correct pair of maps allows.
  """
  za, zb = depths[a], depths[b]
  inner = za > 0
  inner[1:] &= za[:-1] > 0
  inner[:-1] &= za[1:] > 0
  inner[:, 1:] &= za[:, :-1] > 0
  inner[:, :-1] &= za[:, 1:] > 0
  rays = ds.rays[a]
  points = (np.asarray(rays.origins)[inner] +
            za[inner][:, None] * np.asarray(rays.directions)[inner])
  c2w = ds.camtoworlds[b].astype(np.float64)
  cam = (points - c2w[:, 3]) @ c2w[:, :3]
  z = -cam[:, 2]
  x = cam[:, 0] / z * ds.focal + 0.5 * ds.width - 0.5
  y = -cam[:, 1] / z * ds.focal + 0.5 * ds.height - 0.5
  x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
  fx, fy = x - x0, y - y0
  ok = (x0 >= 0) & (x0 < ds.width - 1) & (y0 >= 0) & (y0 < ds.height - 1)
  x0, y0 = np.where(ok, x0, 0), np.where(ok, y0, 0)
  q = np.stack([zb[y0, x0], zb[y0, x0 + 1], zb[y0 + 1, x0],
                zb[y0 + 1, x0 + 1]], -1)
  ok &= (q.min(-1) > 0) & (q.max(-1) - q.min(-1) < 0.1)
  interp = (q[:, 0] * (1 - fx) * (1 - fy) + q[:, 1] * fx * (1 - fy) +
            q[:, 2] * (1 - fx) * fy + q[:, 3] * fx * fy)
  return (z - interp)[ok]


def _pooled_residuals(ds, depths):
  n = len(ds)
  return np.concatenate([_reprojection_residuals(ds, a, (a + 1) % n, depths)
                         for a in range(0, n, 3)])


def test_lego_100_depth_is_multiview_consistent(lego_test):
  """Neighbouring embedded views (r_0/r_8, r_24/r_32, ...: 14.4 degrees
  apart) agree on the surface.

  Tolerance. A 100x100 pixel spans z / f = 4 / 138.9 = 0.029 at the object;
  each stored depth averages the 64 full-resolution depths of its block,
  each quantised to 8 / 255 = 0.031 (RMS 0.009 before averaging), and
  bilinear interpolation across a pixel of a slanted surface errs by a
  fraction of the pixel's depth spread. So a median |r| well under a third
  of a pixel, 0.010, is what consistent maps give (measured 0.0067), while
  reading the ray distance as camera z gives 0.0197. Free-space violations
  (r < -0.03, a point in front of B's surface) come only from silhouettes
  and the interpolation there: 3.0% measured; misreading as camera z gives
  11.7%; a scale 8 -> 7.9 or 8.1 gives 4.5% / 4.8%, so 4% also pins the
  scale to about 1%.
  """
  r = _pooled_residuals(lego_test, lego_test.depths)
  assert len(r) > 10_000  # most of A's pixels have a surface to compare
  assert np.median(np.abs(r)) < 0.010
  assert np.mean(r < -0.03) < 0.04
  # Occlusion only adds positive residuals: most pixels agree closely.
  assert np.mean(np.abs(r) < 0.03) > 0.7


def test_lego_100_depth_check_rejects_wrong_mappings(lego_test):
  """The check above has power: ray distance read as camera z, or a scale
  off by 2.5%, fails it."""
  f = lego_test.focal
  as_z = [blender.z_depth_to_distance(d, f) for d in lego_test.depths]
  r = _pooled_residuals(lego_test, as_z)
  assert np.median(np.abs(r)) > 0.015 and np.mean(r < -0.03) > 0.08
  for scale in (7.8, 8.2):
    r = _pooled_residuals(lego_test,
                          [d * scale / 8.0 for d in lego_test.depths])
    assert np.median(np.abs(r)) > 0.012 or np.mean(r < -0.03) > 0.06


def test_a_missing_split_names_eval_split_and_the_folder_s_splits(tmp_path):
  _write_scene(tmp_path, n=1)
  _write_scene(tmp_path, n=1, split="test")
  with pytest.raises(DatasetError, match=r"transforms_val\.json: file not "
                     r"found: .* no split 'val' \(config\.eval_split .*"
                     r"this folder has: test, train\)"):
    load_dataset(_config(tmp_path), "val")
