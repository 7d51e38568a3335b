import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf import encoding


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
