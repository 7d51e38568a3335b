"""process_data.py: the one-line errors of bad input (exit status 1), a
small SfM run on embedded fern photos (seconds), frames from a video, and
that the input is never modified.

Nothing lost (tests below `_tree`): the photos in place in nerfstudio's
layout, reruns, what is in the way reported and untouched, every bad flag
refused before anything is written, SIGKILL at several moments."""

import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REPO_ROOT
from jaxnerf.posing import capture
from jaxnerf.data import colmap_model
from jaxnerf.engine import config as config_lib
from jaxnerf import files
from jaxnerf.posing import pipeline, sfm
from jaxnerf.commands import process_data as command
from jaxnerf.data.loaders import llff
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import ConfigError

FERN = os.path.join(REPO_ROOT, "data", "fern_small")


def _run(*args):
  env = {**os.environ, "PYTHONPATH": REPO_ROOT}
  return subprocess.run([sys.executable,
                         os.path.join(REPO_ROOT, "process_data.py"), *args],
                        capture_output=True, text=True, env=env, timeout=300)


class _Result:

  def __init__(self, returncode, stdout, stderr):
    self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _main(capfd, *args):
  """process_data.py's entry point in this process (no start-up)."""
  capfd.readouterr()
  returncode = command.main(["process_data.py", *map(str, args)])
  out, err = capfd.readouterr()
  return _Result(returncode, out, err)


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


def test_bad_input_is_one_line_and_status_1(tmp_path, capfd):
  """(In-process: the same entry point, without a process start per
  case; test_too_few_registered_is_an_error runs the script.)"""
  _run = lambda *args: _main(capfd, *args)  # noqa: E731
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
  with open(os.path.join(broken, "image001.png"), "wb") as f:
    png = open(os.path.join(FERN, "images_16", "image001.png"), "rb").read()
    f.write(png[:10] + bytes([png[10] ^ 0xFF]) + png[11:])
  _one_line_error(_run("--images", broken, "--output", out),
                  r"broken/image001.png: cannot read image \(SyntaxError: "
                  r"broken PNG file \(bad header checksum")  # Pillow's type
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
  # One thread: COLMAP's threads make the poses vary from run to run (mean
  # rotation error 0.8-1.3 degrees here, once 2.6 in a CI run); one thread
  # gives the same poses every time.
  result = _run("--images", photos, "--output", out, "--num_threads", "1")
  assert result.returncode == 0, result.stderr[-2000:]
  assert _digest(photos) == before
  for stage in ("extraction", "matching (exhaustive)", "mapping"):
    assert f"[{stage}] done in" in result.stdout
  assert "ETA" in result.stdout
  with open(os.path.join(out, "report.json")) as f:
    report = json.load(f)
  assert report["images_registered"] == 6 and report["not_registered"] == []
  assert 0 < report["mean_reprojection_error_px"] < 1.5
  log = open(os.path.join(out, pipeline.LOG_FILE)).read()
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


def test_sequential_pairs_refuses_overlap_below_1():
  for overlap in (0, -1):  # the loop-closing strides never passed the end
    with pytest.raises(ConfigError, match=f"--overlap: {overlap}; must be an "
                       "integer >= 1"):
      sfm.sequential_pairs(["a", "b", "c"], overlap)
  assert sfm.sequential_pairs(["a", "b", "c"], 1) == [("a", "b"), ("a", "c"),
                                                      ("b", "c")]


# Nothing lost.


def _tree(folder):
  """{relative path: sha256 of a file | 'dir' | '-> link target'} of every
  entry under `folder`."""
  out = {}
  for root, dirs, names in os.walk(folder):
    for name in dirs + names:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, folder)
      if os.path.islink(path):
        out[rel] = "-> " + os.readlink(path)
      elif os.path.isdir(path):
        out[rel] = "dir"
      else:
        with open(path, "rb") as f:
          out[rel] = hashlib.sha256(f.read()).hexdigest()
  return out


def _under(tree, prefix):
  return {k: v for k, v in tree.items()
          if k == prefix or k.startswith(prefix + os.sep)}


