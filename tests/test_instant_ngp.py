"""The instant_ngp method: hash-grid field, occupancy grid, its train step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.engine import config as config_lib, training
from jaxnerf.render import samplers
from jaxnerf.methods import instant_ngp
from jaxnerf.core.rays import Rays


def _config(**kw):
  c = config_lib.method_config("instant_ngp")
  c.hash_levels, c.hash_log2_size = 4, 10
  c.hash_min_resolution, c.hash_max_resolution = 4, 32
  c.occupancy_resolution, c.march_steps = 8, 32
  c.occupancy_update_every = 2
  c.samples_budget = 256
  c.render_samples_per_ray = 16
  c.batch_size = 32
  for k, v in kw.items():
    c[k] = v
  return c


def _rays(n=16, seed=0):
  rng = np.random.default_rng(seed)
  origins = rng.normal(size=(n, 3))
  origins = 4 * origins / np.linalg.norm(origins, axis=-1, keepdims=True)
  directions = rng.uniform(-0.5, 0.5, (n, 3)) - origins
  viewdirs = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
  directions = viewdirs * 1.2  # unnormalised, as pinhole rays
  f = lambda x: jnp.asarray(x, jnp.float32)
  return Rays.create(f(origins), f(directions), 2.0, 6.0, viewdirs=f(viewdirs),
                     radii=1.0)


def _model(config):
  return training.build_model(instant_ngp.METHOD, config, None)


@pytest.mark.parametrize("color_mode", ["mlp", "sh"])
def test_render_shapes_and_state(color_mode):
  model = _model(_config(color_mode=color_mode))
  key = jax.random.PRNGKey(0)
  # Jitted: op-by-op dispatch of the marcher is slow on 2 cores.
  variables = jax.jit(lambda k: model.init(k, _rays(1), k,
                                           randomized=False))(key)
  assert variables["occupancy"]["grid"].shape == (8**3,)
  (out,) = jax.jit(lambda v: model.apply(v, _rays(), key,
                                         randomized=True))(variables)
  for k, shape in (("rgb", (16, 3)), ("depth", (16,)), ("acc", (16,)),
                   ("loss_mask", (16,))):
    assert out[k].shape == shape
  assert np.all(np.isfinite(out["rgb"]))
  assert np.all((out["acc"] >= 0) & (out["acc"] <= 1 + 1e-5))
  # The budget (256) cannot hold 16 rays of up to 32 samples: a prefix of
  # rays is complete, the rest masked.
  mask = np.asarray(out["loss_mask"])
  assert 0 < mask.sum() < 16 and np.all(np.diff(mask) <= 0)
  # update_state rewrites the grid from the density field.
  _, new = jax.jit(lambda v: model.apply(
      v, jnp.asarray(0), key, method="update_state",
      mutable=["occupancy"]))(variables)
  assert not np.allclose(new["occupancy"]["grid"],
                         variables["occupancy"]["grid"])


def test_train_step_learns_and_updates_grid_on_schedule():
  config = _config()
  method, model, state = training.setup(config, jax.random.PRNGKey(0))
  rays = jax.tree.map(lambda x: x[None], _rays(64))
  data = training.TrainData(rays=rays, rgb=jnp.full((1, 64, 3), 0.25))
  step = functools.partial(jax.jit(functools.partial(
      training.train_step, method, model, config)), cameras=None)
  grid0 = np.asarray(state.model_state["occupancy"]["grid"])
  state, stats = step(state, data, base_key=jax.random.PRNGKey(1))
  # Step 1 is not a multiple of occupancy_update_every = 2: grid unchanged.
  np.testing.assert_array_equal(state.model_state["occupancy"]["grid"], grid0)
  assert {"rays_used", "samples_per_ray", "budget_fill"} <= set(stats)
  first = float(stats["loss"])
  state, _ = step(state, data, base_key=jax.random.PRNGKey(1))
  assert not np.allclose(state.model_state["occupancy"]["grid"], grid0)
  for _ in range(20):
    state, stats = step(state, data, base_key=jax.random.PRNGKey(1))
  assert float(stats["loss"]) < first
  assert int(state.nonfinite_steps) == 0


def test_optimizer_uses_config_betas_and_eps():
  config = _config()
  opt = training.make_optimizer(config, instant_ngp.METHOD.param_groups)
  params = {"w": jnp.ones(3)}
  # With eps 1e-15 and b2 0.99, the first Adam step is lr * sign(grad).
  updates, _ = opt.update({"w": jnp.asarray([1e-6, -2.0, 3.0])},
                          opt.init(params), params)
  np.testing.assert_allclose(updates["w"], [-1e-2, 1e-2, -1e-2], rtol=1e-4)


def test_trainer_checkpoints_the_occupancy_grid(tmp_path):
  from conftest import EMBEDDED_LEGO
  from jaxnerf.engine import checkpoints, trainer
  c = config_lib.load_config("instant_ngp_demo")
  with c.unlocked():
    c.data_dir = EMBEDDED_LEGO
    c.train_dir = str(tmp_path / "run")
    c.sampler = "occupancy"
    c.max_time_minutes = 0.0
    c.hash_levels, c.hash_log2_size, c.hash_max_resolution = 4, 12, 64
    c.occupancy_resolution, c.march_steps = 16, 64
    c.occupancy_update_every = 2
    c.batch_size, c.samples_budget = 256, 4096
    c.max_steps, c.save_every, c.print_every = 4, 4, 2
  state, history = trainer.train(c)
  assert int(state.step) == 4 and history[-1]["rays_used"] > 0
  grid = np.asarray(state.model_state["occupancy"]["grid"])
  assert not np.allclose(grid, grid[0])  # updated from the field
  restored = checkpoints.Checkpointer(c.train_dir).restore(state)
  np.testing.assert_array_equal(restored.model_state["occupancy"]["grid"],
                                grid)


def _train(config, steps=24):
  """Trains on 64 rays of one colour; returns the stats of every step."""
  method, model, state = training.setup(config, jax.random.PRNGKey(0))
  rays = jax.tree.map(lambda x: x[None], _rays(64))
  data = training.TrainData(rays=rays, rgb=jnp.full((1, 64, 3), 0.25))
  step = jax.jit(functools.partial(training.train_step, method, model,
                                   config, cameras=None))
  history = []
  for _ in range(steps):
    state, stats = step(state, data, base_key=jax.random.PRNGKey(1))
    history.append(jax.device_get(stats))
  assert int(state.nonfinite_steps) == 0
  return history


@pytest.mark.parametrize("mult,term", [("distortion_mult", "distortion"),
                                       ("grid_l2_mult", "grid_l2"),
                                       ("sparsity_loss_mult", "sparsity")])
def test_regulariser_lowers_the_loss_and_its_term(mult, term):
  """Training with the regulariser lowers the loss, and ends with a lower
  value of the regularised quantity than the same training without it (a
  negligible multiplier keeps the term computed: it is logged divided by
  the multiplier)."""
  strong = {"distortion_mult": 0.05, "grid_l2_mult": 1.0,
            "sparsity_loss_mult": 1.0}[mult]
  with_term = _train(_config(**{mult: strong}))
  without = _train(_config(**{mult: 1e-12}))
  assert with_term[-1]["loss"] < with_term[0]["loss"]
  assert (with_term[-1][f"loss/{term}"] / strong <
          without[-1][f"loss/{term}"] / 1e-12)


def test_jittered_training_lowers_the_loss():
  history = _train(_config(ray_jitter="cone"))
  assert history[-1]["loss"] < history[0]["loss"]


def test_jitter_only_while_training():
  """Rendering (randomized=False) uses the pixel centres: identical outputs
  with and without ray_jitter; training draws differ."""
  key = jax.random.PRNGKey(0)
  outs = {}
  for jitter in ("none", "cone"):
    model = _model(_config(ray_jitter=jitter))
    variables = jax.jit(lambda k: model.init(k, _rays(1), k,
                                             randomized=False))(key)
    outs[jitter] = [jax.jit(lambda v: model.apply(
        v, _rays(), key, randomized=r)[0])(variables) for r in (False, True)]
  np.testing.assert_array_equal(outs["none"][0]["rgb"], outs["cone"][0]["rgb"])
  assert not np.allclose(outs["none"][1]["depth"], outs["cone"][1]["depth"])


def test_unknown_ray_jitter_is_a_config_error():
  from jaxnerf.errors import ConfigError
  model = _model(_config(ray_jitter="square"))
  key = jax.random.PRNGKey(0)
  with pytest.raises(ConfigError, match="config.ray_jitter"):
    model.init(key, _rays(1), key, randomized=False)


def test_proposal_sampler_renders_and_trains_its_proposals():
  config = _config(sampler="proposal", proposal_samples=(16, 8),
                   field_samples=8, proposal_hash_levels=2,
                   proposal_hash_log2_size=8, proposal_hash_max_resolution=8)
  model = _model(config)
  key = jax.random.PRNGKey(0)
  variables = jax.jit(lambda k: model.init(k, _rays(1), k,
                                           randomized=False))(key)
  assert {"proposal_0", "proposal_1", "field"} <= set(variables["params"])
  (out,) = jax.jit(lambda v: model.apply(v, _rays(), key,
                                         randomized=False))(variables)
  assert out["rgb"].shape == (16, 3) and out["interlevel"].shape == (16,)
  np.testing.assert_array_equal(out["loss_mask"], 1.0)
  assert model.state_update_every == 0  # the occupancy grid is not used
  history = _train(config)
  assert history[-1]["loss"] < history[0]["loss"]
  assert history[-1]["loss/interlevel"] < history[0]["loss/interlevel"]


def test_proposal_sampler_in_contracted_space_reaches_far_and_trains():
  # Rays start at distance 4 from the centre, outside the contraction's
  # inner ball (radius scene_bound / 2 = 2); they are sampled out to the
  # sphere of radius 2 * 32 / 2 = 32 (beyond it the shell is thinner than
  # a finest cell), not stopped at the box.
  config = _config(sampler="proposal", contraction="mipnerf360",
                   scene_bound=4.0, proposal_samples=(16, 8), field_samples=8,
                   proposal_hash_levels=2, proposal_hash_log2_size=8,
                   proposal_hash_max_resolution=8)
  model = _model(config)
  key = jax.random.PRNGKey(0)
  variables = jax.jit(lambda k: model.init(k, _rays(1), k,
                                           randomized=False))(key)
  rays = _rays()
  (out,) = jax.jit(lambda v: model.apply(v, rays, key, randomized=False))(
      variables)
  assert np.all(np.isfinite(out["rgb"])) and np.all(np.isfinite(out["depth"]))
  _, levels = jax.jit(lambda v: model.apply(
      v, method=lambda m: samplers.proposal_edges(
          key, rays, config, m.proposals, False)))(variables)
  first = np.asarray(levels[0][0]) * 1.2  # t -> world distance (|d| = 1.2)
  np.testing.assert_allclose(first[:, 0], 2.0 * 1.2, rtol=1e-5)  # near
  end = np.linalg.norm(np.asarray(rays.origins) + levels[0][0][:, -1:] *
                       np.asarray(rays.directions), axis=-1)
  np.testing.assert_allclose(end, 32.0, rtol=1e-4)
  assert np.all(first[:, -1] > 25.0)
  history = _train(config)
  assert history[-1]["loss"] < history[0]["loss"]
  assert history[-1]["loss/interlevel"] < history[0]["loss/interlevel"]


def test_density_is_zero_where_the_occupancy_grid_is_empty():
  # What a bake or a mesh reads must be what the marcher renders: it never
  # samples cells marked empty, so the field there is unsupervised.
  config = _config()
  model = _model(config)
  key = jax.random.PRNGKey(0)
  variables = jax.jit(lambda k: model.init(k, _rays(1), k,
                                           randomized=False))(key)
  res = config.occupancy_resolution
  x_index = np.arange(res**3) % res  # flat cell index, x fastest
  grid = np.where(x_index < res // 2, 0.0, 1.0).astype(np.float32)
  variables = {**variables, "occupancy": {"grid": jnp.asarray(grid)}}
  points = jax.random.uniform(key, (256, 3), minval=-config.scene_bound,
                              maxval=config.scene_bound)
  density = jax.jit(lambda v: model.apply(v, points, method="density"))(
      variables)
  field = jax.jit(lambda v: model.apply(
      v, points, method=lambda m, p: m.field.density(p)[0]))(variables)
  empty = np.asarray(points[:, 0]) < 0
  assert 50 < empty.sum() < 206
  np.testing.assert_array_equal(np.asarray(density)[empty], 0.0)
  np.testing.assert_allclose(np.asarray(density)[~empty],
                             np.asarray(field)[~empty], rtol=1e-6)
  assert np.all(np.asarray(field)[~empty] > 0)


@pytest.mark.parametrize("name", ["nerfw/hashgrid", "dnerf/hashgrid"])
def test_methods_on_the_same_marcher_share_the_regularisers(name):
  """ray_jitter, distortion_mult and grid_l2_mult act in every method on
  the hash-grid backbone (they were fields of an older grid module and
  silently did nothing); the backbone's sampler and sparsity loss are
  every such method's fields."""
  import types
  from jaxnerf import methods
  method = methods.get(*name.split("/"))
  fields = config_lib.method_config(*name.split("/"))
  assert "sampler" in fields and "proposal_samples" in fields
  assert "sparsity_loss_mult" in fields

  def configured(**kw):
    c = config_lib.method_config(*name.split("/"))
    base = _config()
    for k in ("hash_levels", "hash_log2_size", "hash_min_resolution",
              "hash_max_resolution", "occupancy_resolution", "march_steps",
              "samples_budget", "render_samples_per_ray"):
      c[k] = base[k]
    for k, v in kw.items():
      c[k] = v
    return c

  key = jax.random.PRNGKey(0)
  rays = _rays()
  depth = {}
  for jitter in ("none", "cone"):
    config = configured(ray_jitter=jitter, distortion_mult=0.05,
                        grid_l2_mult=1.0)
    model = training.build_model(method, config,
                                 types.SimpleNamespace(num_cameras=2))
    variables = jax.jit(lambda k: model.init(k, _rays(1), k,
                                             randomized=False))(key)
    outputs = jax.jit(lambda v: model.apply(v, rays, key, randomized=True))(
        variables)
    depth[jitter] = outputs[-1]["depth"]
    terms = method.loss_terms(config, outputs, rays, jnp.zeros((16, 3)),
                              variables["params"])
    assert float(terms["distortion"]) > 0 and float(terms["grid_l2"]) > 0
  assert not np.allclose(depth["none"], depth["cone"])


