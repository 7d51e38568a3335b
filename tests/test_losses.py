"""Loss terms: hand-derived values of the regularisers."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.render import compositing, losses
from jaxnerf.core.rays import Rays


def test_distortion_of_two_equal_weight_intervals():
  # Weight 1/2 on [0, 1] and on [2, 3] (nothing on [1, 2]): the pairwise
  # term is 2 * (1/2)(1/2) * |0.5 - 2.5| = 1, the self term
  # 1/3 * ((1/2)^2 * 1 + (1/2)^2 * 1) = 1/6.
  weights = jnp.asarray([[0.5, 0.0, 0.5]])
  edges = jnp.asarray([[0.0, 1.0, 2.0, 3.0]])
  np.testing.assert_allclose(losses.distortion(weights, edges), [7 / 6],
                             rtol=1e-6)
  # One interval of weight 1 and length d: d / 3. Splitting it in two
  # halves of weight 1/2 gives the same (the loss is of the step function).
  np.testing.assert_allclose(
      losses.distortion(jnp.asarray([[1.0]]), jnp.asarray([[0.0, 0.3]])),
      [0.1], rtol=1e-6)
  np.testing.assert_allclose(
      losses.distortion(jnp.asarray([[0.5, 0.5]]),
                        jnp.asarray([[0.0, 0.15, 0.3]])), [0.1], rtol=1e-6)


def test_distortion_prefers_one_compact_bump():
  edges = jnp.linspace(0.0, 1.0, 11)[None]
  compact = jnp.zeros((1, 10)).at[0, 4].set(1.0)
  spread = jnp.full((1, 10), 0.1)
  assert losses.distortion(compact, edges) < losses.distortion(spread, edges)


def test_packed_distortion_equals_dense_per_ray():
  rng = np.random.default_rng(0)
  n, s = 5, 9
  weights = rng.uniform(0, 0.3, (n, s)).astype(np.float32)
  edges = np.sort(rng.uniform(0, 4, (n, s + 1)), axis=-1).astype(np.float32)
  dense = losses.distortion(jnp.asarray(weights), jnp.asarray(edges))
  # Pack a random subset of each ray's intervals (marching skips cells); the
  # dense reference then has zero weight on the skipped ones.
  keep = rng.uniform(size=(n, s)) < 0.7
  keep[2] = False  # a ray without samples
  ids, w, mid, delta = [], [], [], []
  for r in range(n):
    for i in np.nonzero(keep[r])[0]:
      ids.append(r)
      w.append(weights[r, i])
      mid.append(0.5 * (edges[r, i] + edges[r, i + 1]))
      delta.append(edges[r, i + 1] - edges[r, i])
  pad = 4
  f = lambda x, v: jnp.asarray(np.concatenate([x, np.full(pad, v)]),
                               jnp.float32)
  packed = losses.packed_distortion(
      f(w, 0.0), f(mid, 0.0), f(delta, 0.0),
      jnp.asarray(np.concatenate([ids, np.full(pad, n)]), jnp.int32), n)
  expected = losses.distortion(jnp.asarray(np.where(keep, weights, 0.0)),
                               jnp.asarray(edges))
  np.testing.assert_allclose(packed, expected, rtol=1e-5, atol=1e-7)
  assert float(packed[2]) == 0.0
  assert not np.allclose(dense, expected)  # the subset mattered


def test_distortion_terms_weights_rays_and_skips_zero_mult():
  rays = Rays.create(jnp.zeros((2, 3)), jnp.ones((2, 3)), 0.0, 1.0,
                     lossmult=jnp.asarray([[1.0], [3.0]]))
  outputs = [{"distortion": jnp.asarray([1.0, 2.0]),
              "loss_mask": jnp.asarray([1.0, 1.0])}]
  terms = losses.distortion_terms(outputs, rays, 0.5)
  np.testing.assert_allclose(terms["distortion"], 0.5 * (1 + 6) / 4)
  assert losses.distortion_terms(outputs, rays, 0.0) == {}


def test_grid_l2_is_the_sum_of_per_level_means():
  # Level 0: rows 0-1 of ones (mean 1); level 1: rows 2-5 of twos (mean 4).
  table = jnp.concatenate([jnp.ones((2, 2)), 2 * jnp.ones((4, 2))])
  np.testing.assert_allclose(losses.grid_l2(table, [(0, 2), (2, 4)]), 5.0)
  grad = jax.grad(losses.grid_l2)(table, [(0, 2), (2, 4)])
  # d/dx mean(x^2) = 2 x / count: a coarse entry is held 2x as firmly here.
  np.testing.assert_allclose(grad[0], 2 * 1 / 4)
  np.testing.assert_allclose(grad[2], 2 * 2 / 8)


def test_segment_cumsum_is_what_packed_distortion_builds_on():
  ids = jnp.asarray([0, 0, 1, 1, 1])
  np.testing.assert_allclose(
      compositing.segment_cumsum(jnp.ones(5), ids), [1, 2, 1, 2, 3])


def test_sparsity_of_a_constant_density_and_the_box():
  # sigma = 50 everywhere: 1 - exp(-0.01 * 50) = 1 - e^-0.5.
  key = jax.random.PRNGKey(0)
  value = losses.sparsity(key, lambda p: jnp.full(p.shape[:1], 50.0), 64,
                          1.5, 0.01)
  np.testing.assert_allclose(value, 1 - np.exp(-0.5), rtol=1e-6)
  # Density 1 inside the ball of radius 1, 0 outside, in the box [-1, 1]^3:
  # the mean is the ball's volume share (pi / 6) times 1 - e^-lam.
  ball = lambda p: (jnp.linalg.norm(p, axis=-1) < 1).astype(jnp.float32)
  value = losses.sparsity(key, ball, 200_000, 1.0, 2.0)
  np.testing.assert_allclose(value, np.pi / 6 * (1 - np.exp(-2.0)),
                             rtol=0.01)
  assert losses.sparsity_terms([{"sparsity": value}], 0.0) == {}
  np.testing.assert_allclose(
      losses.sparsity_terms([{"sparsity": value}], 3.0)["sparsity"],
      3 * value)


def test_kernel_l2_takes_dense_and_stacked_kernels_only():
  """Dense kernels and the stacked [N, in, out] `<layer>_kernel`s of DeRF's
  heads and KiloNeRF's networks; not biases, tables or other arrays."""
  params = {"Dense_0": {"kernel": jnp.full((2, 3), 2.0),
                        "bias": jnp.ones(3)},
            "heads": {"hidden0_kernel": jnp.full((4, 2, 2), 3.0),
                      "hidden0_bias": jnp.ones((4, 2))},
            "grid": {"table": jnp.ones((8, 2))}, "sites": jnp.ones((4, 3))}
  np.testing.assert_allclose(float(losses.kernel_l2(params)),
                             6 * 4.0 + 16 * 9.0)
