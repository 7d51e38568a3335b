"""The method contract: the registry, a conformance test of every registered
method, and a plug-in method from outside the package trained and
evaluated through train.py / eval.py."""

import functools
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import EMBEDDED_LEGO, REPO_ROOT, install_plugin
from jaxnerf.engine import checkpoints, config as config_lib, training
from jaxnerf import methods
from jaxnerf.data.dataset import load_dataset
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.engine import trainer
from jaxnerf.engine.trainer import stack_training_data

# Small settings per backbone and per method, so a conformance step takes
# seconds; a method missing here is tested with its backbone's (or its own
# defaults).
MLP_TINY = dict(num_coarse_samples=8, num_fine_samples=8, netdepth=2,
                netwidth=32, netwidth_condition=16)
GRID_TINY = dict(hash_levels=4, hash_log2_size=10, hash_max_resolution=64,
                 occupancy_resolution=16, march_steps=64, samples_budget=2048,
                 render_samples_per_ray=16, occupancy_update_every=1)
# The proposal sampler's fields, for the hash-grid backbone's second case.
PROPOSAL_TINY = dict(sampler="proposal", proposal_samples=(8,),
                     field_samples=8, proposal_hash_levels=2,
                     proposal_hash_log2_size=8,
                     proposal_hash_max_resolution=16, proposal_width=8)
TINY = {
    "nerf": MLP_TINY,
    "mipnerf": dict(MLP_TINY, max_deg_point=6),
    "nerfw": dict(MLP_TINY, appearance_dim=4, transient_dim=4,
                  transient_depth=2, transient_width=16, test_time_steps=2,
                  test_time_batch_size=16),
    "dnerf": dict(MLP_TINY, deform_depth=2, deform_width=16, deform_skip=1,
                  max_deg_time=4),
    "dnerf/hashgrid": dict(GRID_TINY, deform_width=16),
    "nerfw/hashgrid": dict(GRID_TINY, appearance_dim=4, transient_dim=4,
                           transient_width=16, test_time_steps=2,
                           test_time_batch_size=16),
    "barf": dict(MLP_TINY, learn_intrinsics=True),
    "barf/hashgrid": dict(GRID_TINY, learn_intrinsics=True),
    "instant_ngp": GRID_TINY,
    "fastnerf": dict(GRID_TINY, fastnerf_components=4, fastnerf_dir_width=8,
                     fastnerf_dir_degree=2),
    "nrf": dict(GRID_TINY, shadow_samples=8, reflectance_width=16),
    "nrf/mlp": dict(MLP_TINY, shadow_samples=8, reflectance_width=16),
    "nerv": dict(GRID_TINY, shadow_samples=8, reflectance_width=16,
                 visibility_directions=8, visibility_rays=8,
                 visibility_steps=8, visibility_width=16),
    "nerd": dict(GRID_TINY, shadow_samples=8, reflectance_width=16,
                 test_time_steps=2, test_time_batch_size=16),
    "nerfpp": dict(MLP_TINY, sphere_radius=5.0, num_bg_coarse_samples=8,
                   num_bg_fine_samples=8),
    # Voxels of 2 then 4 a side (a subdivision and a pruning in 2 steps).
    "nsvf": dict(nsvf_initial_resolution=2, nsvf_subdivide_steps=(2,),
                 nsvf_prune_steps=(1,), nsvf_update_every=1,
                 nsvf_embedding_dim=4, nsvf_steps_per_voxel=2,
                 density_width=16, color_width=16, samples_budget=2048,
                 render_samples_per_ray=16),
    # Four Voronoi heads; the capacity leaves some overflow to a 2nd round.
    "derf": dict(MLP_TINY, derf_heads=4, derf_capacity_factor=1.0),
    "autoint": dict(autoint_segments=4, autoint_samples_per_segment=2,
                    autoint_netdepth=1, autoint_netwidth=16,
                    autoint_sampler_width=8),
    # 2^3 tiny networks of width 8.
    "kilonerf": dict(kilo_resolution=2, kilo_width=8, kilo_dir_width=8,
                     kilo_pos_freqs=2, kilo_dir_freqs=1,
                     occupancy_resolution=8, march_steps=64,
                     samples_budget=2048, render_samples_per_ray=16),
}
# The SDF backbone (NeuS, UNISURF).
SDF_TINY = dict(hash_levels=4, hash_log2_size=10, hash_max_resolution=64,
                density_width=16, color_width=16, field_samples=8,
                importance_samples=4)
