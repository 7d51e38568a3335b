import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.fields import encoding


def test_positional_encoding_matches_formula():
  x = np.array([[0.3, -1.2, 2.0], [0.0, 0.5, -0.7]], np.float32)
  out = np.asarray(encoding.positional_encoding(jnp.asarray(x), 0, 4))
  expected = [x]
  expected += [np.sin(2.0**k * x) for k in range(4)]
  expected += [np.cos(2.0**k * x) for k in range(4)]
  np.testing.assert_allclose(out, np.concatenate(expected, -1), atol=1e-5)
  assert out.shape == (2, encoding.positional_encoding_size(3, 0, 4))


def test_positional_encoding_legacy_order_and_no_input():
  x = np.array([[0.3, -1.2, 2.0]], np.float32)
  out = np.asarray(encoding.positional_encoding(
      jnp.asarray(x), 1, 3, include_input=False, legacy_order=True))
  expected = np.concatenate([np.sin(2 * x), np.cos(2 * x), np.sin(4 * x),
                             np.cos(4 * x)], -1)
  np.testing.assert_allclose(out, expected, atol=1e-5)


def test_default_sizes_are_nerf_paper_sizes():
  assert encoding.positional_encoding_size(3, 0, 10) == 63
  assert encoding.positional_encoding_size(3, 0, 4) == 27


def test_ipe_equals_pe_at_zero_variance():
  x = jax.random.uniform(jax.random.PRNGKey(0), (7, 5, 3), minval=-2,
                         maxval=2)
  ipe = encoding.integrated_positional_encoding(x, jnp.zeros_like(x), 0, 8)
  pe = encoding.positional_encoding(x, 0, 8, include_input=False)
  assert ipe.shape == pe.shape == (7, 5, 3 * 2 * 8)
  np.testing.assert_allclose(ipe, pe, atol=1e-5)


def test_ipe_tends_to_pe_as_variance_vanishes():
  x = jnp.array([[0.3, -1.2, 0.7]])
  pe = encoding.positional_encoding(x, 2, 6, include_input=False)
  errors = [float(jnp.max(jnp.abs(encoding.integrated_positional_encoding(
      x, jnp.full_like(x, var), 2, 6) - pe)))
            for var in (1e-2, 1e-4, 1e-6, 1e-8)]
  assert errors[0] > errors[1] > errors[2] > errors[3]
  # The finest feature is scaled by exp(-4^5 var / 2): 5e-6 at var = 1e-8.
  assert errors[3] < 2e-5


@pytest.mark.parametrize("mean,var", [(0.3, 0.0), (0.3, 0.05), (-2.0, 0.5),
                                      (1.0, 3.0)])
def test_expected_sin_matches_sampling(mean, var):
  z = np.random.default_rng(0).normal(mean, np.sqrt(var), 400_000)
  y, y_var = encoding.expected_sin(jnp.float32(mean), jnp.float32(var))
  np.testing.assert_allclose(y, np.sin(z).mean(), atol=4e-3)
  np.testing.assert_allclose(y_var, np.sin(z).var(), atol=4e-3)


def test_ipe_is_the_expected_pe_under_the_gaussian():
  mean = np.array([0.4, -0.9, 1.3])
  var = np.array([0.002, 0.03, 0.2])
  z = np.random.default_rng(1).normal(mean, np.sqrt(var), (200_000, 3))
  expected = np.mean(np.asarray(encoding.positional_encoding(
      jnp.asarray(z, jnp.float32), 0, 4, include_input=False)), axis=0)
  ipe = encoding.integrated_positional_encoding(jnp.asarray(mean, jnp.float32),
                                                jnp.asarray(var, jnp.float32),
                                                0, 4)
  np.testing.assert_allclose(ipe, expected, atol=5e-3)


def test_ipe_attenuates_frequencies_finer_than_the_gaussian():
  x = jnp.array([0.5, 0.5, 0.5])
  features = encoding.integrated_positional_encoding(x, jnp.full_like(x, 0.1),
                                                     0, 8)
  # [sin | cos] x [8 degrees] x [3 coords]; degree 7 has 4^7 * 0.1 / 2 >> 1.
  per_degree = jnp.abs(features.reshape(2, 8, 3)).max(axis=(0, 2))
  assert per_degree[0] > 0.5
  assert per_degree[-1] < 1e-6


