"""NeRF-W (jaxnerf/methods/nerfw.py; components/appearance.py and
transients.py) on both backbones: the transient loss and
compositing against hand-derived values, the appearance code looked up by
camera index, and a short run on the embedded lego in the wild."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT
from jaxnerf.engine import config as config_lib, evaluator, training
from jaxnerf.render import compositing
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.methods.components import transients
from jaxnerf.core.rays import Rays

WILD_LEGO = os.path.join(REPO_ROOT, "data", "lego_wild_100")


def test_transient_loss_is_mse_at_unit_beta_without_transients():
  rng = np.random.default_rng(0)
  pred, target = rng.uniform(size=(2, 6, 3))
  weights = np.array([1.0, 2.0, 0.5, 1.0, 0.0, 3.0])
  terms = transients.transient_loss_terms(pred, target, np.ones(6), np.zeros(6),
                                     weights, lambda_u=0.01)
  mse = np.sum(weights * np.mean((pred - target)**2, -1)) / np.sum(weights)
  np.testing.assert_allclose(float(sum(terms.values())), mse, rtol=1e-6)
  np.testing.assert_allclose(float(terms["uncertainty"]), 0.0, atol=1e-7)
  # beta = 2 and mean transient density 3 on every ray: the colour term is
  # a quarter of the MSE, log beta^2 = 2 log 2, and 2 * 0.01 * 3.
  terms = transients.transient_loss_terms(pred, target, np.full(6, 2.0),
                                     np.full(6, 3.0), weights, lambda_u=0.01)
  np.testing.assert_allclose(float(terms["colour"]), mse / 4, rtol=1e-6)
  np.testing.assert_allclose(float(terms["uncertainty"]), 2 * np.log(2.0),
                             rtol=1e-6)
  np.testing.assert_allclose(float(terms["transient_density"]), 0.06,
                             rtol=1e-6)


def composite(static_tau, transient_tau, beta=None, white_bkgd=True,
              beta_static_gradient=True):
  s = len(static_tau)
  return transients.composite_with_transient(
      jnp.tile(jnp.array([[[1.0, 0.0, 0.0]]]), (1, s, 1)),
      jnp.array([static_tau]),
      jnp.tile(jnp.array([[[0.0, 0.0, 1.0]]]), (1, s, 1)),
      jnp.array([transient_tau]),
      jnp.array([beta if beta is not None else [1.0] * s]),
      compositing.transmittance, lambda x: jnp.sum(x, axis=1), white_bkgd,
      beta_min=0.03, beta_static_gradient=beta_static_gradient)


def test_compositing_shares_one_transmittance():
  """Two samples, static red, transient blue: T_1 = 1,
  T_2 = exp(-(a1 + b1)); weights T_k (1 - exp(-tau_k)) (NeRF-W eq. 10)."""
  a, b = [0.5, 2.0], [0.3, 0.1]
  out = composite(a, b, beta=[2.0, 4.0])
  t2 = np.exp(-(a[0] + b[0]))
  ws = [1 - np.exp(-a[0]), t2 * (1 - np.exp(-a[1]))]
  wt = [1 - np.exp(-b[0]), t2 * (1 - np.exp(-b[1]))]
  joint = 1 - t2 * np.exp(-(a[1] + b[1]))
  background = 1 - joint
  np.testing.assert_allclose(out["composite"][0],
                             [sum(ws) + background, background,
                              sum(wt) + background], rtol=1e-5)
  np.testing.assert_allclose(out["transient_acc"][0], sum(wt), rtol=1e-5)
  np.testing.assert_allclose(out["beta"][0], 0.03 + 2 * wt[0] + 4 * wt[1],
                             rtol=1e-5)
  np.testing.assert_allclose(out["transient"][0],
                             [1 - sum(wt), 1 - sum(wt), 1.0], rtol=1e-5)


def test_beta_without_the_static_gradient_has_the_same_value():
  """beta_static_gradient=False: same beta, composite and gradients of the
  composite; beta's gradient with respect to the static optical depths is
  zero (with it, the first static sample's is d/da1 of 4 wt2 =
  -4 wt2, as T_2 = exp(-(a1 + b1)))."""
  a, b, beta = [0.5, 2.0], [0.3, 0.1], [2.0, 4.0]
  with_grad = composite(a, b, beta)
  held = composite(a, b, beta, beta_static_gradient=False)
  for key in ("beta", "composite", "transient_acc"):
    np.testing.assert_allclose(held[key], with_grad[key], rtol=1e-6)

  def grads(flag, key):
    return jax.grad(lambda a_: jnp.sum(composite(
        a_, b, beta, beta_static_gradient=flag)[key]))(jnp.array(a))

  wt2 = np.exp(-(a[0] + b[0])) * (1 - np.exp(-b[1]))
  np.testing.assert_allclose(grads(True, "beta"), [-4 * wt2, 0.0],
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(grads(False, "beta"), [0.0, 0.0], atol=1e-7)
  np.testing.assert_allclose(grads(False, "composite"),
                             grads(True, "composite"), rtol=1e-6)


def test_without_transient_density_it_is_the_static_render():
  a = [0.5, 1.0, 0.2]
  out = composite(a, [0.0] * 3, white_bkgd=False)
  weights = compositing.weights_from_deltas(jnp.array([a]), jnp.ones((1, 3)))
  np.testing.assert_allclose(out["composite"][0],
                             [float(jnp.sum(weights)), 0, 0], rtol=1e-6)
  np.testing.assert_allclose(out["beta"][0], 0.03)
  np.testing.assert_allclose(out["transient_acc"][0], 0.0)


def test_sample_beta_is_softplus_or_bounded_by_beta_max():
  c = config_lib.method_config("nerfw")
  raw = jnp.array([-30.0, -1.0, 0.0, 2.0, 30.0])
  np.testing.assert_allclose(transients.sample_beta(c, raw),
                             np.log1p(np.exp(np.asarray(raw))), rtol=1e-6)
  c.beta_max = 0.8
  beta = np.asarray(transients.sample_beta(c, raw))
  np.testing.assert_allclose(beta, 0.8 / (1 + np.exp(-np.asarray(raw))),
                             rtol=1e-6)
  assert beta[2] == pytest.approx(0.4) and beta.max() <= 0.8
  c.beta_max = -1.0
  with pytest.raises(ConfigError, match="config.beta_max"):
    transients.sample_beta(c, raw)


def tiny_nerfw(tmp_path, data_dir=WILD_LEGO, **fields):
  c = config_lib.method_config("nerfw")
  config_lib.scene(c, "blender", data_dir, str(tmp_path / "run"))
  c.update(dict(num_coarse_samples=8, num_fine_samples=8, netdepth=2,
                netwidth=32, netwidth_condition=16, skip_layer=0,
                appearance_dim=4, transient_dim=4, transient_depth=2,
                transient_width=16, batch_size=256, chunk=2048,
                print_every=10, render_every=0, save_every=1000,
                test_time_steps=4, test_time_batch_size=64,
                test_view_limit=1, save_video=False), **fields)
  return c


def test_appearance_code_is_looked_up_by_camera_index(tmp_path):
  """A ray of camera i renders with row i of the appearance table: rows
  swapped, the rays of cameras 0 and 2 swap colours; changing row 1 leaves
  the other cameras' rays alone."""
  config = tiny_nerfw(tmp_path, transient_dim=0)
  config.lock()
  method, model, state = training.setup(config, jax.random.PRNGKey(0),
                                        base.SceneInfo(num_cameras=3))
  params = jax.tree.map(np.asarray, state.params)
  assert params["appearance"].shape == (3, 4)
  one = Rays.create(np.zeros((1, 3), np.float32) + [0, -4, 0.5],
                    np.array([[0, 1, 0]], np.float32), 2.0, 6.0)
  rays = jax.tree.map(lambda x: np.repeat(x, 3, 0), one)
  rays = rays.replace(camera_index=np.arange(3, dtype=np.int32)[:, None])

  render = training.make_render_fn(method, model, config)
  rgb = lambda p: np.asarray(render({"params": p}, rays, None, 0)["rgb"])

  before = rgb(params)
  assert np.abs(before[0] - before[2]).max() > 1e-4  # codes matter
  swapped = dict(params, appearance=params["appearance"][[2, 1, 0]])
  np.testing.assert_allclose(rgb(swapped), before[[2, 1, 0]], atol=1e-6)
  moved = dict(params, appearance=params["appearance"].copy())
  moved["appearance"][1] += 3.0
  after = rgb(moved)
  np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])
  assert np.abs(after[1] - before[1]).max() > 1e-4