def test_render_image_renders_again_the_rays_a_chunk_budget_left_out():
  # 64 rays in chunks of 32 at 4 samples per ray: a chunk's budget (128,
  # at least one whole ray of 32 samples) holds a few rays of the full
  # initial grid; the rest must come back from further passes, equal to a
  # render whose budget holds every ray.
  from jaxnerf.engine import parallel
  mesh = parallel.make_mesh()
  rays = jax.tree.map(np.asarray, _rays(64, seed=3))
  images = {}
  method, _, state = training.setup(_config(), jax.random.PRNGKey(0))
  for per_ray in (4, 32):
    config = _config(render_samples_per_ray=per_ray)
    render = functools.partial(
        training.make_render_fn(method, _model(config), config),
        training.variables_of(state), cameras=None, step=state.step)
    chunk = jax.tree.map(lambda x: jnp.asarray(x[:32]), rays)
    complete = np.asarray(render(chunk)[training.RAY_COMPLETE])
    images[per_ray] = parallel.render_image(render, rays, 32, mesh)
    assert training.RAY_COMPLETE not in images[per_ray]
    if per_ray == 4:
      assert 0 < complete.sum() < 32
    else:
      assert complete.all()
  assert np.abs(images[32]["acc"]).max() > 0.1
  for k in images[32]:
    np.testing.assert_allclose(images[4][k], images[32][k], atol=1e-5,
                               err_msg=k)
