import jax.numpy as jnp
import numpy as np

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