def test_mixed_rows_blend_only_the_transferable_group(tmp_path):
  config = tiny_nerfw(tmp_path)
  config.lock()
  method, _, state = training.setup(config, jax.random.PRNGKey(0),
                                    base.SceneInfo(num_cameras=3))
  params = jax.tree.map(np.asarray, state.params)
  weights = np.array([[0.25, 0.0, 0.75], [0.0, 1.0, 0.0]], np.float32)
  mixed = training.mixed_camera_params(method, params, weights)
  np.testing.assert_allclose(
      mixed["appearance"], [0.25 * params["appearance"][0] +
                            0.75 * params["appearance"][2],
                            params["appearance"][1]], rtol=1e-6)
  # The transient codes are not transferable: unseen rows (zeros).
  np.testing.assert_array_equal(mixed["transient_code"], np.zeros((2, 4)))
  kept = training.mixed_camera_params(method, params, weights,
                                      keep_others=True)
  np.testing.assert_array_equal(kept["transient_code"],
                                params["transient_code"])


def test_short_run_on_the_wild_lego_lowers_the_loss_and_evaluates(tmp_path):
  """Training lowers the loss; eval.py's test-time fit scores the right half;
  rendering the training split writes the transient and uncertainty maps;
  an appearance index past the table is a one-line error, found on the
  host before anything renders."""
  from jaxnerf.engine import trainer
  config = tiny_nerfw(tmp_path, max_steps=60, lr_init=5e-3, lr_final=1e-3)
  state, history = trainer.train(config)
  first, last = history[0]["loss"], np.mean([h["loss"] for h in history[-2:]])
  assert last < first - 0.05, (first, last)
  assert {"loss/colour", "loss/uncertainty", "loss/transient_density",
          "loss/rgb_level0"} <= set(history[-1])

  result = evaluator.evaluate(config)
  assert result["score_region"] == "right_half"
  out = os.listdir(tmp_path / "run" / "eval_test_60")
  assert "r_0_rgb.png" in out and "r_0_transient.png" not in out

  with config.unlocked():
    config.eval_split = "train"
  result = evaluator.evaluate(config)
  assert result["score_region"] == "all"  # trained rows: nothing to fit
  out = os.listdir(tmp_path / "run" / "eval_train_60")
  for name in ("composite", "transient", "transient_acc", "uncertainty"):
    assert f"r_0_{name}.png" in out, out

  with config.unlocked():
    config.eval_rows_of = 100  # 100 training images: 0..99
  with pytest.raises(ConfigError, match=r"config.eval_rows_of: 100 is not a "
                     r"training camera; the run has 100 \(0 to 99\)"):
    evaluator.evaluate(config)
  with config.unlocked():
    config.eval_rows_of, config.path_rows_from = -1, 3
  with pytest.raises(ConfigError, match="set both"):
    evaluator.evaluate(config)


