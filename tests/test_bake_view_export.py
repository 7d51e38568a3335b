"""bake.py, eval.py --config.render_baked, view.py and export.py on a tiny
trained run of the embedded lego: the entry points (in-process, through
their argument parsing), the browser pages in headless Chromium, and the
one-line errors."""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import imageio.v3 as iio
import numpy as np
import pytest
import trimesh

import browser
from conftest import EMBEDDED_LEGO, REPO_ROOT
from jaxnerf.baked import bake
from jaxnerf.engine import evaluator, trainer
from jaxnerf.core import metrics
from jaxnerf.errors import BakedFileError
from jaxnerf.engine import config as config_lib

CONFIG = os.path.join(REPO_ROOT, "tests", "configs", "tiny_ngp_sh.py")
STEPS = 150


def script(name):
  """The command module jaxnerf.commands.<name> (its flags, job and main)."""
  return importlib.import_module(f"jaxnerf.commands.{name}")


def run(name, train_dir, *args):
  """Exit status of `python <name>.py --config=CONFIG ...`, in-process."""
  return script(name).main([f"{name}.py", f"--config={CONFIG}",
                            f"--config.train_dir={train_dir}", *args])


def load(train_dir, **fields):
  c = config_lib.load_config(CONFIG)
  with c.unlocked():
    c.train_dir = str(train_dir)
    c.max_steps = STEPS
    c.update(fields)
  return c


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A 60-step run, baked at 32^3 and evaluated (field and baked) on one
  test view."""
  train_dir = tmp_path_factory.mktemp("tiny_sh")
  trainer.train(load(train_dir))
  assert run("bake", train_dir, "--resolution=32", "--block_size=4",
             "--sh_degree=2", "--cull_ray_stride=8") == 0
  for baked in (False, True):
    evaluator.evaluate(load(train_dir, render_baked=baked,
                            test_view_limit=1))
  return train_dir


def test_baked_scene_scores_close_to_the_field(run_dir):
  scene = bake.load(str(run_dir / "baked.npz"), "instant_ngp")
  assert scene.step == STEPS and scene.resolution == 32
  assert scene.sh_degree == 2 and 0 < scene.num_blocks < 8**3
  with open(run_dir / f"eval_test_{STEPS}" / "metrics.json") as f:
    field = json.load(f)["mean"]["psnr"]
  with open(run_dir / f"eval_test_{STEPS}_baked" / "metrics.json") as f:
    baked = json.load(f)["mean"]["psnr"]
  # A coarse 32^3 grid loses some detail of the field.
  assert baked > field - 1.5, (field, baked)
  assert (run_dir / f"eval_test_{STEPS}_baked" / "r_0_depth.png").is_file()


def test_finetuning_through_bake_py(run_dir, capsys):
  assert run("bake", run_dir, f"--input={run_dir / 'baked.npz'}",
             "--finetune_steps=20", "--finetune_batch_size=512") == 0
  assert "fine-tuned 20 steps" in capsys.readouterr().out
  tuned = bake.load(str(run_dir / "baked_finetuned.npz"))
  before = bake.load(str(run_dir / "baked.npz"))
  np.testing.assert_array_equal(tuned.block_index, before.block_index)
  assert not np.allclose(tuned.sh, before.sh)


def screenshot_psnr(page_pixels, png_path):
  reference = iio.imread(png_path)[..., :3].astype(np.float32) / 255
  assert page_pixels.shape == reference.shape
  return float(metrics.psnr(page_pixels, reference))


def check_not_blank(pixels):
  """Neither one colour nor the white background everywhere."""
  assert pixels.std() > 0.05
  assert np.mean(np.all(pixels > 0.98, -1)) < 0.95


def test_viewer_page_shows_the_field_in_chromium(run_dir):
  from jaxnerf.export import viewer
  server, step = viewer.start(load(run_dir), "127.0.0.1", 0)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  page = browser.open_browser()
  try:
    port = server.server_address[1]
    page.get(f"http://127.0.0.1:{port}/?view=test:0&cameras=0")
    browser.wait_for_state(page, "full", 180)
    pixels = browser.element_pixels(page, "image")
    check_not_blank(pixels)
    # The page's full-resolution image is eval.py's render of that camera
    # (both PNGs of the same float image).
    assert screenshot_psnr(pixels, run_dir / f"eval_test_{STEPS}" /
                           "r_0_rgb.png") > 40
    # The depth toggle shows a different picture.
    page.find_element("css selector", "button[data-mode=depth]").click()
    browser.wait_for_state(page, "coarse", 60)
    browser.wait_for_state(page, "full", 120)
    depth = browser.element_pixels(page, "image")
    assert screenshot_psnr(depth, run_dir / f"eval_test_{STEPS}" /
                           "r_0_depth.png") > 40
    assert step == STEPS
  finally:
    page.quit()
    server.shutdown()
    server.server_close()


def test_static_webgl_page_matches_the_baked_render(run_dir, tmp_path):
  out = tmp_path / "web"
  assert run("export", run_dir, "webgl", f"--out={out}") == 0
  assert sorted(os.listdir(out)) == ["index.html", "scene.js", "viewer.js"]
  pixels = browser.ready_pixels(f"file://{out}/index.html?view=test:0")
  check_not_blank(pixels)
  # WebGL reads 8-bit SH and 16-bit densities, and SwiftShader's filtering
  # differs from float32 trilinear interpolation by rounding: 35 dB is the
  # tolerance (measured: above 60 dB).
  assert screenshot_psnr(pixels, run_dir / f"eval_test_{STEPS}_baked" /
                         "r_0_rgb.png") > 35


def test_mesh_and_point_cloud_of_the_lego(run_dir, tmp_path, capsys):
  # A short run's density is still low: a lower surface threshold. The
  # output folders do not exist yet: they are made.
  assert run("export", run_dir, "mesh", "--resolution=48", "--threshold=2",
             f"--out={tmp_path / 'new' / 'deeper' / 'lego'}") == 0
  assert "largest component" in capsys.readouterr().out
  assert sorted(os.listdir(tmp_path / "new" / "deeper")) == ["lego.obj",
                                                             "lego.ply"]
  for ext in ("ply", "obj"):
    mesh = trimesh.load(tmp_path / "new" / "deeper" / f"lego.{ext}",
                        process=False, force="mesh")
    assert len(mesh.faces) > 500
    assert np.all(np.abs(mesh.vertices) <= 1.5 + 1e-4)  # the scene box
  from jaxnerf.export import geometry
  share = geometry.largest_component_fraction(
      np.asarray(mesh.vertices), np.asarray(mesh.faces))
  assert share > 0.5, share
  assert run("export", run_dir, "pointcloud", "--view_stride=50",
             "--pixel_stride=2", f"--out={tmp_path / 'new2' / 'cloud.ply'}"
             ) == 0
  assert os.listdir(tmp_path / "new2") == ["cloud.ply"]
  cloud = trimesh.load(tmp_path / "new2" / "cloud.ply")
  assert 100 < len(cloud.vertices) <= 2 * 50 * 50
  # Points on the lego: inside the scene box, below the cameras.
  assert np.all(np.abs(cloud.vertices) < 1.6)


def one_line_error(capsys, code):
  assert code == 1
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and err.startswith("error: "), err
  return err


def test_bad_input_is_a_one_line_error(run_dir, tmp_path, capsys):
  empty = tmp_path / "empty"
  empty.mkdir()
  for name, args in (("bake", ()), ("export", ("mesh",)),
                     ("view", ("--port=0",))):
    err = one_line_error(capsys, run(name, empty, *args))
    assert "no checkpoint" in err or "run train.py first" in err, err
  err = one_line_error(capsys, run("bake", run_dir, "--resolution=8192"))
  assert "--resolution" in err and "GiB" in err
  err = one_line_error(capsys, run("export", run_dir, "mesh",
                                   "--resolution=20000"))
  assert "--resolution" in err and "GiB" in err
  err = one_line_error(capsys, run("bake", run_dir, "--nonsense=1"))
  assert "--nonsense" in err
  # A baked file of another method, or of another format version.
  scene = bake.load(str(run_dir / "baked.npz"))
  scene.method = "nerf"
  bake.save(str(tmp_path / "other.npz"), scene)
  err = one_line_error(capsys, run(
      "eval", run_dir, "--config.render_baked=true",
      f"--config.baked_file={tmp_path / 'other.npz'}"))
  assert "baked from method 'nerf'" in err
  # A port in use.
  import socket
  with socket.socket() as taken:
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    err = one_line_error(capsys, run("view", run_dir, f"--port={port}"))
  assert f"--port {port}: already in use" in err


def test_a_point_cloud_without_points_is_one_line(run_dir, tmp_path, capsys):
  # The corner pixels of two views: background, never that opaque.
  err = one_line_error(capsys, run(
      "export", run_dir, "pointcloud", "--view_stride=50",
      "--pixel_stride=99", "--min_opacity=0.99",
      f"--out={tmp_path / 'out' / 'cloud.ply'}"))
  assert "--min_opacity 0.99: no ray of the 2 training views" in err, err
  assert os.listdir(tmp_path) == []


def broken_run(run_dir, tmp_path, scene_json: bytes):
  """A run folder with the fixture's checkpoints and this scene.json."""
  folder = tmp_path / "broken"
  folder.mkdir(exist_ok=True)
  if not (folder / "checkpoints").exists():
    os.symlink(run_dir / "checkpoints", folder / "checkpoints")
  (folder / trainer.SCENE_FILE).write_bytes(scene_json)
  return folder