OUTPUTS = {"images_2", "images_4", "images_8", "colmap", "transforms.json",
           "sparse_pc.ply", "report.json", "process_data.log", files.MARKER}


def _refused(capfd, tmp_path, pattern, *args):
  """process_data.py with `args` is one line matching `pattern`, exit
  status 1, and nothing under tmp_path created, changed or removed."""
  before = _tree(tmp_path)
  _one_line_error(_main(capfd, *args), pattern)
  assert _tree(tmp_path) == before


def test_every_bad_flag_is_refused_before_any_work(tmp_path, capfd,
                                                   monkeypatch):
  photos = _fern_photos(str(tmp_path / "photos"), 3)
  video = tmp_path / "clip.mp4"
  video.write_bytes(b"\x00not a video" * 10)
  (tmp_path / "afile").write_text("x")
  os.symlink(tmp_path / "nowhere", tmp_path / "broken")
  out = str(tmp_path / "out")
  t = str(tmp_path)
  images = ("--images", photos, "--output", out)
  vid = ("--video", video, "--output", out)
  cases = [
      (vid + ("--overlap", "0"), r"^error: --overlap: 0; must be an integer "
       ">= 1$"),
      (vid + ("--overlap", "-3"), r"--overlap: -3; must be an integer >= 1"),
      (images + ("--matching", "sequential", "--overlap", "0"),
       r"--overlap: 0; must be"),
      (images + ("--overlap", "5"), r"--overlap: only for sequential "
       r"matching \(--matching sequential; .*\), not exhaustive"),
      (vid + ("--num_frames", "0"), r"--num_frames: 0; Structure-from-Motion "
       "needs at least 3 frames"),
      (vid + ("--num_frames", "2"), r"--num_frames: 2; .* at least 3"),
      (images + ("--num_frames", "10"), r"--num_frames: only for --video"),
      (vid + ("--num_frames", "ten"), r"argument --num_frames: invalid int "
       "value: 'ten'"),
      (images + ("--max_features", "0"), r"--max_features: 0; must be an "
       "integer >= 1"),
      (images + ("--max_image_size", "99"), r"--max_image_size: 99; must be "
       "an integer >= 100"),
      (images + ("--max_image_size", "1e3"), r"--max_image_size: invalid "
       "int"),
      (images + ("--camera_model", "FISHEYE"), r"--camera_model: invalid "
       "choice: 'FISHEYE'"),
      (images + ("--matching", "vocab"), r"--matching: invalid choice"),
      (images + ("--bogus",), r"unrecognized arguments: --bogus"),
      (images + ("--video", video), r"--video: not allowed with argument "
       "--images"),
      (("--output", out), r"one of the arguments --images --video is "
       "required"),
      (("--images", photos), r"required: --output"),
      (("--images", photos, "--output", ""), r"^error: --output: required$"),
      (("--images", f"{t}/none", "--output", out), r"--images: .*/none not "
       "found"),
      (("--images", video, "--output", out), r"--images: .*clip.mp4 is not "
       "a directory"),
      (("--video", photos, "--output", out), r"--video: .*photos is not a "
       "file"),
      (("--video", f"{t}/none.mp4", "--output", out), r"--video: .*none.mp4 "
       "not found"),
      (("--images", photos, "--output", f"{t}/no/such/out"), r"--output: "
       r".*no/such/out: its parent folder .*/no/such does not exist"),
      (("--images", photos, "--output", f"{t}/afile"), r"--output: .*afile "
       "is a file, not a folder"),
      (("--images", photos, "--output", f"{t}/broken"), r"--output: "
       ".*broken is a broken link"),
      (("--video", video, "--output", video), r"--output: .*clip.mp4 is the "
       "video file itself"),
      (("--images", photos, "--output", photos), r"--output: .*photos is "
       "inside the input folder"),
      (("--images", photos, "--output", f"{photos}/sub/out"),
       r"--output: .* is inside the input folder"),
  ]
  for args, pattern in cases:
    _refused(capfd, tmp_path, pattern, *args)
  # The script itself (once): the hang of old, now refused at once.
  result = _run(*vid, "--overlap", "0")
  _one_line_error(result, r"^error: --overlap: 0; must be an integer >= 1$")
  assert not os.path.exists(out)
  # An output folder that cannot be written (as root every folder can).
  monkeypatch.setattr(os, "access", lambda path, mode: False)
  _refused(capfd, tmp_path, r"--output: .*out cannot be created \(.* is not "
           r"writable\)", *images)
  os.mkdir(out)
  _refused(capfd, tmp_path, r"--output: .*out is not writable", *images)