def test_picking_rows_of_a_method_without_appearance_is_an_error():
  from jaxnerf import methods
  c = config_lib.method_config("nerf")
  c.eval_rows_of = 0
  with pytest.raises(ConfigError, match="config.eval_rows_of: method 'nerf' "
                     "has no per-image rows"):
    evaluator.check_camera_rows(c, methods.get("nerf"), 10)


def test_the_embedded_wild_lego_matches_its_record():
  """data/lego_wild_100 is data/lego_100 with the recorded perturbations:
  the first training image and the test images are untouched."""
  from jaxnerf.data.images import read_image
  with open(os.path.join(WILD_LEGO, "perturbations.json")) as f:
    record = json.load(f)
  assert record["perturb"] == "both"
  clean = lambda split, name: read_image(os.path.join(
      REPO_ROOT, "data", "lego_100", split, name + ".png"))
  wild = lambda split, name: read_image(os.path.join(WILD_LEGO, split,
                                                     name + ".png"))
  np.testing.assert_array_equal(wild("train", "r_0"), clean("train", "r_0"))
  np.testing.assert_array_equal(wild("test", "r_8"), clean("test", "r_8"))
  entry = record["images"]["r_7"]
  src, out = clean("train", "r_7"), wild("train", "r_7")
  stripes = np.zeros(src.shape[:2], bool)
  for s in entry["stripes"]:
    stripes[int(np.ceil(s["y0"] - 0.5)):int(np.ceil(s["y1"] - 0.5)),
            int(np.ceil(s["x0"] - 0.5)):int(np.ceil(s["x1"] - 0.5))] = True
  free = ~stripes & (src[..., 3] > 0)
  expected = np.clip(np.asarray(entry["gain"]) * src[..., :3] +
                     entry["offset"], 0, 1)
  np.testing.assert_allclose(out[free][:, :3], expected[free], atol=1 / 255)
  assert np.all(out[stripes][:, 3] == 1.0)