TINY.update({"neus": SDF_TINY,
             "unisurf": dict(SDF_TINY, root_samples=8, secant_steps=2,
                             interval_samples=4, free_samples=2),
             # One 16-pixel patch a step, a 16-pixel tile a render.
             "rts": dict(SDF_TINY, root_samples=8, secant_steps=2,
                         patch_size=16, render_tile=16)})
# NerfingMVS: the embedded lego has no sparse model: its rays keep the
# global bounds (tests/test_nerfingmvs.py checks the prior itself).
TINY["nerfingmvs"] = dict(MLP_TINY, depth_prior_required=0)
# GNeRF: four 4x4 patches 2 pixels apart (NUM_RAYS), small networks.
GAN_TINY = dict(patch_size=4, patch_stride=2, gan_disc_width=4,
                gan_inversion_width=4, test_time_steps=2,
                test_time_batch_size=16)
TINY["gnerf"] = dict(GRID_TINY, **GAN_TINY)
# The splat backbone: one 16-pixel patch a step, a 16-pixel tile a render.
SPLATS_TINY = dict(splat_count=256, splat_init_count=128, splat_capacity=32,
                   splat_tile_groups=2, patch_size=16, render_tile=16)
TINY.update({"splat": SPLATS_TINY,
             "splat_wild": dict(SPLATS_TINY, appearance_dim=4,
                                test_time_steps=2, test_time_batch_size=256),
             "barf/splats": dict(SPLATS_TINY, learn_intrinsics=True)})


def matrix() -> list[tuple[str, str, str]]:
  """(method, backbone, sampler) of every registered method on each of its
  backbones, the hash grid with each sampler ("" : the defaults)."""
  cases = []
  for name in methods.available():
    for backbone in methods.get(name).backbones or ("",):
      cases.append((name, backbone, ""))
      if backbone == "hashgrid":
        cases.append((name, backbone, "proposal"))
  return cases


NUM_RAYS = 64


def test_registry_lists_the_methods_and_names_unknown_ones():
  assert {"nerf", "mipnerf", "instant_ngp"} <= set(methods.available())
  assert "base" not in methods.available()
  with pytest.raises(ConfigError, match="unknown method 'nope'.*available: "
                     ".*instant_ngp.*mipnerf.*nerf"):
    methods.get("nope")
  with pytest.raises(ConfigError, match="unknown method 'no_pkg.x'"):
    methods.get("no_pkg.x")


def test_a_broken_method_shows_its_own_import_error(tmp_path, monkeypatch):
  package = tmp_path / "broken_methods"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "broken.py").write_text("import a_module_that_does_not_exist\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_"):
    methods.get("broken_methods.broken")
  (package / "empty.py").write_text("x = 1\n")
  with pytest.raises(ConfigError, match="defines no METHOD"):
    methods.get("broken_methods.empty")


def test_engine_modules_never_name_a_method():
  for name in ("trainer", "evaluator", "training", "parallel"):
    with open(os.path.join(REPO_ROOT, "jaxnerf", "engine", f"{name}.py")) as f:
      source = f.read()
    for method in methods.available():
      assert not re.search(rf"\b{method}\b", source), (name, method)