def test_expected_sin_large_arguments_stay_accurate():
  # 2^15 * 1.37: float32 sin of the raw product loses digits; the wrapped
  # one matches float64 to float32 rounding of the input.
  x = np.float32(2.0**15 * 1.37)
  y, _ = encoding.expected_sin(jnp.float32(x), jnp.float32(0.0))
  assert np.isfinite(float(y))
  np.testing.assert_allclose(y, np.sin(np.float64(x)), atol=2e-3)


# Spherical harmonics --------------------------------------------------------


def _fibonacci_sphere(n: int) -> np.ndarray:
  i = np.arange(n) + 0.5
  z = 1 - 2 * i / n
  phi = np.pi * (1 + 5**0.5) * i
  r = np.sqrt(1 - z**2)
  return np.stack([r * np.cos(phi), r * np.sin(phi), z], -1).astype(np.float32)


def test_sh_is_orthonormal_on_the_sphere():
  d = _fibonacci_sphere(20000)
  y = np.asarray(encoding.spherical_harmonics(d, 3), np.float64)  # [n, 16]
  gram = 4 * np.pi * y.T @ y / len(d)
  np.testing.assert_allclose(gram, np.eye(16), atol=2e-3)


def test_sh_degrees_nest_and_sizes():
  d = _fibonacci_sphere(10)
  full = encoding.spherical_harmonics(d, 3)
  for deg in range(4):
    out = encoding.spherical_harmonics(d, deg)
    assert out.shape == (10, encoding.sh_basis_size(deg))
    np.testing.assert_allclose(out, full[:, :out.shape[-1]], atol=1e-7)
  with pytest.raises(ValueError):
    encoding.spherical_harmonics(d, 4)


def test_coarse_to_fine_weights_at_the_schedule_corners():
  """BARF's c2f = [0.1, 0.5] with L = 10: nothing before 10% of training,
  everything from 50%; band k is half on at alpha = k + 0.5, i.e. at
  fraction 0.1 + 0.4 (k + 0.5) / 10."""
  w = lambda f: np.asarray(encoding.coarse_to_fine_weights(
      jnp.float32(f), 10, 0.1, 0.5))
  np.testing.assert_array_equal(w(0.0), 0.0)
  np.testing.assert_array_equal(w(0.1), 0.0)
  np.testing.assert_allclose(w(0.5), 1.0, atol=1e-6)
  np.testing.assert_array_equal(w(1.0), 1.0)
  mid = w(0.1 + 0.4 * 3.5 / 10)  # alpha = 3.5
  np.testing.assert_allclose(mid[:3], 1.0, atol=1e-6)
  np.testing.assert_allclose(mid[3], 0.5, atol=1e-5)
  np.testing.assert_array_equal(mid[4:], 0.0)
  # (1 - cos(pi / 4)) / 2 at alpha = k + 1/4.
  np.testing.assert_allclose(w(0.1 + 0.4 * 0.25 / 10)[0],
                             (1 - np.cos(np.pi / 4)) / 2, atol=1e-5)


@pytest.mark.parametrize("legacy", [False, True])
def test_band_weights_scale_each_frequency(legacy):
  x = jnp.asarray([[0.3, -1.2, 2.0]], jnp.float32)
  weights = jnp.asarray([1.0, 0.25, 0.0])
  full = encoding.positional_encoding(x, 0, 3, True, legacy)
  weighted = encoding.positional_encoding(x, 0, 3, True, legacy,
                                          band_weights=weights)
  np.testing.assert_array_equal(weighted[:, :3], x)  # the input stays
  # The band of each feature: input (-1), then [sin, cos] x band x
  # coordinate, or (legacy) band x [sin, cos] x coordinate.
  band = (np.concatenate([[-1] * 3, np.tile(np.repeat(np.arange(3), 3), 2)])
          if not legacy else
          np.concatenate([[-1] * 3, np.repeat(np.arange(3), 6)]))
  factor = np.where(band < 0, 1.0, np.asarray(weights)[np.maximum(band, 0)])
  np.testing.assert_allclose(weighted, full * factor, atol=1e-6)