def test_hash_grid_variant_marches_where_the_static_scene_is():
  """On the hash grid, the occupancy grid follows the static density only: however
  dense the transients, the refreshed grid is the same (the union of every
  photo's transients filled the grid and starved the sample budget)."""
  import types
  from jaxnerf import methods
  method = methods.get("nerfw", "hashgrid")
  rays = Rays.create(jnp.array([[0.0, 0.0, 4.0]]), jnp.array([[0.0, 0, -1]]),
                     2.0, 6.0)
  key = jax.random.PRNGKey(0)
  grids = []
  for bias in (-4.0, 20.0):  # transient density ~0.02 or ~20 everywhere
    c = config_lib.method_config("nerfw", "hashgrid")
    c.hash_levels, c.hash_log2_size = 4, 10
    c.hash_min_resolution, c.hash_max_resolution = 4, 32
    c.occupancy_resolution, c.march_steps = 8, 32
    c.transient_density_bias = bias
    model = training.build_model(method, c,
                                 types.SimpleNamespace(num_cameras=3))
    variables = jax.jit(lambda k: model.init(k, rays, k, randomized=False))(
        key)
    _, state = jax.jit(lambda v: model.apply(
        v, jnp.int32(0), key, method=model.update_state,
        mutable=["occupancy"]))(variables)
    grids.append(np.asarray(state["occupancy"]["grid"]))
  np.testing.assert_array_equal(grids[0], grids[1])


def test_hash_grid_variant_trains_with_the_proposal_sampler():
  """NeRF-W on the hash grid with sampler="proposal" (nerfw_liberty's, contracted):
  every ray in the loss, the transient maps and the interlevel term come
  out, and a few steps on three cameras lower the loss and the interlevel
  term."""
  import functools
  c = config_lib.method_config("nerfw", "hashgrid")
  c.update(dict(hash_levels=4, hash_log2_size=10, hash_min_resolution=4,
                hash_max_resolution=32, appearance_dim=4, transient_dim=4,
                transient_width=16, sampler="proposal",
                contraction="mipnerf360", scene_bound=4.0,
                proposal_samples=(16, 8), field_samples=8,
                proposal_hash_levels=2, proposal_hash_log2_size=8,
                proposal_hash_max_resolution=8, batch_size=32))
  scene = base.SceneInfo(num_cameras=3)
  method, model, state = training.setup(c, jax.random.PRNGKey(0), scene)
  assert model.state_update_every == 0
  rng = np.random.default_rng(0)
  origins = rng.normal(size=(64, 3)).astype(np.float32)
  directions = (rng.uniform(-0.3, 0.3, (64, 3)) - origins).astype(np.float32)
  rays = Rays.create(jnp.asarray(origins), jnp.asarray(directions), 0.1, 1.0,
                     camera_index=jnp.asarray(np.arange(64) % 3)[:, None])
  (out,) = jax.jit(lambda v: model.apply(v, rays, jax.random.PRNGKey(1),
                                         randomized=True))(
                                             training.variables_of(state))
  np.testing.assert_array_equal(out["loss_mask"], 1.0)
  assert out["interlevel"].shape == (64,) and "transient" in out
  assert np.all(np.isfinite(out["composite"]))
  data = training.TrainData(rays=jax.tree.map(lambda x: x[None], rays),
                            rgb=jnp.full((1, 64, 3), 0.25))
  step = jax.jit(functools.partial(training.train_step, method, model, c,
                                   cameras=None))
  history = []
  for _ in range(16):
    state, stats = step(state, data, base_key=jax.random.PRNGKey(1))
    history.append(jax.device_get(stats))
  assert history[-1]["loss"] < history[0]["loss"]
  assert history[-1]["loss/interlevel"] < history[0]["loss/interlevel"]


