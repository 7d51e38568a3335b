import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxnerf.engine import training
from jaxnerf.methods import base
from jaxnerf.core.rays import Rays


@pytest.mark.parametrize("step,kwargs,expected", [
    (0, {}, 5e-4),
    (500_000, {}, 5e-5),  # geometric mean half-way
    (1_000_000, {}, 5e-6),
    (2_000_000, {}, 5e-6),  # clipped after max_steps
    (250_000, {}, 5e-4 * 0.01**0.25),
    # JaxNeRF LLFF-style warm-up: delay 2500 steps from 0.01x.
    (0, dict(lr_delay_steps=2500, lr_delay_mult=0.01), 5e-6),
    (1250, dict(lr_delay_steps=2500, lr_delay_mult=0.01),
     (0.01 + 0.99 * np.sin(np.pi / 4)) * 5e-4 * 0.01**0.00125),
    (2500, dict(lr_delay_steps=2500, lr_delay_mult=0.01),
     5e-4 * 0.01**0.0025),
])
def test_learning_rate_matches_jaxnerf(step, kwargs, expected):
  lr = training.learning_rate(step, 5e-4, 5e-6, 1_000_000, **kwargs)
  np.testing.assert_allclose(lr, expected, rtol=1e-6)
  lr_jnp = training.learning_rate(jnp.asarray(step), 5e-4, 5e-6, 1_000_000,
                                  **kwargs)
  np.testing.assert_allclose(lr_jnp, expected, rtol=1e-5)


def _data(num_images=3, pixels=10):
  idx = jnp.arange(num_images * pixels, dtype=jnp.float32).reshape(
      num_images, pixels, 1)
  rays = Rays.create(jnp.broadcast_to(idx, (num_images, pixels, 3)),
                     jnp.broadcast_to(idx, (num_images, pixels, 3)), 2.0, 6.0)
  return training.TrainData(rays=rays, rgb=jnp.broadcast_to(
      idx, (num_images, pixels, 3)))


def test_sample_batch_image_batching_draws_from_one_image():
  data = _data()
  for seed in range(5):
    batch = training.sample_batch(jax.random.PRNGKey(seed), data, 32,
                                  image_batching=True)
    image = np.asarray(batch.rays.origins[:, 0]) // 10
    assert len(set(image.tolist())) == 1
    np.testing.assert_array_equal(batch.rays.origins[:, 0], batch.rgb[:, 0])
  batch = training.sample_batch(jax.random.PRNGKey(0), data, 256, False)
  assert len(set((np.asarray(batch.rays.origins[:, 0]) // 10).tolist())) == 3


def _step_fn(config):
  method, model, state = training.setup(config, jax.random.PRNGKey(0))
  step = jax.jit(functools.partial(training.train_step, method, model, config))
  return state, lambda state, data, key: step(state, data, None, key)


def test_optimizer_gives_each_group_its_own_schedule():
  """Two groups: the first-step Adam update of each leaf is -lr of its
  group (Adam's first step is lr * sign(g) for any g != 0)."""
  groups = (base.ParamGroup("poses", prefix="pose_",
                            match=base.match_prefix("poses")),
            base.ParamGroup("field"))
  config = ml_collections.ConfigDict(dict(
      lr_init=1e-2, lr_final=1e-4, lr_delay_steps=0, lr_delay_mult=1.0,
      pose_lr_init=3e-3, pose_lr_final=3e-5, pose_lr_delay_steps=0,
      pose_lr_delay_mult=1.0, max_steps=100, adam_b1=0.9, adam_b2=0.999,
      adam_eps=1e-12, grad_max_norm=0.0, method="test"))
  params = {"poses": {"delta": jnp.zeros((4, 6))},
            "mlp": {"kernel": jnp.zeros((3, 3))}}
  labels = training.group_labels(groups, params)
  assert labels == {"poses": {"delta": "poses"}, "mlp": {"kernel": "field"}}
  opt = training.make_optimizer(config, groups)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = opt.update(grads, opt.init(params), params)
  np.testing.assert_allclose(updates["poses"]["delta"], -3e-3, rtol=1e-5)
  np.testing.assert_allclose(updates["mlp"]["kernel"], -1e-2, rtol=1e-5)
  with pytest.raises(ValueError, match="matches no parameter group"):
    training.group_labels(groups[:1], params)


def test_progress_reaches_the_model(tiny_config):
  """The train step passes (step, step / max_steps) to the model."""
  import flax.linen as nn

  class Probe(nn.Module):
    @nn.compact
    def __call__(self, rays, key, randomized, progress):
      scale = self.param("scale", nn.initializers.ones, ())
      self.sow("intermediates", "fraction", progress.fraction)
      rgb = scale * jnp.ones_like(rays.origins) * progress.fraction
      return [{"rgb": rgb}]

  method = base.Method(
      name="probe", fields=ml_collections.ConfigDict,
      build_model=lambda c, s: Probe(),
      loss_terms=lambda c, o, r, rgb, p: {"rgb": jnp.mean(
          (o[-1]["rgb"] - rgb)**2)})
  model = Probe()
  state = training.create_train_state(method, model, tiny_config,
                                      jax.random.PRNGKey(0))
  data = _data()
  step = jax.jit(functools.partial(training.train_step, method, model,
                                   tiny_config))
  for expected_step in range(3):
    assert int(state.step) == expected_step
    _, stats = step(state, data, None, jax.random.PRNGKey(0))
    # rgb = fraction: the logged PSNR is that of the progress.
    frac = expected_step / tiny_config.max_steps
    batch = training.sample_batch(
        jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0),
                                            expected_step))[0],
        data, tiny_config.batch_size, tiny_config.image_batching)
    mse = float(jnp.mean((frac - batch.rgb)**2))
    np.testing.assert_allclose(stats["loss/rgb"], mse, rtol=1e-5)
    state = state.replace(step=state.step + 1)


