"""End to end: train.py / eval.py as a user runs them, on the embedded lego."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import EMBEDDED_LEGO, REPO_ROOT, xla_flags

TINY = ["--config=demo", f"--config.data_dir={EMBEDDED_LEGO}",
        "--config.batch_size=64", "--config.num_coarse_samples=8",
        "--config.num_fine_samples=8", "--config.netdepth=2",
        "--config.netwidth=32", "--config.netwidth_condition=16",
        "--config.render_every=0", "--config.chunk=2048"]


def run(script, *args, timeout=300):
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  return subprocess.run([sys.executable, os.path.join(REPO_ROOT, script),
                         *TINY, *args], capture_output=True, text=True,
                        timeout=timeout, cwd=REPO_ROOT, env=env)


def final_params(train_dir, step):
  """The parameters of a checkpoint, saved on any number of devices, on
  this process's first device."""
  import jax
  import orbax.checkpoint as ocp
  path = os.path.abspath(os.path.join(train_dir, "checkpoints", str(step),
                                      "default"))
  checkpointer = ocp.StandardCheckpointer()
  metadata = checkpointer.metadata(path)
  metadata = getattr(metadata, "item_metadata", metadata)
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      dict(metadata))
  return jax.tree.leaves(checkpointer.restore(path, target)["params"])


def test_short_training_lowers_loss(tiny_config):
  from jaxnerf.engine import trainer
  with tiny_config.unlocked():
    tiny_config.max_steps = 150
    tiny_config.batch_size = 256
    tiny_config.print_every = 10
    tiny_config.save_every = 1000
    tiny_config.lr_init, tiny_config.lr_final = 5e-3, 5e-4
  state, history = trainer.train(tiny_config)
  assert int(state.step) == 150
  first = history[0]["loss"]
  last = np.mean([h["loss"] for h in history[-3:]])
  assert last < 0.5 * first, (first, last)
  assert history[-1]["psnr"] > 15.0