def test_what_is_in_the_way_is_reported_and_untouched(tmp_path, capfd):
  """A user's entry at an output name, an input inside an output entry, a
  marker not ours: one line naming it, and nothing anywhere changed."""
  photos = _fern_photos(str(tmp_path / "photos"), 3)
  (tmp_path / "elsewhere").mkdir()

  def output(name):
    out = tmp_path / name
    out.mkdir()
    return out

  out = output("a")
  (out / "transforms.json").write_text("{}")  # e.g. nerfstudio's own
  _refused(capfd, tmp_path, r"^error: .*a/transforms.json is in the way "
           r"\(process_data.py did not write it\); move it or choose another "
           "--output$", "--images", photos, "--output", out)
  out = output("b")
  (out / "colmap").mkdir()
  (out / "colmap" / "database.db").write_text("theirs")
  _refused(capfd, tmp_path, r".*b/colmap is in the way", "--images", photos,
           "--output", out)
  out = output("c")
  os.symlink(tmp_path / "elsewhere", out / "images")
  _refused(capfd, tmp_path, r".*c/images is in the way", "--images", photos,
           "--output", out)
  out = output("d")
  (out / "images_4").write_text("a file")
  _refused(capfd, tmp_path, r".*d/images_4 is in the way", "--images",
           photos, "--output", out)
  # The input inside what a run replaces, at any depth.
  out = output("e")
  _fern_photos(str(out / "colmap" / "photos"), 3)
  _refused(capfd, tmp_path, r"^error: --images: .*e/colmap/photos is inside "
           r".*e/colmap, which process_data.py writes; move the input or "
           "choose another --output$", "--images", out / "colmap" / "photos",
           "--output", out)
  out = output("f")
  _fern_photos(str(out / "images_2"), 3)
  _refused(capfd, tmp_path, r"--images: .*f/images_2 is inside .*f/images_2,"
           " which", "--images", out / "images_2", "--output", out)
  out = output("g")
  (out / "images").mkdir()
  (out / "images" / "clip.mp4").write_bytes(b"video")
  _refused(capfd, tmp_path, r"--video: .*g/images/clip.mp4 is inside "
           r".*g/images, which", "--video", out / "images" / "clip.mp4",
           "--output", out)
  os.symlink(out / "images", tmp_path / "link")  # the same through a link
  _refused(capfd, tmp_path, r"--video: .*link/clip.mp4 is inside .*g/images",
           "--video", tmp_path / "link" / "clip.mp4", "--output", out)
  # Markers not ours.
  out = output("h")
  files.mark(str(out), "bake.py")
  _refused(capfd, tmp_path, r"--output: .*h was written by bake.py "
           r"\(.*\.jaxnerf\); choose another folder", "--images", photos,
           "--output", out)
  out = output("i")
  (out / files.MARKER).write_text("my notes")
  _refused(capfd, tmp_path, r"--output: .*i/\.jaxnerf: not a marker",
           "--images", photos, "--output", out)