def tiny_config(method_name, tmp_path, backbone="", sampler=""):
  c = config_lib.method_config(method_name, backbone)
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(tmp_path / "run"))
  first = methods.get(method_name).backbone
  c.update(TINY.get(method_name if backbone in ("", first) else
                    f"{method_name}/{backbone}", {}))
  if sampler == "proposal":
    c.update(PROPOSAL_TINY)
  c.batch_size = c.patch_size**2 if c.patch_size else NUM_RAYS
  c.max_steps = 100
  c.lock()
  return c


@pytest.mark.parametrize("method_name,backbone,sampler", matrix())
def test_method_conforms_to_the_contract(method_name, backbone, sampler,
                                         tmp_path):
  """Every method on every backbone (and sampler) it supports, so every
  component with every backbone: init, a finite step, a deterministic
  render, the field interface and a checkpoint round trip."""
  check_contract(tiny_config(method_name, tmp_path, backbone, sampler),
                 tmp_path)


# Every component of the package at once (their hooks together), on a
# backbone: tests/toy_compositions.py as a plug-in.
ALL_COMPONENTS = "toy_compositions.every_component"


@pytest.mark.parametrize("backbone", ["mlp", "hashgrid", "mip"])
def test_every_backbone_takes_the_components_together(backbone, tmp_path,
                                                      monkeypatch):
  """Appearance, transients and time on one backbone (mip-NeRF's too, on
  which no paper of the package uses them yet): the contract holds, and
  every component's parameters are there and get a gradient."""
  install_plugin(tmp_path, monkeypatch, "toy_compositions.py",
                 ALL_COMPONENTS)
  c = config_lib.method_config(ALL_COMPONENTS, backbone)
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(tmp_path / "run"))
  c.update(dict(TINY["nerfw" if backbone == "mlp" else "nerfw/hashgrid"]
                if backbone != "mip" else dict(TINY["mipnerf"],
                                               appearance_dim=4,
                                               transient_dim=4,
                                               transient_width=16)))
  c.update(dict(deform_depth=2, deform_width=16, deform_skip=0,
                max_deg_time=2, batch_size=NUM_RAYS))
  c.lock()
  params = check_contract(c, tmp_path)
  names = {jax.tree_util.keystr(p) for p, _ in
           jax.tree_util.tree_leaves_with_path(params)}
  for part in ("appearance", "transient_code", "transient_head", "deform"):
    assert any(part in n for n in names), (part, sorted(names)[:20])


