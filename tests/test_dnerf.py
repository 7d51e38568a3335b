"""D-NeRF (jaxnerf/methods/dnerf.py, components/time.py) on both backbones and its data
(jaxnerf/data/loaders/dnerf.py, scripts/make_embedded_dnerf.py): the
deformation is the identity at t = 0, T-NeRF sees time, the loader's
errors, the embedded scene and a short run on it."""

import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT
from jaxnerf.engine import config as config_lib, training
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import DatasetError
from jaxnerf.methods.components import time as time_component
from jaxnerf.core.rays import Rays

DNERF_LEGO = os.path.join(REPO_ROOT, "data", "dnerf_lego_100")
NPZ = os.path.join(REPO_ROOT, "..", "shared", "data", "dnerf_tiny",
                   "tiny_dnerf_data.npz")
TINY = {
    "dnerf": dict(num_coarse_samples=8, num_fine_samples=8, netdepth=2,
                  netwidth=32, netwidth_condition=16, deform_depth=2,
                  deform_width=16, deform_skip=1, max_deg_time=4),
    "dnerf/hashgrid": dict(hash_levels=4, hash_log2_size=12,
                      hash_max_resolution=64, occupancy_resolution=16,
                      march_steps=64, samples_budget=4096,
                      render_samples_per_ray=16, occupancy_update_every=4,
                      deform_width=16),
}


def tiny_config(method, tmp_path, **fields):
  """method: "dnerf" (the MLP) or "dnerf/hashgrid"."""
  c = config_lib.method_config(*method.split("/"))
  config_lib.scene(c, "dnerf", DNERF_LEGO, str(tmp_path / "run"),
                   white_bkgd=False)
  c.update(TINY[method])
  c.update(fields)
  c.lock()
  return c


def randomize(params, key):
  """Every leaf replaced by noise, so that no layer starts at zero (the
  deformation's last layer does)."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, x.shape)
                                   for k, x in zip(keys, leaves)])


@pytest.mark.parametrize("method_name", ["dnerf", "dnerf/hashgrid"])
def test_deformation_is_the_identity_at_time_zero(method_name, tmp_path):
  """With random deformation weights, rays at t = 0 render exactly as the
  canonical field alone (the deformation's weights zeroed); at t = 0.5
  they do not. T-NeRF's render changes with time."""
  config = tiny_config(method_name, tmp_path)
  method, model, state = training.setup(config, jax.random.PRNGKey(0))
  params = randomize(state.params, jax.random.PRNGKey(1))
  no_motion = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if "deform" in jax.tree_util
      .keystr(path) else x, params)
  assert any("deform" in jax.tree_util.keystr(p) for p, _ in
             jax.tree_util.tree_leaves_with_path(params))
  rays = Rays.create(np.array([[0.1, -4.0, 0.3], [-0.2, -4.0, -0.1]],
                              np.float32),
                     np.array([[0.0, 1.0, 0.0], [0.05, 1.0, 0.1]],
                              np.float32), 2.0, 6.0)
  render = training.make_render_fn(method, model, config)
  at = lambda p, time: np.asarray(render(
      {"params": p, **state.model_state},
      rays.replace(time=np.full((2, 1), time, np.float32)), None, 0)["rgb"])
  np.testing.assert_array_equal(at(params, 0.0), at(no_motion, 0.0))
  assert np.abs(at(params, 0.5) - at(no_motion, 0.5)).max() > 1e-4

  # The displacement itself: zero at t = 0, not at t = 0.5.
  dx = jnp.ones((4, 3))
  time = jnp.array([[0.0], [0.5], [0.0], [1.0]])
  np.testing.assert_array_equal(time_component.zero_at_canonical_time(dx, time),
                                [[0] * 3, [1] * 3, [0] * 3, [1] * 3])

  t_config = tiny_config(method_name, tmp_path, deformation=False)
  method, model, state = training.setup(t_config, jax.random.PRNGKey(0))
  params = randomize(state.params, jax.random.PRNGKey(1))
  render = training.make_render_fn(method, model, t_config)
  at = lambda time: np.asarray(render(
      {"params": params, **state.model_state},
      rays.replace(time=np.full((2, 1), time, np.float32)), None, 0)["rgb"])
  assert np.abs(at(0.0) - at(0.5)).max() > 1e-4


def write_scene(tmp_path, edit) -> str:
  """Two test frames of the embedded scene, their JSON edited by
  `edit(frames)`."""
  folder = tmp_path / "scene"
  (folder / "test").mkdir(parents=True)
  with open(os.path.join(DNERF_LEGO, "transforms_test.json")) as f:
    meta = json.load(f)
  meta["frames"] = meta["frames"][:2]
  for frame in meta["frames"]:
    shutil.copy(os.path.join(DNERF_LEGO, frame["file_path"]) + ".png",
                folder / "test")
  edit(meta["frames"])
  with open(folder / "transforms_test.json", "w") as f:
    json.dump(meta, f)
  return str(folder)


