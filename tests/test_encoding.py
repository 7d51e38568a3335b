"""Tests for jaxnerf.encoding (spherical harmonics; positional encoding)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxnerf import encoding


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


def test_positional_encoding_size():
  x = np.zeros((2, 3), np.float32)
  out = encoding.positional_encoding(x, 0, 4)
  assert out.shape[-1] == encoding.positional_encoding_size(3, 0, 4)
