"""process_data.py: the one-line errors of bad input (exit status 1), a
small SfM run on embedded fern photos (seconds), frames from a video, and
that the input is never modified."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REPO_ROOT
from jaxnerf import capture, config as config_lib, posing, sfm
from jaxnerf.datasets import llff, load_dataset

FERN = os.path.join(REPO_ROOT, "data", "fern_small")


def _run(*args):
  env = {**os.environ, "PYTHONPATH": REPO_ROOT}
  return subprocess.run([sys.executable,
                         os.path.join(REPO_ROOT, "process_data.py"), *args],
                        capture_output=True, text=True, env=env, timeout=300)


def _one_line_error(result, pattern):
  assert result.returncode == 1, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert re.search(pattern, lines[0]), lines[0]


def _fern_photos(folder, count):
  os.makedirs(folder, exist_ok=True)
  for name in sorted(os.listdir(os.path.join(FERN, "images_16")))[:count]:
    shutil.copy(os.path.join(FERN, "images_16", name), folder)
  return folder


def _digest(folder):
  h = hashlib.sha256()
  for name in sorted(os.listdir(folder)):
    h.update(name.encode())
    with open(os.path.join(folder, name), "rb") as f:
      h.update(f.read())
  return h.hexdigest(), sorted(os.listdir(folder))


def test_bad_input_is_one_line_and_status_1(tmp_path):
  out = str(tmp_path / "out")
  empty = tmp_path / "empty"
  empty.mkdir()
  _one_line_error(_run("--images", str(empty), "--output", out),
                  r"^error: --images: .*empty holds no images \(PNG or JPG\)")
  two = _fern_photos(str(tmp_path / "two"), 2)
  _one_line_error(_run("--images", two, "--output", out),
                  r"has 2 images; Structure-from-Motion needs at least 3")
  broken = _fern_photos(str(tmp_path / "broken"), 3)
  with open(os.path.join(broken, "image001.png"), "r+b") as f:
    f.truncate(500)
  _one_line_error(_run("--images", broken, "--output", out),
                  r"broken/image001.png: cannot read image")
  mixed = _fern_photos(str(tmp_path / "mixed"), 3)
  iio.imwrite(os.path.join(mixed, "extra.jpg"),
              iio.imread(os.path.join(mixed, "image000.png")))
  _one_line_error(_run("--images", mixed, "--output", out),
                  r"mixes formats \(3 PNG, e.g. image000.png, and 1 JPG")
  notes = _fern_photos(str(tmp_path / "notes"), 3)
  (tmp_path / "notes" / "notes.txt").write_text("hi")
  _one_line_error(_run("--images", notes, "--output", out),
                  r"notes/notes.txt: not a PNG or JPG image")
  sizes = _fern_photos(str(tmp_path / "sizes"), 3)
  iio.imwrite(os.path.join(sizes, "image002.png"), np.zeros((10, 12, 3),
                                                            np.uint8))
  _one_line_error(_run("--images", sizes, "--output", out),
                  r"image002.png: image is 12x10 but image000.png is 252x189")
  (tmp_path / "clip.mp4").write_bytes(b"\x00not a video" * 100)
  _one_line_error(_run("--video", str(tmp_path / "clip.mp4"), "--output",
                       out), r"clip.mp4: cannot read video")
  _one_line_error(_run("--video", str(tmp_path / "none.mp4"), "--output",
                       out), r"--video: .*none.mp4 not found")
  _one_line_error(_run("--images", two, "--output", os.path.join(two, "o")),
                  r"--output: .* is inside the input folder")
  _one_line_error(_run("--images", two), r"--output")
  _one_line_error(_run("--images", two, "--output", out,
                       "--camera_model", "FISHEYE"), r"--camera_model")
  assert not os.path.exists(out)  # nothing written for bad input


def test_sfm_on_six_photos(tmp_path):
  """Real SfM in a few seconds: six 252x189 fern photos, registered, posed
  close to poses_bounds.npy, loadable by both loaders; input untouched."""
  photos = _fern_photos(str(tmp_path / "photos"), 6)
  before = _digest(photos)
  out = str(tmp_path / "out")
  result = _run("--images", photos, "--output", out)
  assert result.returncode == 0, result.stderr[-2000:]
  assert _digest(photos) == before
  for stage in ("extraction", "matching (exhaustive)", "mapping"):
    assert f"[{stage}] done in" in result.stdout
  assert "ETA" in result.stdout
  with open(os.path.join(out, "report.json")) as f:
    report = json.load(f)
  assert report["images_registered"] == 6 and report["not_registered"] == []
  assert 0 < report["mean_reprojection_error_px"] < 1.5
  log = open(os.path.join(out, posing.LOG_FILE)).read()
  assert "feature_extraction" in log  # COLMAP's own log went to the file
  for sub in ("images", "images_2", "images_4", "images_8", "colmap/sparse/0"):
    assert os.path.isdir(os.path.join(out, sub)), sub
  assert iio.improps(os.path.join(out, "images_2", "image000.png")).shape[
      :2] == (94, 126)
  # Poses agree with the capture's own (COLMAP on the full photos).
  poses, _ = llff.read_poses_bounds(os.path.join(FERN, "poses_bounds.npy"))
  reference = llff.reorder_poses(poses)[:6, :, :4]
  meta = json.load(open(os.path.join(out, "transforms.json")))
  assert [f["file_path"] for f in meta["frames"]] == [
      f"images/image00{i}.png" for i in range(6)]
  assert meta["camera_model"] == "OPENCV" and meta["w"] == 252
  estimated = np.array([f["transform_matrix"] for f in meta["frames"]])
  errors = sfm.pose_errors(estimated[:, :3], reference)
  assert errors["mean_rotation_deg"] < 2.0
  assert errors["rms_center_rel"] < 0.1
  for dataset_type in ("nerfstudio", "colmap"):
    c = config_lib.method_config("nerf")
    config_lib.scene(c, dataset_type, out, "/tmp/unused", factor=2,
                     llffhold=3)
    data = load_dataset(c, "test")
    assert data.names == ["image000", "image003"]
    assert data.images[0].shape == (94, 126, 3)
    assert 0 < data.near < data.far


def test_mapping_with_distortion_refined_last(tmp_path):
  """The fallback run() takes when mapping leaves images out: distortion
  held at zero while images register, then refined by one global bundle
  adjustment. All six photos register and the OPENCV coefficients move."""
  photos = _fern_photos(str(tmp_path / "photos"), 6)
  names = sorted(os.listdir(photos))
  log = capture.Log(None, stream=open(os.devnull, "w"))
  work = str(tmp_path / "work")
  os.makedirs(work)
  database = os.path.join(work, "database.db")
  options = sfm.SfmOptions()
  sfm.extract(database, photos, names, options, log)
  sfm.match(database, work, sfm.exhaustive_pairs(names), options, log)
  model = sfm.map_images(database, photos, work, len(names), options, log,
                         refine_distortion=False)
  assert sorted(sfm.registered_names(model)) == names
  assert sfm.reprojection_error(model) < 1.0
  camera = sfm.intrinsics(next(iter(model.cameras.values())))
  assert camera["camera_model"] == "OPENCV"
  assert any(camera[k] != 0 for k in ("k1", "k2", "p1", "p2"))


def test_too_few_registered_is_an_error(tmp_path):
  """Two real photos and three of noise: SfM cannot register half."""
  photos = _fern_photos(str(tmp_path / "photos"), 2)
  rng = np.random.default_rng(0)
  for i in range(3):
    iio.imwrite(os.path.join(photos, f"noise{i}.png"),
                rng.integers(0, 256, (189, 252, 3), np.uint8))
  result = _run("--images", photos, "--output", str(tmp_path / "out"))
  _one_line_error(result, r"SfM registered [0-2] of 5 images \(fewer than "
                  r"half; not registered: .*noise.*\); try --matching "
                  "sequential")
  report = json.load(open(tmp_path / "out" / "report.json"))
  assert report["images_given"] == 5


def test_video_frames_evenly_spaced(tmp_path):
  import imageio_ffmpeg
  video = str(tmp_path / "clip.mp4")
  writer = imageio_ffmpeg.write_frames(video, (64, 48), fps=10,
                                       macro_block_size=1,
                                       ffmpeg_log_level="error")
  writer.send(None)
  for i in range(20):
    writer.send(np.full((48, 64, 3), 12 * i, np.uint8).tobytes())
  writer.close()
  log = capture.Log(None, stream=open(os.devnull, "w"))
  names = capture.extract_frames(video, str(tmp_path / "frames"), 5, log)
  assert names == [f"frame_{i:05d}.png" for i in range(1, 6)]
  # Frames 0, 5, 10, 14, 19 of the 20 (grey levels 12 i, give or take the
  # codec).
  levels = [iio.imread(tmp_path / "frames" / n).mean() for n in names]
  np.testing.assert_allclose(levels, [0, 60, 120, 168, 228], atol=6)
  np.testing.assert_array_equal(capture.evenly_spaced(20, 5),
                                [0, 5, 10, 14, 19])


def test_pairs():
  names = [f"{i}" for i in range(30)]
  assert len(sfm.exhaustive_pairs(names[:5])) == 10
  pairs = sfm.sequential_pairs(names, 3)
  # Neighbours within 3, plus i + 3 * 2^k (6, 12, 24) for loop closure.
  assert ("0", "1") in pairs and ("0", "3") in pairs
  assert ("0", "4") not in pairs and ("0", "6") in pairs
  assert ("0", "24") in pairs and ("5", "29") in pairs
  assert len(set(pairs)) == len(pairs)


def test_pose_errors_ignore_the_gauge_and_measure_the_rest():
  rng = np.random.default_rng(0)
  reference = []
  for _ in range(8):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.linalg.det(q))
    reference.append(np.concatenate([q, rng.normal(size=(3, 1))], 1))
  reference = np.stack(reference)
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  gauge = q * np.sign(np.linalg.det(q))
  # The same cameras in another frame: rotated, scaled 2.5x, moved.
  moved = np.concatenate([gauge @ reference[:, :, :3], (2.5 * reference[
      :, :, 3] @ gauge.T + [1.0, -2.0, 0.5])[..., None]], -1)
  errors = sfm.pose_errors(moved, reference)
  assert errors["mean_rotation_deg"] < 1e-5
  assert errors["rms_center_rel"] < 1e-10
  assert errors["scale"] == pytest.approx(1 / 2.5)
  # One camera turned by 3 degrees about its z axis.
  a = np.radians(3.0)
  turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0],
                   [0, 0, 1]])
  moved[0, :, :3] = moved[0, :, :3] @ turn
  errors = sfm.pose_errors(moved, reference)
  # (the alignment, a mean over the 8 orientations, moves by about 3 / 8)
  assert errors["max_rotation_deg"] == pytest.approx(3.0, abs=0.4)
  assert errors["rms_center_rel"] < 0.01