def warmup_model(name, tmp_path):
  if name == "nerfw":
    c = tiny_nerfw(tmp_path, transient_warmup_steps=5)
  else:
    c = config_lib.method_config("nerfw", "hashgrid")
    c.update(dict(hash_levels=4, hash_log2_size=10, hash_min_resolution=4,
                  hash_max_resolution=32, appearance_dim=4, transient_dim=4,
                  transient_width=16, occupancy_resolution=8,
                  march_steps=32, transient_warmup_steps=5,
                  weight_decay_mult=0.0))  # decay alone touches the head
  return c


@pytest.mark.parametrize("name", ["nerfw", "nerfw/hashgrid"])
def test_transient_head_is_off_during_the_warmup(name, tmp_path):
  """Before `transient_warmup_steps` the fine render is the static one:
  composite = rgb, beta = beta_min, no transient density, and neither the
  head nor the transient codes get a gradient; from that step on they
  do."""
  c = warmup_model(name, tmp_path)
  method, model, state = training.setup(c, jax.random.PRNGKey(0),
                                        base.SceneInfo(num_cameras=3))
  rng = np.random.default_rng(0)
  origins = rng.normal(size=(64, 3)).astype(np.float32) * 0.3
  origins[:, 2] += 3.0
  directions = rng.uniform(-0.3, 0.3, (64, 3)) - origins
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  rays = Rays.create(jnp.asarray(origins),
                     jnp.asarray(directions, np.float32), 2.0, 6.0,
                     camera_index=jnp.asarray(np.arange(64) % 3)[:, None])
  rgb = jnp.asarray(rng.uniform(size=(64, 3)), jnp.float32)

  def loss(params, step):
    outs = model.apply({**training.variables_of(state), "params": params},
                       rays, jax.random.PRNGKey(1), randomized=True,
                       progress=base.Progress.at(step, 100))
    terms = method.loss_terms(c, outs, rays, rgb, params)
    return sum(terms.values()), outs[-1]

  grad = jax.jit(jax.grad(loss, has_aux=True))
  norm = lambda tree: float(sum(jnp.sum(jnp.abs(x))
                                for x in jax.tree.leaves(tree)))
  g, fine = grad(state.params, 4)
  np.testing.assert_allclose(fine["composite"], fine["rgb"], atol=1e-6)
  np.testing.assert_allclose(fine["uncertainty"], c.beta_min, rtol=1e-6)
  np.testing.assert_array_equal(fine["mean_transient_density"], 0.0)
  assert norm(g["transient_head"]) == 0.0
  assert norm(g["transient_code"]) == 0.0
  assert norm(g["appearance"]) > 0.0

  g, fine = grad(state.params, 5)
  assert float(jnp.max(fine["transient_acc"])) > 0.0
  assert float(jnp.max(fine["uncertainty"])) > c.beta_min
  assert norm(g["transient_head"]) > 0.0
  assert norm(g["transient_code"]) > 0.0


def test_negative_warmup_is_a_config_error():
  c = config_lib.method_config("nerfw")
  c.transient_warmup_steps = -1
  with pytest.raises(ConfigError,
                     match=r"config.transient_warmup_steps: must be >= 0"):
    transients.transient_density(c, jnp.zeros(4), base.Progress.at(0, 10))