def test_a_damaged_scene_json_is_one_line_for_each_reader(run_dir, tmp_path,
                                                          capsys):
  good = (run_dir / trainer.SCENE_FILE).read_bytes()
  cases = {"eval": (good[:len(good) // 2], "malformed JSON"),
           "export": (b"\xff\xfe{}", "not UTF-8"),
           "view": (b'{"num_cameras": "many"}', "num_cameras")}
  for name, (text, says) in cases.items():
    folder = broken_run(run_dir, tmp_path, text)
    args = {"export": ("mesh", "--resolution=8",
                       f"--out={tmp_path / 'mesh'}"),
            "view": ("--port=0",), "eval": ()}[name]
    before = sorted(os.listdir(folder))
    err = one_line_error(capsys, run(name, folder, *args))
    assert f"{folder / trainer.SCENE_FILE}: {says}" in err, (name, err)
    assert sorted(os.listdir(folder)) == before
  assert sorted(os.listdir(tmp_path)) == ["broken"]


def test_a_damaged_baked_file_is_one_line(run_dir, tmp_path, capsys):
  good = (run_dir / "baked.npz").read_bytes()
  flipped = bytearray(good)
  flipped[len(good) // 2] ^= 0xFF  # inside the compressed arrays
  cases = {f"cut at {n}": good[:n]
           for n in (0, 10, len(good) // 2, len(good) - 22, len(good) - 1)}
  cases["a flipped byte"] = bytes(flipped)
  cases["text"] = b"not a zip at all"
  path = tmp_path / "baked.npz"
  for what, data in cases.items():
    path.write_bytes(data)
    with pytest.raises(BakedFileError, match="not a baked scene"):
      bake.load(str(path))
    assert what  # (the case, in the traceback of a failure)
  np.save(tmp_path / "array.npy", np.zeros(3))
  shutil.move(tmp_path / "array.npy", path)
  with pytest.raises(BakedFileError, match="an array, not an .npz"):
    bake.load(str(path))
  scene = bake.load(str(run_dir / "baked.npz"))
  np.savez(path, meta=np.asarray("{}"), block_index=scene.block_index,
           density=scene.density, sh=scene.sh)
  with pytest.raises(BakedFileError, match="format None version None"):
    bake.load(str(path))
  with np.load(run_dir / "baked.npz") as f:
    meta = str(f["meta"])
  np.savez(path, meta=np.asarray(meta), block_index=scene.block_index,
           density=scene.density[:, :3], sh=scene.sh)
  with pytest.raises(BakedFileError, match="inconsistent shapes"):
    bake.load(str(path))
  path.write_bytes(good[:len(good) // 2])
  err = one_line_error(capsys, run("eval", run_dir,
                                   "--config.render_baked=true",
                                   f"--config.baked_file={path}"))
  assert f"{path}: not a baked scene" in err
  err = one_line_error(capsys, run("export", run_dir, "webgl",
                                   f"--config.baked_file={path}",
                                   f"--out={tmp_path / 'web'}"))
  assert f"{path}: not a baked scene" in err
  assert not (tmp_path / "web").exists()


def scene_js_views(out):
  text = (out / "scene.js").read_text()
  prefix = "// written by jaxnerf (export.py webgl)\nwindow.BAKED = "
  assert text.startswith(prefix) and text.endswith(";\n")
  return json.loads(text[len(prefix):-2])["views"]


def test_webgl_views_where_the_eval_split_is_absent_or_broken(
    run_dir, tmp_path, capsys):
  from jaxnerf.engine import runs
  data = tmp_path / "lego"
  shutil.copytree(EMBEDDED_LEGO, data)
  (data / "transforms_test.json").unlink()
  config = load(run_dir, data_dir=str(data))
  assert not runs.split_exists(config, "test")
  assert runs.split_exists(config, "train")
  out = tmp_path / "web"
  assert run("export", run_dir, "webgl", f"--config.data_dir={data}",
             f"--out={out}") == 0
  views = scene_js_views(out)
  assert len(views) == 100 and all(k.startswith("train:") for k in views)
  # A test split that exists but cannot be read is an error, not skipped.
  (data / "transforms_test.json").write_text('{"frames": [')
  err = one_line_error(capsys, run("export", run_dir, "webgl",
                                   f"--config.data_dir={data}",
                                   f"--out={tmp_path / 'web2'}"))
  assert "transforms_test.json" in err and "malformed JSON" in err, err
  assert not (tmp_path / "web2").exists()
  # Multiscale scenes name their splits in metadata.json.
  (tmp_path / "ms").mkdir()
  (tmp_path / "ms" / "metadata.json").write_text('{"train": {}}')
  ms = load(run_dir, data_dir=str(tmp_path / "ms"),
            dataset_type="multiscale")
  assert not runs.split_exists(ms, "test")
  (tmp_path / "ms" / "metadata.json").write_text('{"train": {}, "test": {}}')
  assert runs.split_exists(ms, "test")


def test_a_bake_killed_while_writing_leaves_the_last_complete_file(
    run_dir, tmp_path):
  """SIGKILL during bake.py's write: the file under the final name is the
  previous complete one (never a prefix); a rerun succeeds and clears the
  killed write's temporary."""
  out = tmp_path / "baked.npz"
  shutil.copyfile(run_dir / "baked.npz", out)
  previous = out.read_bytes()
  flags = ["--resolution=32", "--block_size=4", "--sh_degree=2",
           "--cull_ray_stride=8", f"--out={out}"]
  proc = subprocess.Popen(
      [sys.executable, os.path.join(REPO_ROOT, "bake.py"),
       f"--config={CONFIG}", f"--config.train_dir={run_dir}", *flags],
      cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  temporaries = lambda: [n for n in os.listdir(tmp_path)
                         if n.startswith(".tmp-baked.npz.")]
  deadline = time.time() + 300
  writing = False
  try:
    while proc.poll() is None and time.time() < deadline:
      if temporaries():
        proc.send_signal(signal.SIGSTOP)  # frozen mid-write, then killed
        writing = bool(temporaries())
        break
      time.sleep(0.002)
  finally:
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
  assert writing, ("the bake was never caught writing", proc.returncode,
                   stderr[-2000:])
  assert proc.returncode == -signal.SIGKILL
  assert out.read_bytes() == previous  # the old file, whole
  bake.load(str(out))
  assert len(temporaries()) == 1  # the killed write's, under its own name
  assert run("bake", run_dir, *flags) == 0
  assert temporaries() == [] and sorted(os.listdir(tmp_path)) == [
      "baked.npz"]
  scene = bake.load(str(out))
  assert scene.step == STEPS and scene.resolution == 32
