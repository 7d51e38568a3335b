"""Image-space methods (a rasteriser) through the same train step,
evaluator and checkpoints as the fields: patch batches drawn as whole
squares of one image, the same on one device and four, and a plug-in
image-space method (tests/toy_image_method.py) trained, resumed and
evaluated through train.py's and eval.py's loops."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import EMBEDDED_LEGO, REPO_ROOT, install_plugin, xla_flags
from jaxnerf.engine import config as config_lib, training
from jaxnerf.errors import ConfigError


def test_patches_are_whole_squares_of_one_image():
  width, height, p = 10, 7, 3
  unit, pixel = jax.jit(training.draw_indices, static_argnums=range(1, 7))(
      jax.random.PRNGKey(0), 5 * p * p, 4, width * height, False, p, width)
  unit, pixel = np.asarray(unit).reshape(5, p, p), np.asarray(pixel)
  y, x = (pixel // width).reshape(5, p, p), (pixel % width).reshape(5, p, p)
  assert np.all(unit == unit[:, :1, :1])  # one image per patch
  assert len(np.unique(unit[:, 0, 0])) > 1  # several images per batch
  np.testing.assert_array_equal(np.diff(x, axis=2), 1)
  np.testing.assert_array_equal(np.diff(y, axis=1), 1)
  np.testing.assert_array_equal(np.diff(x, axis=1), 0)
  assert x.min() >= 0 and x.max() < width and y.max() < height
  # Every top-left corner can come up, the last ones included.
  corners = set()
  for seed in range(200):
    _, pixel = training.draw_indices(jax.random.PRNGKey(seed), p * p, 1,
                                     width * height, False, p, width)
    corners.add((int(pixel[0]) // width, int(pixel[0]) % width))
  assert corners == {(i, j) for i in range(height - p + 1)
                     for j in range(width - p + 1)}
  # image_batching: every patch from one image.
  unit, _ = training.draw_indices(jax.random.PRNGKey(1), 4 * p * p, 9,
                                  width * height, True, p, width)
  assert len(np.unique(np.asarray(unit))) == 1


@pytest.fixture
def toy_image_package(tmp_path, monkeypatch):
  """tests/toy_image_method.py as the module toy_images.toy_image_method."""
  install_plugin(tmp_path, monkeypatch, "toy_image_method.py",
                 "toy_images.toy_image_method")
  return tmp_path


def toy_config(train_dir, **fields):
  c = config_lib.method_config("toy_images.toy_image_method")
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(train_dir))
  c.update(dict(max_steps=40, print_every=10, save_every=20,
                render_every=0, test_view_limit=1, save_video=False,
                chunk=1000))
  c.update(fields)
  return c


def test_image_space_method_trains_resumes_and_evaluates(toy_image_package,
                                                         tmp_path):
  from jaxnerf.engine import evaluator, trainer
  config = toy_config(tmp_path / "run", max_steps=20)
  state, history = trainer.train(config)
  assert int(state.step) == 20
  # The model received its batches as 8x8 squares of one camera.
  assert all(h["patch_layout"] == 1.0 for h in history)
  # Resumed from the step-20 checkpoint, it goes on to 40 and learns.
  with config.unlocked():
    config.max_steps = 40
  state, more = trainer.train(config)
  assert int(state.step) == 40 and more[0]["step"] > 20
  assert more[-1]["loss"] < history[0]["loss"]
  # eval.py's loop renders whole test views (rows of pixels in chunks of
  # config.chunk, which the rasteriser takes as any other pixels).
  result = evaluator.evaluate(config)
  assert np.isfinite(result["mean"]["psnr"]) and result["mean"]["psnr"] > 8
  assert os.path.exists(tmp_path / "run" / "eval_test_40" / "r_0_rgb.png")


def test_patch_size_that_does_not_tile_is_a_config_error(toy_image_package,
                                                         tmp_path):
  from jaxnerf.engine import trainer
  for fields, message in (
      (dict(batch_size=500), "config.patch_size: batch_size 500 is not a "
       "multiple of patch_size^2"),
      (dict(patch_size=128, batch_size=128 * 128),
       "config.patch_size: 128 is larger than the 100x100"),
      (dict(patch_size=-1), "config.patch_size: -1")):
    with pytest.raises(ConfigError, match=message.replace("^", r"\^")):
      trainer.train(toy_config(tmp_path / "bad", **fields))
    assert not os.path.exists(tmp_path / "bad")


def worker(out_dir):
  """Four devices: the patch sampler draws what one device draws, and a
  train step of the toy image method on all four equals one on one."""
  sys.path.insert(0, out_dir)
  from jax.sharding import Mesh
  from jaxnerf import methods
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine import parallel, trainer
  # adam_eps 1e-3: Adam's normalised step would turn float noise in the
  # near-zero gradients of points no pixel sees into whole steps.
  config = toy_config(os.path.join(out_dir, "run"), batch_size=256,
                      patch_size=4, adam_eps=1e-3)
  method = methods.of(config)
  dataset = load_dataset(config, "train", max_images=6)
  scene = trainer.scene_info(dataset)
  host = trainer.stack_training_data(dataset, method.pixel_batches)
  result = {"devices": jax.device_count()}
  key = jax.random.PRNGKey(3)
  expected = training.sample_batch(jax.random.fold_in(key, 0), host, 256,
                                   False, 4)
  states, losses = [], []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = Mesh(np.array(devices), ("data",))
    data = parallel.shard_training_data(host, True, mesh)
    drawn = jax.jit(parallel.make_sampler(mesh, 256, False, 4))(key, data)
    np.testing.assert_array_equal(np.asarray(drawn.rgb), expected.rgb)
    np.testing.assert_array_equal(np.asarray(drawn.pixels.xy),
                                  expected.pixels.xy)
    _, model, state = training.setup(config, jax.random.PRNGKey(0), scene)
    state = parallel.put_replicated(state, mesh)
    cameras = parallel.put_replicated(dataset.cameras.device_arrays(), mesh)
    step = parallel.jit_train_step(method, model, config, mesh)
    for i in range(2):
      state, stats = step(state, data, cameras, jax.random.PRNGKey(i))
    losses.append(float(stats["loss"]))
    states.append(parallel.to_host(state.params))
  np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  result["losses"] = losses
  with open(os.path.join(out_dir, "result.json"), "w") as f:
    json.dump(result, f)


def test_four_devices_draw_and_step_as_one(toy_image_package, tmp_path):
  env = dict(os.environ, XLA_FLAGS=xla_flags(
      "--xla_force_host_platform_device_count=4"), JAX_PLATFORMS="cpu",
             PYTHONPATH=os.pathsep.join([REPO_ROOT,
                                         os.path.join(REPO_ROOT, "tests")]))
  proc = subprocess.run(
      [sys.executable, os.path.abspath(__file__), str(tmp_path)], env=env,
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  with open(tmp_path / "result.json") as f:
    result = json.load(f)
  assert result["devices"] == 4 and len(result["losses"]) == 2


if __name__ == "__main__":
  worker(sys.argv[1])
