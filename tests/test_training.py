import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf import models, training


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


def test_compute_loss_weights_levels_and_rays():
  rgb = jnp.zeros((2, 3))
  outs = [{"rgb": jnp.full((2, 3), 0.5)}, {"rgb": jnp.full((2, 3), 0.1)}]
  loss, mses = training.compute_loss(outs, rgb, jnp.ones((2, 1)), 0.1)
  np.testing.assert_allclose(mses, [0.25, 0.01], rtol=1e-6)
  np.testing.assert_allclose(loss, 0.1 * 0.25 + 0.01, rtol=1e-6)
  outs = [{"rgb": jnp.array([[1.0] * 3, [0.0] * 3])}]
  loss, _ = training.compute_loss(outs, rgb, jnp.array([[3.0], [1.0]]), 1.0)
  np.testing.assert_allclose(loss, 0.75, rtol=1e-6)


def _data(num_images=3, pixels=10):
  from jaxnerf.rays import Rays
  idx = jnp.arange(num_images * pixels, dtype=jnp.float32).reshape(
      num_images, pixels, 1)
  rays = Rays(*[jnp.broadcast_to(idx, (num_images, pixels, d))
                for d in (3, 3, 3, 1, 1, 1, 1)])
  return training.TrainData(rays=rays, rgb=jnp.broadcast_to(
      idx, (num_images, pixels, 3)))


def test_sample_batch_image_batching_draws_from_one_image():
  data = _data()
  for seed in range(5):
    rays, rgb = training.sample_batch(jax.random.PRNGKey(seed), data, 32,
                                      image_batching=True)
    image = np.asarray(rays.origins[:, 0]) // 10
    assert len(set(image.tolist())) == 1
    np.testing.assert_array_equal(rays.origins[:, 0], rgb[:, 0])
  rays, _ = training.sample_batch(jax.random.PRNGKey(0), data, 256, False)
  assert len(set((np.asarray(rays.origins[:, 0]) // 10).tolist())) == 3


def _step_fn(config):
  model = models.construct_model(config)
  opt = training.make_optimizer(config)
  state = training.create_train_state(model, opt, jax.random.PRNGKey(0))
  return state, jax.jit(functools.partial(training.train_step, model, config,
                                          opt))


def test_train_step_is_a_pure_function_of_state_and_key(tiny_config):
  from jaxnerf.datasets import load_dataset
  from jaxnerf.trainer import stack_training_data
  data = stack_training_data(load_dataset(tiny_config, "train", max_images=4))
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
  from jaxnerf.datasets import load_dataset
  from jaxnerf.trainer import stack_training_data
  data = stack_training_data(load_dataset(tiny_config, "train", max_images=2))
  data = training.TrainData(rays=data.rays, rgb=data.rgb * np.nan)
  state, step = _step_fn(tiny_config)
  new, stats = step(state, data, jax.random.PRNGKey(0))
  assert not np.isfinite(float(stats["loss"]))
  assert int(new.nonfinite_steps) == 1 and int(new.step) == 1
  for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(a, b)