def load(data_dir):
  c = config_lib.method_config("nerf")
  config_lib.scene(c, "dnerf", data_dir, "unused", white_bkgd=False)
  return load_dataset(c, "test")


@pytest.mark.parametrize("edit,match", [
    (lambda f: f[1].pop("time"),
     r"transforms_test.json: frames\[1\] \(./test/r_001\) has no 'time'"),
    (lambda f: f[0].update(time=1.5),
     r"frames\[0\] \(./test/r_000\): time 1.5 is outside \[0, 1\]"),
    (lambda f: f[1].update(time=-0.1), r"frames\[1\].*outside \[0, 1\]"),
    (lambda f: f[0].update(time="noon"), r"time 'noon' is not a number"),
])
def test_bad_times_are_errors_naming_file_and_frame(tmp_path, edit, match):
  data_dir = write_scene(tmp_path, edit)
  with pytest.raises(DatasetError, match=match):
    load(data_dir)


def test_train_py_prints_one_line_for_a_frame_without_time(tmp_path):
  data_dir = write_scene(tmp_path, lambda f: f[0].pop("time"))
  shutil.copy(os.path.join(data_dir, "transforms_test.json"),
              os.path.join(data_dir, "transforms_train.json"))
  r = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "train.py"),
                      "--config=dnerf_demo", f"--config.data_dir={data_dir}",
                      f"--config.train_dir={tmp_path / 'run'}"],
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 1
  lines = [l for l in r.stderr.strip().splitlines()
           if not l.startswith(("WARNING", "W0", "I0"))]
  assert len(lines) == 1 and "has no 'time'" in lines[0], r.stderr


def test_the_loader_gives_each_camera_its_frame_time():
  test = load(DNERF_LEGO)
  assert len(test) == 20 and test.images[0].shape == (100, 100, 3)
  with open(os.path.join(DNERF_LEGO, "transforms_test.json")) as f:
    times = [frame["time"] for frame in json.load(f)["frames"]]
  np.testing.assert_allclose(test.cameras.time, times)
  assert test.cameras.time[0] == 0.0 and test.cameras.time[-1] == 1.0
  rays = test.image_rays(3)
  np.testing.assert_allclose(rays.time, times[3])


@pytest.mark.skipif(not os.path.isfile(NPZ), reason="needs ../shared/data/"
                    "dnerf_tiny/tiny_dnerf_data.npz (not present)")
def test_the_embedded_scene_is_the_npz(tmp_path):
  """scripts/make_embedded_dnerf.py: splits where time restarts, the npz's
  images (8-bit), poses, times and focal."""
  data = np.load(NPZ)
  for split, start, count in (("train", 0, 50), ("val", 50, 11),
                              ("test", 61, 20)):
    c = config_lib.method_config("nerf")
    config_lib.scene(c, "dnerf", DNERF_LEGO, "unused", white_bkgd=False)
    d = load_dataset(c, split)
    assert len(d) == count
    np.testing.assert_allclose(d.cameras.time,
                               data["times"][start:start + count], atol=1e-7)
    np.testing.assert_allclose(d.camtoworlds,
                               data["poses"][start:start + count, :3],
                               atol=1e-6)
    np.testing.assert_allclose(d.focal, data["focal"], rtol=1e-6)
    np.testing.assert_allclose(d.images[5], data["images"][start + 5],
                               atol=0.5 / 255 + 1e-6)


def test_short_run_on_the_dynamic_lego_lowers_the_loss(tmp_path):
  from jaxnerf.engine import trainer
  config = tiny_config("dnerf/hashgrid", tmp_path, batch_size=2048, max_steps=60,
                       print_every=5, save_every=1000, render_every=0,
                       hash_levels=8, hash_max_resolution=128,
                       hash_log2_size=14)
  state, history = trainer.train(config)
  first = np.mean([h["loss"] for h in history[:2]])
  last = np.mean([h["loss"] for h in history[-3:]])
  assert last < 0.7 * first, (first, last)
  assert history[-1]["displacement"] > 0  # the deformation is learning


def test_short_run_with_the_proposal_sampler_lowers_the_loss(tmp_path):
  from jaxnerf.engine import trainer
  config = tiny_config("dnerf/hashgrid", tmp_path, batch_size=256, max_steps=60,
                       print_every=5, save_every=1000, render_every=0,
                       hash_levels=8, hash_max_resolution=128,
                       hash_log2_size=14, sampler="proposal",
                       proposal_samples=(32, 16), field_samples=16,
                       proposal_hash_log2_size=12)
  state, history = trainer.train(config)
  # The colour term: the interlevel term grows while the field sharpens.
  rgb = [h["loss/rgb_level0"] for h in history]
  assert np.mean(rgb[-3:]) < 0.75 * np.mean(rgb[:2]), rgb
  assert history[-1]["displacement"] > 0
  # Every ray in the loss, and the time-blind proposals are trained.
  assert history[-1]["rays_used"] == config.batch_size
  assert history[-1]["loss/interlevel"] > 0