def _check_loadable(out, photos):
  """Whatever a (possibly killed) run left under the final names is
  complete: transforms.json parses and everything it references is there
  and whole; the model reads; the image folders hold every photo."""
  names = sorted(os.listdir(photos))
  image_dir = os.path.join(out, "images")
  if os.path.isdir(image_dir):
    assert sorted(os.listdir(image_dir)) == names
    for name in names:
      with open(os.path.join(image_dir, name), "rb") as a, open(
          os.path.join(photos, name), "rb") as b:
        assert a.read() == b.read(), name
  for factor in (2, 4, 8):
    folder = os.path.join(out, f"images_{factor}")
    if os.path.isdir(folder):
      assert sorted(os.listdir(folder)) == names
      for name in names:
        assert iio.imread(os.path.join(folder, name)).shape == tuple(
            round(n / factor) for n in (189, 252)) + (3,)
  model = os.path.join(out, "colmap", "sparse", "0")
  if os.path.isdir(model):
    assert len(colmap_model.read_model(model).images) >= 3
  for name in ("report.json", files.MARKER):
    if os.path.exists(os.path.join(out, name)):
      json.load(open(os.path.join(out, name)))
  transforms = os.path.join(out, "transforms.json")
  if not os.path.exists(transforms):
    return False
  meta = json.load(open(transforms))
  assert len(meta["frames"]) >= 3
  for frame in meta["frames"]:
    for folder in ("images", "images_2", "images_4", "images_8"):
      path = os.path.join(out, frame["file_path"].replace("images", folder))
      assert os.path.isfile(path), path
  assert len(colmap_model.read_ply_points(
      os.path.join(out, meta["ply_file_path"]))) > 10
  assert os.path.isdir(model)  # written before transforms.json
  json.load(open(os.path.join(out, "report.json")))
  return True


def test_sigkill_at_any_moment_then_a_rerun(tmp_path, capfd):
  """process_data.py killed (SIGKILL) at several moments, each rerun into
  what the last left: nothing half-written under a final name, the photos
  intact, and the last rerun completes and loads."""
  photos = _fern_photos(str(tmp_path / "photos"), 6)
  before = _tree(photos)
  out = str(tmp_path / "out")

  def appeared(pattern):
    return lambda: glob.glob(os.path.join(out, pattern))

  moments = [  # (when to kill, whether the run must still be going)
      ("colmap started", appeared("colmap/database.db"), True),
      ("mapping", appeared("colmap/mapper/0"), True),
      ("downscale", appeared(".tmp-images_2.*"), False),
      ("after the report", appeared("report.json"), False),  # (jax loads)
  ]
  killed = []
  env = {**os.environ, "PYTHONPATH": REPO_ROOT}
  for moment, happened, must_be_running in moments:
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO_ROOT, "process_data.py"),
         "--images", photos, "--output", out], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not happened() and process.poll() is None:
      assert time.time() < deadline, moment
      time.sleep(0.002)
    process.kill()
    returncode = process.wait()
    stderr = process.stderr.read().decode()
    assert returncode in (0, -signal.SIGKILL), stderr
    if returncode == -signal.SIGKILL:
      killed.append(moment)
    else:
      assert not must_be_running, f"{moment}: the run ended first"
    _check_loadable(out, photos)
    assert _tree(photos) == before
  assert killed[:2] == ["colmap started", "mapping"] and len(killed) >= 3
  result = _main(capfd, "--images", photos, "--output", out)
  assert result.returncode == 0, result.stderr
  assert _check_loadable(out, photos)
  assert _tree(photos) == before
  assert not [n for n in _tree(out) if ".tmp-" in n]  # stale ones cleared
  assert set(os.listdir(out)) == OUTPUTS | {"images"}


def test_photos_in_the_output_folder_are_used_in_place(tmp_path, capfd):
  """nerfstudio's layout, `--images mine/images --output mine`: the photos
  stay byte for byte, nothing is added to their folder, the user's other
  files stay; a rerun works; a later run with other photos does not take
  the user's images/ for its own."""
  mine = tmp_path / "mine"
  photos = _fern_photos(str(mine / "images"), 6)
  (mine / "notes.txt").write_text("the user's")
  before = _tree(mine)
  for _ in range(2):  # a rerun replaces its own outputs
    result = _main(capfd, "--images", photos, "--output", mine)
    assert result.returncode == 0, result.stderr
    assert "6 images in " in result.stdout and "(used in place)" in (
        result.stdout)
    after = _tree(mine)
    assert {k: v for k, v in after.items() if k in before} == before
    assert {k.split(os.sep)[0] for k in after if k not in before} == OUTPUTS
  assert "images" not in files.read_mark(str(mine))["outputs"]
  assert _check_loadable(str(mine), photos)
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "nerfstudio", str(mine), "/tmp/unused", factor=2,
                   llffhold=3)
  data = load_dataset(c, "train")
  assert len(data.names) == 4 and data.images[0].shape == (94, 126, 3)
  other = _fern_photos(str(tmp_path / "other"), 3)
  _refused(capfd, tmp_path, r".*mine/images is in the way \(process_data.py "
           r"did not write it\)", "--images", other, "--output", mine)


