"""The mip-NeRF method: interface, shared MLP, and a short training run."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.engine import config as config_lib, training
from jaxnerf.render import losses
from jaxnerf.methods import mipnerf
from jaxnerf.data.dataset import load_dataset
from jaxnerf.data.loaders import multiscale
from jaxnerf.core.rays import Rays
from jaxnerf.engine.trainer import stack_training_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**overrides):
  c = config_lib.load_config("mipnerf_multiscale")
  with c.unlocked():
    c.netdepth, c.netwidth, c.netwidth_condition, c.skip_layer = 2, 32, 16, 0
    c.num_coarse_samples, c.num_fine_samples = 16, 16
    c.max_deg_point, c.deg_view = 8, 2
    c.batch_size = 256
    c.lr_init, c.lr_final, c.lr_delay_steps = 5e-3, 5e-3, 0
    c.max_steps = 1000
    for k, v in overrides.items():
      c[k] = v
  return c


def some_rays(n=8):
  rng = np.random.default_rng(0)
  d = rng.normal(size=(n, 3)).astype(np.float32)
  return Rays.create(jnp.asarray(-2 * d), jnp.asarray(d), 1.0, 3.0,
                     radii=0.01)


def _model(config):
  return training.build_model(mipnerf.METHOD, config, None)


def test_config_is_the_papers():
  c = config_lib.load_config("mipnerf_blender")
  assert c.method == "mipnerf" and c.coarse_loss_mult == 0.1
  assert (c.num_coarse_samples, c.num_fine_samples) == (128, 128)
  assert (c.min_deg_point, c.max_deg_point, c.resample_padding) == (0, 16,
                                                                    0.01)
  assert config_lib.load_config("mipnerf_llff").ray_shape == "cylinder"


@pytest.mark.parametrize("overrides", [{}, {"ray_shape": "cylinder"},
                                       {"disable_integration": True}])
def test_outputs_follow_the_method_interface(overrides):
  c = tiny_config(**overrides)
  model = _model(c)
  key = jax.random.PRNGKey(0)
  variables = model.init(key, some_rays(), key, randomized=True)
  # One MLP serves both levels.
  assert list(variables["params"]) == ["mlp"]
  outputs = model.apply(variables, some_rays(), key, randomized=True)
  assert len(outputs) == 2
  for out, s in zip(outputs, (16, 16)):
    assert out["rgb"].shape == (8, 3)
    assert out["weights"].shape == out["t"].shape == (8, s)
    assert out["t_edges"].shape == (8, s + 1)
    for k in ("depth", "disp", "acc"):
      assert out[k].shape == (8,)
    assert np.all(np.isfinite(np.asarray(out["rgb"])))
  fine_edges = np.asarray(outputs[1]["t_edges"])
  assert np.all(np.diff(fine_edges, axis=-1) >= 0)
  assert np.all((fine_edges >= 1.0) & (fine_edges <= 3.0))


def test_single_level():
  model = _model(tiny_config(num_fine_samples=0))
  key = jax.random.PRNGKey(0)
  variables = model.init(key, some_rays(), key, randomized=False)
  assert len(model.apply(variables, some_rays(), key, randomized=False)) == 1


def test_short_training_run_on_embedded_lego_improves_the_loss(tmp_path):
  # Four views of the embedded lego at 100, 50, 25 and 12 pixels.
  multiscale.make_multiscale(os.path.join(REPO, "data", "lego_100"),
                             str(tmp_path), splits=("train",), max_images=4)
  c = tiny_config(data_dir=str(tmp_path))
  data = jax.tree.map(jnp.asarray, stack_training_data(
      load_dataset(c, "train"), pixels=False))
  method, model, state = training.setup(c, jax.random.PRNGKey(0))
  step = jax.jit(functools.partial(training.train_step, method, model, c))

  # A fixed held-back batch, scored deterministically before and after.
  batch = training.sample_batch(jax.random.PRNGKey(123), data, 1024, False)

  @jax.jit
  def eval_loss(params):
    outputs = model.apply({"params": params}, batch.rays,
                          jax.random.PRNGKey(0), randomized=False)
    return sum(losses.rgb_terms(outputs, batch.rays, batch.rgb,
                                c.coarse_loss_mult).values())

  before = float(eval_loss(state.params))
  for _ in range(60):
    state, stats = step(state, data, None, jax.random.PRNGKey(1))
  after = float(eval_loss(state.params))
  assert np.isfinite(after) and int(state.nonfinite_steps) == 0
  assert after < 0.7 * before, (before, after)