def check_contract(config, tmp_path):
  """The contract's checks on `config` (see the matrix test); returns the
  trained parameters."""
  dataset = load_dataset(config, "train", max_images=2)
  scene = trainer.scene_info(dataset)
  config = trainer.resolve_scene_fields(methods.of(config), config, scene)
  method, model, state = training.setup(config, jax.random.PRNGKey(0), scene)
  data = jax.tree.map(jnp.asarray,
                      stack_training_data(dataset, method.pixel_batches))
  cameras = (dataset.cameras.device_arrays() if method.pixel_batches else
             None)

  # One finite train step that changes the parameters.
  step = jax.jit(functools.partial(training.train_step, method, model, config))
  new_state, stats = step(state, data, cameras, jax.random.PRNGKey(1))
  assert int(new_state.step) == 1 and int(new_state.nonfinite_steps) == 0
  assert np.isfinite(float(stats["loss"]))
  terms = [k for k in stats if k.startswith("loss/")]
  assert terms
  np.testing.assert_allclose(sum(float(stats[k]) for k in terms),
                             float(stats["loss"]), rtol=1e-5)
  assert any(not np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(new_state.params), jax.tree.leaves(state.params)))

  # Deterministic render: declared outputs with declared shapes, the same
  # for any key.
  render = training.make_render_fn(method, model, config)
  inputs = (dataset.pixels(0) if method.pixel_batches else
            dataset.image_rays(0))
  if method.image_space:  # one 16 x 16 tile (a render's layout)
    chunk = jax.tree.map(lambda x: jnp.asarray(
        x[40:56, 30:46].reshape(256, -1)), inputs)
  else:
    chunk = jax.tree.map(lambda x: jnp.asarray(x[40, 30:30 + 16]), inputs)
  n = chunk.xy.shape[0] if method.image_space else 16
  variables = training.variables_of(new_state)
  out = render(variables, chunk, cameras, new_state.step)
  assert set(out) - {training.RAY_COMPLETE} == set(method.outputs)
  out.pop(training.RAY_COMPLETE, None)
  for name, kind in method.outputs.items():
    expected = (n, 3) if kind == "rgb" else (n,)
    assert out[name].shape == expected, (name, out[name].shape)
    assert np.all(np.isfinite(out[name]))
  # The key is an argument of the one compiled program.
  for key in (7, 8):
    again = render(variables, chunk, cameras, new_state.step,
                   key=jax.random.PRNGKey(key))
    for name in method.outputs:
      np.testing.assert_array_equal(again[name], out[name], err_msg=name)

  # The field interface: density at points, radiance at points and
  # directions; the density does not depend on the view.
  k1, k2 = jax.random.split(jax.random.PRNGKey(2))
  points = jax.random.uniform(k1, (32, 3), minval=-1.0, maxval=1.0)
  dirs = jax.random.normal(k2, (32, 3))
  dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
  density = jax.jit(lambda v: model.apply(v, points, method="density"))(
      variables)
  rgb = jax.jit(lambda v: model.apply(v, points, dirs, method="radiance"))(
      variables)
  assert density.shape == (32,) and rgb.shape == (32, 3)
  assert np.all(np.asarray(density) >= 0) and np.all(np.isfinite(rgb))
  assert np.all((np.asarray(rgb) > -0.01) & (np.asarray(rgb) < 1.01))

  # Checkpoint round trip.
  ckpt = checkpoints.Checkpointer(str(tmp_path / "ckpt"))
  ckpt.save(1, new_state)
  restored = ckpt.restore(state)
  ckpt.close()
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(new_state)):
    np.testing.assert_array_equal(a, b)
  return new_state.params


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
  """tests/toy_method.py as the module toy_methods.toy_method."""
  install_plugin(tmp_path, monkeypatch, "toy_method.py",
                 "toy_methods.toy_method")
  return tmp_path


def test_test_time_optimisation_fits_the_left_half(toy_package, tmp_path):
  """The toy's gain for an unseen view starts at the mean of the trained
  gains and is fitted on the left half: a grey image of 0.3 with colour
  sigmoid(0) = 0.5 needs gain 0.6."""
  from jaxnerf.engine import evaluator
  config = tiny_config("toy_methods.toy_method", tmp_path)
  with config.unlocked():
    config.test_time_lr, config.test_time_steps = 0.01, 400
  dataset = load_dataset(config, "test", max_images=1)
  method, model, state = training.setup(config, jax.random.PRNGKey(0),
                                        base.SceneInfo(num_cameras=3))
  params = jax.tree.map(np.asarray, state.params)
  params["gain"] = np.array([[1.0], [2.0], [3.0]], np.float32)
  unseen = training.unseen_camera_params(method, params, 1)
  np.testing.assert_allclose(unseen["gain"], [[2.0]])  # eval_init: mean
  np.testing.assert_allclose(unseen["offset"], [[0.0] * 3])  # zeros
  image = np.full((8, 10, 3), 0.3, np.float32)
  image[:, 5:] = 0.9  # the right half must not be fitted
  optimize = evaluator.make_test_time_optimizer(method, model, config, 0)
  pixels = dataset.pixels(0)
  pixels = jax.tree.map(lambda x: x[:8, :10], pixels)
  fitted = optimize({"params": unseen}, pixels, image,
                    dataset.cameras.device_arrays(), jax.random.PRNGKey(0))
  # Origins add 0.01 * sum(origin) to the logit: the exact optimum is
  # 0.3 / sigmoid(0.01 * sum(origin)).
  origin = dataset.cameras.camtoworlds[0, :3, 3]
  expected = 0.3 / (1 / (1 + np.exp(-0.01 * origin.sum())))
  # Adam's last steps approach slowly (its second moment remembers the
  # start's large gradients): 2% short after 400 steps. Fitting both
  # halves would give (0.3 + 0.9) / 2 / 0.51, twice as much.
  np.testing.assert_allclose(fitted["params"]["gain"], [[expected]],
                             rtol=3e-2)
  # Only the per-camera rows moved.
  np.testing.assert_array_equal(fitted["params"]["colour"], params["colour"])