def test_rerun_replaces_only_its_own_outputs(tmp_path, capfd):
  """A separate input: copied into output/images. A rerun replaces the
  previous outputs; a user's file added inside one of them, or an output
  the user edited, stops it with one line, nothing touched."""
  photos = _fern_photos(str(tmp_path / "photos"), 6)
  before = _tree(photos)
  out = tmp_path / "out"
  out.mkdir()
  (out / "notes.txt").write_text("the user's")
  for _ in range(2):
    result = _main(capfd, "--images", photos, "--output", out)
    assert result.returncode == 0, result.stderr
    assert _tree(photos) == before
    assert set(os.listdir(out)) == OUTPUTS | {"images", "notes.txt"}
    assert (out / "notes.txt").read_text() == "the user's"
  assert _check_loadable(str(out), photos)
  marker = files.read_mark(str(out))
  assert marker["written_by"] == "process_data.py"
  assert set(marker["outputs"]) == OUTPUTS - {files.MARKER} | {"images"}
  assert marker["outputs"]["images"]["files"] == sorted(os.listdir(photos))
  (out / "images_2" / "mine.png").write_bytes(b"the user's")
  _refused(capfd, tmp_path, r"^error: .*out/images_2/mine.png is in the way "
           r"\(process_data.py did not write it\)", "--images", photos,
           "--output", out)
  (out / "images_2" / "mine.png").unlink()
  with open(out / "transforms.json", "a") as f:
    f.write("\n")  # edited by hand
  _refused(capfd, tmp_path, r"^error: .*out/transforms.json was changed since "
           "process_data.py wrote it; move it or choose another --output$",
           "--images", photos, "--output", out)


def test_a_video_inside_the_output_folder(tmp_path, capfd):
  """`--video out/clip.mp4 --output out`: frames into out/images, the video
  untouched, twice (the rerun replaces the frames it wrote)."""
  import imageio_ffmpeg
  out = tmp_path / "out"
  out.mkdir()
  video = str(out / "clip.mp4")
  writer = imageio_ffmpeg.write_frames(video, (252, 188), fps=2, quality=10,
                                       macro_block_size=1,
                                       ffmpeg_log_level="error")
  writer.send(None)
  for name in sorted(os.listdir(os.path.join(FERN, "images_16")))[:6]:
    image = iio.imread(os.path.join(FERN, "images_16", name))[:188, :, :3]
    writer.send(np.ascontiguousarray(image).tobytes())
  writer.close()
  before = _tree(out)
  for _ in range(2):
    result = _main(capfd, "--video", video, "--output", out, "--num_frames",
                   6)
    assert result.returncode == 0, result.stderr
    assert "matching (sequential)" in result.stdout
    assert _tree(out)["clip.mp4"] == before["clip.mp4"]
    assert set(os.listdir(out)) == OUTPUTS | {"images", "clip.mp4"}
    assert sorted(os.listdir(out / "images")) == [
        f"frame_{i:05d}.png" for i in range(1, 7)]
    meta = json.load(open(out / "transforms.json"))
    assert len(meta["frames"]) >= 3 and meta["h"] == 188


def test_in_place_through_links(tmp_path):
  """output/images that is (a link to) the photos' folder is used in place;
  checks only, no SfM."""
  photos = _fern_photos(str(tmp_path / "photos"), 3)
  out = tmp_path / "out"
  out.mkdir()
  os.symlink(photos, out / "images")
  for given in (photos, str(out / "images")):
    request = pipeline.Request(output=str(out), images=given)
    assert pipeline.in_place(request)
    outputs, names = pipeline.prepare(request)
    assert names == ["image000.png", "image001.png", "image002.png"]
    assert outputs.records == {}
  assert not pipeline.in_place(pipeline.Request(output=str(tmp_path), images=
                                                photos))
  assert sorted(os.listdir(out)) == ["images"]  # prepare wrote nothing
