import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.render import sampling


def test_stratified_deterministic_is_linspace():
  near, far = jnp.full((2, 1), 2.0), jnp.full((2, 1), 6.0)
  t = sampling.stratified_t(None, near, far, 5, randomized=False,
                            lindisp=False)
  np.testing.assert_allclose(t, np.tile([2, 3, 4, 5, 6], (2, 1)), atol=1e-6)


def test_stratified_lindisp_is_linear_in_disparity():
  near, far = jnp.full((1, 1), 1.0), jnp.full((1, 1), 4.0)
  t = sampling.stratified_t(None, near, far, 4, randomized=False, lindisp=True)
  np.testing.assert_allclose(1 / t[0], np.linspace(1, 0.25, 4), atol=1e-6)


def test_stratified_jitter_stays_in_bins():
  near, far = jnp.full((1000, 1), 2.0), jnp.full((1000, 1), 6.0)
  t = sampling.stratified_t(jax.random.PRNGKey(0), near, far, 5,
                            randomized=True, lindisp=False)
  edges = np.array([2, 2.5, 3.5, 4.5, 5.5, 6])
  assert np.all(t >= edges[:-1]) and np.all(t <= edges[1:])
  assert np.all(np.diff(t, axis=-1) >= 0)
  # Each bin is covered uniformly: the mean is at the bin centre.
  np.testing.assert_allclose(t.mean(0), 0.5 * (edges[:-1] + edges[1:]),
                             atol=0.05)


def test_sample_pdf_one_hot_concentrates_in_bin():
  bins = jnp.linspace(0.0, 10.0, 11)[None]  # 10 bins of width 1
  weights = jnp.zeros((1, 10)).at[0, 6].set(1.0)
  s = sampling.sample_pdf(jax.random.PRNGKey(1), bins, weights, 4096, True)
  # All but the eps floor's share (about 9e-5) lands in [6, 7], uniformly.
  s = np.asarray(s[0])
  assert np.mean((s >= 6) & (s <= 7)) >= 0.999
  np.testing.assert_allclose(np.mean(s[(s >= 6) & (s <= 7)]), 6.5, atol=0.02)
  # Deterministic u = linspace(0, 1) as in JaxNeRF: the end points u = 0 and
  # u = 1 map to the support's ends, every other sample into the bin, evenly.
  s = np.asarray(sampling.sample_pdf(None, bins, weights, 65, False)[0])
  assert s[0] == 0.0 and s[-1] == 10.0
  np.testing.assert_allclose(s[1:-1], 6 + np.arange(1, 64) / 64, atol=2e-3)


def test_sample_pdf_uniform_weights_invert_linearly():
  bins = jnp.linspace(0.0, 1.0, 5)[None]
  weights = jnp.ones((1, 4))
  s = sampling.sample_pdf(None, bins, weights, 9, randomized=False)
  np.testing.assert_allclose(s[0], np.linspace(0, 1, 9), atol=1e-5)


def test_sample_pdf_has_no_gradient():
  bins = jnp.linspace(0.0, 1.0, 5)[None]
  g = jax.grad(lambda w: jnp.sum(sampling.sample_pdf(
      None, bins, w, 8, False)))(jnp.ones((1, 4)))
  np.testing.assert_array_equal(g, 0)


def test_hierarchical_union_is_sorted_and_contains_coarse():
  t = jnp.linspace(2.0, 6.0, 8)[None]
  w = jnp.zeros((1, 8)).at[0, 4].set(1.0)
  t_all = sampling.hierarchical_t(jax.random.PRNGKey(0), t, w, 16, True)
  assert t_all.shape == (1, 24)
  assert np.all(np.diff(t_all[0]) >= 0)
  assert set(np.asarray(t[0]).tolist()) <= set(np.asarray(t_all[0]).tolist())
  # Fine samples fall between the midpoints around the one-hot sample.
  mids = 0.5 * (t[0, 1:] + t[0, :-1])
  new = np.setdiff1d(np.asarray(t_all[0]), np.asarray(t[0]))
  assert np.mean((new >= mids[3]) & (new <= mids[4])) >= 0.9


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


def test_stratified_pdf_samples_put_one_sample_in_each_cdf_stratum():
  """mip-NeRF's resampling: u_k in [k/S, (k+1)/S), so the k-th sample lies
  in the k-th equal-mass stratum of the PDF, and samples come out sorted."""
  key = jax.random.PRNGKey(0)
  n, num_bins, num_samples = 64, 12, 9
  bins = jnp.sort(jax.random.uniform(key, (n, num_bins + 1)) * 4, axis=-1)
  weights = jax.random.uniform(jax.random.PRNGKey(1), (n, num_bins)) ** 3
  samples = np.asarray(sampling.sample_pdf(jax.random.PRNGKey(2), bins,
                                           weights, num_samples, True,
                                           stratified=True))
  # The CDF of each sample (the PDF includes sample_pdf's eps floor).
  w = np.asarray(weights) + 1e-5
  pdf = w / w.sum(-1, keepdims=True)
  edges = np.asarray(bins)
  cdf_at = np.empty_like(samples)
  for r in range(n):
    cdf = np.concatenate([[0.0], np.cumsum(pdf[r])])
    cdf_at[r] = np.interp(samples[r], edges[r], cdf)
  stratum = np.floor(cdf_at * num_samples + 1e-4).astype(int)
  np.testing.assert_array_equal(
      stratum, np.broadcast_to(np.arange(num_samples), stratum.shape))
  assert np.all(np.diff(samples, axis=-1) >= 0)
  # Independent (NeRF) sampling does not keep one sample per stratum.
  free = np.asarray(sampling.sample_pdf(jax.random.PRNGKey(2), bins, weights,
                                        num_samples, True))
  free_cdf = np.stack([np.interp(free[r], edges[r], np.concatenate(
      [[0.0], np.cumsum(pdf[r])])) for r in range(n)])
  counts = np.floor(np.sort(free_cdf, -1) * num_samples).astype(int)
  assert np.any(counts != np.arange(num_samples))


def test_resample_along_rays_edges_are_stratified():
  """Fine edges of mip-NeRF: one per stratum of the blurred weights' CDF."""
  t_edges = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 17), (4, 17))
  weights = jnp.zeros((4, 16)).at[:, 5].set(1.0)
  edges = np.asarray(sampling.resample_along_rays(
      jax.random.PRNGKey(0), t_edges, weights, 24, True, 0.01))
  assert edges.shape == (4, 25)
  assert np.all(np.diff(edges, axis=-1) >= 0)
  # Most of the mass (the blurred spike at intervals 4-6) gets most edges.
  inside = np.mean((edges >= 2.0 + 4 * 0.25) & (edges <= 2.0 + 7 * 0.25))
  assert inside > 0.7