def test_kill_and_resume_matches_uninterrupted_run(tmp_path):
  common = ["--config.max_steps=40", "--config.save_every=10",
            "--config.print_every=10", "--config.keep_checkpoints=10"]
  straight = str(tmp_path / "straight")
  r = run("train.py", f"--config.train_dir={straight}", *common)
  assert r.returncode == 0, r.stderr

  resumed = str(tmp_path / "resumed")
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen(
      [sys.executable, os.path.join(REPO_ROOT, "train.py"), *TINY,
       f"--config.train_dir={resumed}", *common],
      cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  ckpt = os.path.join(resumed, "checkpoints", "20")
  deadline = time.time() + 240
  while not os.path.isdir(ckpt) and time.time() < deadline:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert os.path.isdir(ckpt), "the run never reached its step-20 checkpoint"
  assert not os.path.isdir(os.path.join(resumed, "checkpoints", "40"))
  r = run("train.py", f"--config.train_dir={resumed}", *common)
  assert r.returncode == 0, r.stderr
  assert "Resumed from" in r.stdout
  for a, b in zip(final_params(straight, 40), final_params(resumed, 40)):
    np.testing.assert_array_equal(a, b)


def test_eval_writes_images_metrics_and_video(tmp_path):
  train_dir = str(tmp_path / "run")
  r = run("train.py", f"--config.train_dir={train_dir}",
          "--config.max_steps=5", "--config.print_every=5")
  assert r.returncode == 0, r.stderr
  r = run("eval.py", f"--config.train_dir={train_dir}",
          "--config.test_view_limit=2")
  assert r.returncode == 0, r.stderr
  out = os.path.join(train_dir, "eval_test_5")
  names = sorted(os.listdir(out))
  for expected in ("metrics.json", "r_0_rgb.png", "r_0_depth.png",
                   "r_0_acc.png", "r_8_rgb.png", "video_rgb.mp4",
                   "video_depth.mp4"):
    assert expected in names, names
  with open(os.path.join(out, "metrics.json")) as f:
    m = json.load(f)
  assert m["step"] == 5 and len(m["images"]) == 2
  for key in ("psnr", "ssim", "depth_mae"):
    assert np.isfinite(m["mean"][key])
  np.testing.assert_allclose(
      m["mean"]["psnr"], np.mean([i["psnr"] for i in m["images"]]), rtol=1e-6)


def _one_line_error(r, *fragments):
  assert r.returncode == 1, (r.stdout, r.stderr)
  assert "Traceback" not in r.stderr, r.stderr
  lines = [l for l in r.stderr.strip().splitlines() if l.startswith("error:")]
  assert len(lines) == 1, r.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


def test_bad_input_gets_one_line_errors(tmp_path):
  train_dir = f"--config.train_dir={tmp_path / 'run'}"
  _one_line_error(run("train.py", train_dir,
                      f"--config.data_dir={tmp_path / 'missing'}"),
                  "config.data_dir", "missing")
  assert not (tmp_path / "run").exists()  # bad input leaves nothing
  bad = tmp_path / "bad_scene"
  shutil.copytree(EMBEDDED_LEGO, bad)
  (bad / "transforms_train.json").write_text("{ not json")
  _one_line_error(run("train.py", train_dir, f"--config.data_dir={bad}"),
                  "transforms_train.json", "malformed JSON")
  _one_line_error(run("train.py", "--config.nope=3", train_dir),
                  "unknown config field 'nope'")
  _one_line_error(run("eval.py", train_dir), "no checkpoint")
  assert not (tmp_path / "run").exists()  # not made by reading it
  r = subprocess.run([sys.executable, "train.py", "--config=nonexistent"],
                     capture_output=True, text=True, cwd=REPO_ROOT)
  _one_line_error(r, "no config 'nonexistent'", "known names")


def test_scene_json_is_written_atomically_and_read_with_one_line_errors(
    tmp_path, monkeypatch):
  from jaxnerf import files
  from jaxnerf.engine import trainer
  from jaxnerf.errors import CheckpointError
  from jaxnerf.methods import base
  world = tuple(tuple(2.0 * (i == j) + (j == 3) * 0.5 for j in range(4))
                for i in range(4))
  scene = base.SceneInfo(num_cameras=3, world_from_scene=world)
  trainer.write_scene_info(str(tmp_path), scene)
  assert trainer.read_scene_info(str(tmp_path)) == scene
  path = tmp_path / trainer.SCENE_FILE
  good = path.read_bytes()
  # An interrupted rewrite leaves the old file whole, and no temporary.
  def interrupted(obj, f, **kwargs):
    f.write('{"num_cam')
    raise KeyboardInterrupt
  monkeypatch.setattr(files.json, "dump", interrupted)
  with pytest.raises(KeyboardInterrupt):
    trainer.write_scene_info(str(tmp_path), base.SceneInfo(num_cameras=9))
  monkeypatch.undo()
  assert path.read_bytes() == good and os.listdir(tmp_path) == [
      trainer.SCENE_FILE]
  cases = [(good[:n], "malformed JSON") for n in
           (0, 1, len(good) // 3, len(good) // 2, len(good) - 1)]
  cases += [
      (b'{"num_cameras": 3, "w\xe9": 1}', "not UTF-8"),
      (b"[3]", "num_cameras must be a whole number >= 1, got None"),
      (b'{"num_cameras": 0}', "got 0"),
      (b'{"num_cameras": "3"}', "got '3'"),
      (b'{"num_cameras": true}', "got True"),
      (b'{"num_cameras": 3, "world_from_scene": [[1, 0, 0], [0, 1, 0]]}',
       "world_from_scene must be a 4x4"),
      (b'{"num_cameras": 3, "world_from_scene": ' +
       json.dumps([[1, 0, 0, 0]] * 3 + [[0, 0, 0, float("nan")]]).encode() +
       b"}", "4x4 matrix of finite numbers"),
      (b'{"num_cameras": 3, "world_from_scene": [["a"]]}',
       "world_from_scene must be a 4x4"),
  ]
  for text, says in cases:
    path.write_bytes(text)
    with pytest.raises(CheckpointError) as e:
      trainer.read_scene_info(str(tmp_path))
    message = str(e.value)
    assert message.startswith(f"{path}: ") and says in message, (text,
                                                                 message)
    assert "\n" not in message


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  train_dir = str(tmp_path / "run")
  r = run("train.py", f"--config.train_dir={train_dir}",
          "--config.max_steps=10", "--config.save_every=5",
          "--config.print_every=5")
  assert r.returncode == 0, r.stderr
  good = final_params(train_dir, 10)
  # Resume with a learning rate that makes the parameters overflow.
  r = run("train.py", f"--config.train_dir={train_dir}",
          "--config.max_steps=40", "--config.save_every=5",
          "--config.print_every=5", "--config.lr_init=1e38",
          "--config.lr_final=1e38")
  _one_line_error(r, "non-finite", "last good checkpoint")
  steps = sorted(int(s) for s in os.listdir(
      os.path.join(train_dir, "checkpoints")) if s.isdigit())
  for step in steps:
    for leaf in final_params(train_dir, step):
      assert np.all(np.isfinite(leaf))
  assert max(steps) < 40
  for a, b in zip(good, final_params(train_dir, 10)):  # left intact
    np.testing.assert_array_equal(a, b)


def test_same_config_gives_the_same_run_on_one_and_four_devices(tmp_path):
  """The default batch drawing does not depend on the device count: train.py
  then eval.py on 1 and on 4 (forced CPU) devices agree to float noise."""
  results = {}
  for devices in (1, 4):
    env = dict(os.environ, PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu",
               XLA_FLAGS=xla_flags(
                   f"--xla_force_host_platform_device_count={devices}"))
    train_dir = str(tmp_path / f"devices{devices}")
    args = [f"--config.train_dir={train_dir}", "--config.max_steps=20",
            "--config.print_every=10"]
    for script, extra in (("train.py", []),
                          ("eval.py", ["--config.test_view_limit=2",
                                       "--config.save_video=false"])):
      r = subprocess.run([sys.executable, os.path.join(REPO_ROOT, script),
                          *TINY, *args, *extra], capture_output=True,
                         text=True, timeout=300, cwd=REPO_ROOT, env=env)
      assert r.returncode == 0, r.stderr[-3000:]
      if script == "train.py":
        losses = [float(line.split("loss")[1].split()[0])
                  for line in r.stdout.splitlines() if line.startswith("step")]
    with open(os.path.join(train_dir, "eval_test_20", "metrics.json")) as f:
      results[devices] = (final_params(train_dir, 20), losses,
                          json.load(f)["mean"]["psnr"])
  (params1, losses1, psnr1), (params4, losses4, psnr4) = results[1], results[4]
  np.testing.assert_allclose(losses1, losses4, rtol=1e-3)
  # Float noise (reductions reorder) flips the sign of tiny gradients, and
  # Adam then moves a parameter by ~lr (2e-3) the other way: the parameters
  # agree to a few steps' worth, the rendered test views to 0.01 dB. (When
  # each device drew its own batch, this run gave 10.41 vs 10.44 dB, with
  # losses 3% apart.)
  for a, b in zip(params1, params4):
    np.testing.assert_allclose(a, b, atol=5e-3)
  assert abs(psnr1 - psnr4) < 0.01, (psnr1, psnr4)