def read_scalars(folder) -> dict[str, dict[int, float]]:
  """{tag: {step: value}} from the TensorBoard event files in `folder`."""
  import struct
  from tensorboardX.proto import event_pb2
  scalars = {}
  for name in os.listdir(folder):
    with open(os.path.join(folder, name), "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):  # TFRecords: length, crc, payload, crc
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars


def _run(script, config_path, *args, env=None):
  return subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, script),
       f"--config={config_path}", *args], capture_output=True, text=True,
      cwd=REPO_ROOT, env=env, timeout=600)


def test_plugin_method_trains_and_evaluates_through_train_py(toy_package,
                                                              tmp_path):
  """A method outside the package, named by its module path, runs through
  the unchanged train.py / eval.py: rays cast from refined cameras,
  per-camera groups with their own learning rates, an extra output written
  by eval.py, and test-time optimisation scored on the right half."""
  config_path = tmp_path / "toy_config.py"
  config_path.write_text(f'''
from jaxnerf.engine import config as config_lib


def get_config():
  c = config_lib.method_config("toy_methods.toy_method")
  config_lib.scene(c, "blender", {EMBEDDED_LEGO!r}, {str(tmp_path / "run")!r})
  c.batch_size = 256
  c.max_steps = 30
  c.print_every = 10
  c.render_every = 30
  c.test_view_limit = 2
  c.chunk = 4096
  return c
''')
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
  r = _run("train.py", config_path, env=env)
  assert r.returncode == 0, r.stderr[-3000:]
  assert "step      30/30" in r.stdout
  r = _run("eval.py", config_path, env=env)
  assert r.returncode == 0, r.stderr[-3000:]
  out = tmp_path / "run" / "eval_test_30"
  with open(out / "metrics.json") as f:
    metrics = json.load(f)
  assert metrics["score_region"] == "right_half"
  assert len(metrics["images"]) == 2 and np.isfinite(metrics["mean"]["psnr"])
  for name in ("r_0_rgb.png", "r_0_gain.png", "r_0_acc.png"):
    assert (out / name).is_file(), sorted(os.listdir(out))
  # The learning rates of the three groups reached TensorBoard.
  scalars = read_scalars(tmp_path / "run" / "summaries")
  for tag in ("train/lr/camera", "train/lr/gain", "train/lr/field",
              "train/loss/rgb_level0"):
    assert tag in scalars, sorted(scalars)
  # Logged at step 10 with the rate of update 10 (state.step 9).
  np.testing.assert_allclose(scalars["train/lr/gain"][10],
                             training.learning_rate(9, 5e-2, 5e-3, 30),
                             rtol=1e-5)
  # An override of a field the method does not have is an error.
  r = _run("train.py", config_path, "--config.netdepth=3", env=env)
  assert r.returncode == 1 and "has no field 'netdepth'" in r.stderr


