"""Data parallelism: 1 device == 4 devices == 2 processes, padded rendering,
clear errors for batch sizes that do not split.

Each configuration runs in a subprocess (this file is also the worker), as
the device count (XLA_FLAGS) and jax.distributed are fixed at start-up.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, xla_flags

STEPS = 3
# A tiny LLFF NeRF on the embedded fern, with the default batch drawing:
# every device count draws the same batches.
OVERRIDES = dict(data_dir=os.path.join(REPO_ROOT, "data", "fern_small"),
                 netdepth=2, netwidth=32, netwidth_condition=16,
                 num_coarse_samples=8, num_fine_samples=8, batch_size=64,
                 max_steps=STEPS, print_every=1, save_every=1000,
                 render_every=0, chunk=256)
CROP = (37, 29)  # 1073 rays: not a multiple of the chunk or the devices


def _config(train_dir, **extra):
  from jaxnerf.engine import config as config_lib
  config = config_lib.load_config("llff_demo")
  with config.unlocked():
    config.update(OVERRIDES)
    config.update(extra)
    config.train_dir = train_dir
  return config


def worker(out_dir, extra):
  """Trains, renders a crop of a test view, saves both (process 0)."""
  import functools
  from jaxnerf.engine import parallel
  parallel.initialize_distributed()
  import jax
  from jaxnerf import errors
  from jaxnerf.engine import trainer, training
  from jaxnerf.data.dataset import load_dataset
  result = dict(devices=jax.device_count(), processes=jax.process_count())
  if extra.pop("check_errors", False):
    messages = []
    for bad in (dict(batch_size=66),):
      try:
        trainer.train(_config(os.path.join(out_dir, "bad"), **bad))
      except errors.ConfigError as e:
        messages.append(str(e))
    result["errors"] = messages
  config = _config(os.path.join(out_dir, "run"), **extra)
  state, _ = trainer.train(config)
  mesh = parallel.make_mesh()
  view = load_dataset(config, "test", max_images=1).image_rays(0)
  view = jax.tree.map(lambda x: x[:CROP[0], :CROP[1]], view)
  # The initial parameters (equal everywhere by construction) and the
  # trained ones (equal to float tolerance, amplified by fine sampling).
  method, model, init_state = training.setup(
      config, jax.random.split(jax.random.PRNGKey(config.seed))[0])
  init_state = parallel.put_replicated(init_state, mesh)
  render_fn = training.make_render_fn(method, model, config)
  image = {}
  for name, s in (("init", init_state), ("trained", state)):
    out = parallel.render_image(
        functools.partial(render_fn, training.variables_of(s), cameras=None,
                          step=s.step), view, config.chunk, mesh)
    image.update({f"{name}/{k}": v for k, v in out.items()})
  if jax.process_index() == 0:
    params = jax.tree_util.tree_flatten_with_path(
        parallel.to_host(state.params))[0]
    np.savez(os.path.join(out_dir, "result.npz"),
             **{jax.tree_util.keystr(k): np.asarray(v) for k, v in params},
             **{"render/" + k: v for k, v in image.items()})
    result["step"] = int(state.step)
    with open(os.path.join(out_dir, "result.json"), "w") as f:
      json.dump(result, f)


def _env(devices, **extra):
  # PYTHONPATH: this checkout's jaxnerf, whichever one pip installed.
  env = dict(os.environ, XLA_FLAGS=xla_flags(
      f"--xla_force_host_platform_device_count={devices}"),
             JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT)
  for k in ("JAXNERF_COORDINATOR", "JAXNERF_NUM_PROCESSES",
            "JAXNERF_PROCESS_ID"):
    env.pop(k, None)
  env.update(extra)
  return env


def _start(out_dir, env, **extra):
  return subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), str(out_dir),
       json.dumps(extra)], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=240):
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, out[-3000:]
  return out


def _run(out_dir, devices, **extra):
  log = _finish(_start(out_dir, _env(devices), **extra))
  return log, _load(out_dir)


def _load(out_dir):
  with open(os.path.join(out_dir, "result.json")) as f:
    result = json.load(f)
  with np.load(os.path.join(out_dir, "result.npz")) as arrays:
    result["arrays"] = dict(arrays)
  return result


def _losses(log):
  return [float(line.split("loss")[1].split()[0])
          for line in log.splitlines() if line.startswith("step ")]


def _assert_same(a, b):
  """Parameters and the render with the initial parameters to 1e-5; the
  render with the trained ones (equal to 1e-5) to 2e-3: fine samples move
  with float noise in the coarse weights, and disparity amplifies it."""
  assert a.keys() == b.keys()
  for k in a:
    tol = 2e-3 if k.startswith("render/trained") else 1e-5
    np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=tol, err_msg=k)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
  return _run(tmp_path_factory.mktemp("one"), 1)


def test_four_devices_match_one(one_device, tmp_path):
  log1, ref = one_device
  log4, four = _run(tmp_path, 4, check_errors=True)
  assert (ref["devices"], four["devices"]) == (1, 4)
  assert ref["step"] == four["step"] == STEPS
  losses1, losses4 = _losses(log1), _losses(log4)
  assert len(losses1) == len(losses4) == STEPS
  np.testing.assert_allclose(losses4, losses1, rtol=1e-4)
  # Parameters after training and the rendered crop (padded chunks).
  _assert_same(four["arrays"], ref["arrays"])
  assert four["arrays"]["render/init/rgb"].shape == CROP + (3,)
  # A batch size that does not split gives a clear error.
  (bad_batch,) = four["errors"]
  assert "config.batch_size: 66 is not divisible by the 4 devices" in bad_batch


def test_two_processes_match_one_and_resume(one_device, tmp_path):
  _, ref = one_device
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

  def launch(**extra):
    procs = [_start(tmp_path, _env(
        1, JAXNERF_COORDINATOR=f"127.0.0.1:{port}", JAXNERF_NUM_PROCESSES="2",
        JAXNERF_PROCESS_ID=str(i)), **extra) for i in range(2)]
    return [_finish(p) for p in procs]

  # Stop after step 1 (the time limit is hit at the first log), then resume
  # both processes from that checkpoint to STEPS.
  logs = launch(max_time_minutes=1e-9)
  assert "Stopping at step 1" in logs[0]
  logs = launch()
  assert "Resumed from" in logs[0] and "at step 1" in logs[0]
  assert "step" not in logs[1].replace("Resumed", "")  # only process 0 logs
  two = _load(tmp_path)
  assert (two["devices"], two["processes"], two["step"]) == (2, 2, STEPS)
  _assert_same(two["arrays"], ref["arrays"])
  checkpoints = sorted(os.listdir(tmp_path / "run" / "checkpoints"))
  assert checkpoints == ["1", str(STEPS)], checkpoints
  events = [f for f in os.listdir(tmp_path / "run" / "summaries")
            if "tfevents" in f]
  assert len(events) == 2, events  # one per launch: process 0 only


if __name__ == "__main__":
  worker(sys.argv[1], json.loads(sys.argv[2]))