def test_train_step_is_a_pure_function_of_state_and_key(tiny_config):
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine.trainer import stack_training_data
  data = stack_training_data(load_dataset(tiny_config, "train", max_images=4),
                             pixels=False)
  state, step = _step_fn(tiny_config)
  key = jax.random.PRNGKey(3)
  s1, stats1 = step(state, data, key)
  s2, stats2 = step(state, data, key)
  assert int(s1.step) == 1
  np.testing.assert_array_equal(stats1["loss"], stats2["loss"])
  s3, _ = step(s1, data, key)
  # A different step number draws a different batch.
  _, stats3 = step(s3, data, key)
  assert float(stats3["loss"]) != float(stats1["loss"])


def test_non_finite_update_is_skipped_and_counted(tiny_config):
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine.trainer import stack_training_data
  data = stack_training_data(load_dataset(tiny_config, "train", max_images=2),
                             pixels=False)
  data = training.TrainData(rays=data.rays, rgb=data.rgb * np.nan)
  state, step = _step_fn(tiny_config)
  new, stats = step(state, data, jax.random.PRNGKey(0))
  assert not np.isfinite(float(stats["loss"]))
  assert int(new.nonfinite_steps) == 1 and int(new.step) == 1
  for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(a, b)


def test_time_clock_puts_every_count_at_the_budget_fraction():
  c = ml_collections.ConfigDict(dict(
      method="nerf", max_steps=1000, lr_init=1e-2, lr_final=1e-4,
      lr_delay_steps=0, lr_delay_mult=1.0))
  by_steps = training.learning_rate_schedule(c)
  for fraction in (0.0, 0.25, 0.5, 1.0):
    by_time = training.learning_rate_schedule(c, fraction=jnp.float32(
        fraction))
    for count in (0, 7, 999):  # the optimiser's count plays no part
      np.testing.assert_allclose(by_time(count), by_steps(fraction * 1000),
                                 rtol=1e-6)
  # Half the budget: the geometric mean of the two rates.
  np.testing.assert_allclose(
      training.learning_rate_schedule(c, fraction=0.5)(0), 1e-3, rtol=1e-6)
  p = training.progress_of(c, 3, jnp.float32(1.5))
  assert int(p.step) == 3 and float(p.fraction) == 1.0
  p = training.progress_of(c, 250)
  assert float(p.fraction) == 0.25


def test_train_step_follows_the_budget_fraction(tiny_config):
  method, model, state = training.setup(tiny_config, jax.random.PRNGKey(0))
  step = jax.jit(functools.partial(training.train_step, method, model,
                                   tiny_config))
  data = _data()
  key = jax.random.PRNGKey(1)
  _, by_count = step(state, data, None, key)
  _, at_half = step(state, data, None, key, fraction=jnp.float32(0.5))
  c = tiny_config
  np.testing.assert_allclose(by_count["lr"], c.lr_init, rtol=1e-6)
  np.testing.assert_allclose(at_half["lr"],
                             np.sqrt(c.lr_init * c.lr_final), rtol=1e-5)
  # Same batch and state: only the step size differs, not the loss.
  np.testing.assert_allclose(at_half["loss"], by_count["loss"], rtol=1e-6)
