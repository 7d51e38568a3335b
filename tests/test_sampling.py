"""Sampling along rays: mip-NeRF's blurred resampling."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf import sampling


def test_blur_weights_max_then_blur_then_pad():
  w = jnp.array([[0.0, 0.0, 1.0, 0.0, 0.0]])
  # Padded [0 0 0 1 0 0 0] -> pairwise max [0 0 1 1 0 0] -> pairwise mean.
  np.testing.assert_allclose(sampling.blur_weights(w, 0.01),
                             [[0.01, 0.51, 1.01, 0.51, 0.01]])


def test_resample_along_rays_follows_the_weights():
  edges = jnp.linspace(2.0, 6.0, 9)[None].repeat(3, 0)  # 8 intervals of 0.5
  weights = jnp.zeros((3, 8)).at[:, 4].set(1.0)  # all mass in [4, 4.5]
  for randomized in (False, True):
    t = sampling.resample_along_rays(jax.random.PRNGKey(0), edges, weights,
                                     32, randomized, padding=0.01)
    assert t.shape == (3, 33)
    t = np.asarray(t)
    assert np.all(np.diff(t, axis=-1) >= 0)
    assert np.all((t >= 2.0) & (t <= 6.0))
    # Blurred mass: 1 + 0.5 + 0.5 of 2 + 8 * 0.01 sits in [3.5, 5].
    inside = np.mean((t > 3.5) & (t < 5.0))
    assert inside > 0.85


def test_resample_along_rays_has_no_gradient():
  edges = jnp.linspace(2.0, 6.0, 9)[None]
  grad = jax.grad(lambda w: jnp.sum(sampling.resample_along_rays(
      None, edges, w, 8, False, 0.01)))(jnp.ones((1, 8)))
  np.testing.assert_array_equal(grad, 0.0)