def test_readme_worked_example_trains(tmp_path, monkeypatch):
  """The docs' method example, as written there, trains and evaluates."""
  with open(os.path.join(REPO_ROOT, "docs", "guide",
                         "adding_a_method.md")) as f:
    readme = f.read()
  start = readme.index("A worked example")
  code = readme[readme.index("```python", start) + len("```python"):]
  code = code[:code.index("```")]
  package = tmp_path / "my_methods"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "gain_nerf.py").write_text(code)
  monkeypatch.syspath_prepend(str(tmp_path))
  from jaxnerf.engine import evaluator, trainer
  config = tiny_config("my_methods.gain_nerf", tmp_path)
  with config.unlocked():
    config.update(TINY["nerf"])  # its NeRF, small (the eval renders 100^2)
    config.max_steps, config.print_every, config.render_every = 5, 5, 0
    config.test_view_limit, config.save_video = 1, False
  state, history = trainer.train(config)
  assert state.params["gain"].shape == (100, 1)  # one row per train view
  assert np.isfinite(history[-1]["loss"]) and "lr/gain" in history[-1]
  assert not np.allclose(state.params["gain"], 1.0)  # it learns
  result = evaluator.evaluate(config)
  assert np.isfinite(result["mean"]["psnr"])


def test_compose_merges_a_backbone_and_its_components():
  import ml_collections
  from jaxnerf.methods.backbones import mlp
  from jaxnerf.methods.components import camera_refinement

  def fields():
    c = ml_collections.ConfigDict()
    c.gain_init = 1.0
    return c

  gain = base.Component(
      name="gain", fields=fields,
      module=lambda config, scene, levels: None,
      engine_defaults=dict(batch_size=7),
      param_groups=(base.ParamGroup("gain", prefix="gain_"),),
      loss_terms=lambda config, outputs, rays, rgb, params: {"gain": 2.0},
      outputs={"gain_map": "scalar"})
  m = base.compose("paper", {"mlp": mlp.BACKBONE},
                   (camera_refinement.COMPONENT, gain),
                   fields=lambda b: {"num_fine_samples": 0},
                   engine_defaults=lambda b: {"batch_size": 9})
  assert m.backbone == "mlp" and m.backbones == ("mlp",)
  assert [g.name for g in m.param_groups] == ["pose", "intrinsics", "gain",
                                               "field"]
  c = m.fields()
  assert c.num_fine_samples == 0 and c.gain_init == 1.0
  assert "pose_lr_init" in c and "netdepth" in c
  assert m.engine_defaults == {"metrics_every": 1000, "batch_size": 9}
  assert m.casts_rays and m.test_time is not None
  assert m.outputs["gain_map"] == "scalar" and "rgb" in m.outputs
  with pytest.raises(ConfigError, match="no backbone 'hashgrid'"):
    m.on_backbone("hashgrid")
  # A field two parts declare is the method's bug, named.
  clash = base.compose("clash", {"mlp": mlp.BACKBONE}, (gain, gain))
  with pytest.raises(ValueError, match="gain_init"):
    clash.fields()
  with pytest.raises(ValueError, match="neither its backbone"):
    base.compose("typo", {"mlp": mlp.BACKBONE},
                 fields=lambda b: {"num_fine_sample": 0}).fields()


def test_the_matrix_covers_every_backbone_and_sampler():
  cases = matrix()
  for case in (("barf", "mlp", ""), ("barf", "hashgrid", ""),
               ("barf", "hashgrid", "proposal"), ("nerfw", "mlp", ""),
               ("nerfw", "hashgrid", "proposal"), ("dnerf", "mlp", ""),
               ("dnerf", "hashgrid", ""), ("dnerf", "hashgrid", "proposal"),
               ("instant_ngp", "hashgrid", "proposal"), ("nerf", "mlp", "")):
    assert case in cases
  with pytest.raises(ConfigError, match="config.backbone"):
    methods.get("barf", "voxels")
  with pytest.raises(ConfigError, match="no backbone 'hashgrid'"):
    methods.get("mipnerf", "hashgrid")
  with pytest.raises(ConfigError, match="not composed"):
    methods.get("nerfpp", "hashgrid")
