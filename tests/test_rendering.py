"""Volume rendering over intervals (mip-NeRF)."""

import jax.numpy as jnp
import numpy as np

from jaxnerf import rendering


def test_interval_weights_hand_computed():
  edges = jnp.array([[1.0, 2.0, 4.0, 5.0]])
  density = jnp.array([[0.5, 1.0, 0.0]])
  d = jnp.array([[0.0, 0.0, -2.0]])  # |d| = 2 doubles every interval
  w = rendering.interval_weights(density, edges, d)
  a0 = 1 - np.exp(-0.5 * 2)
  a1 = (1 - np.exp(-1.0 * 4)) * np.exp(-0.5 * 2)
  np.testing.assert_allclose(w, [[a0, a1, 0.0]], rtol=1e-6)


def test_volumetric_rendering_intervals_constant_medium():
  # Constant colour and density: acc = 1 - exp(-sigma * length), and the
  # colour is that fraction of the medium's colour (+ white background).
  edges = jnp.linspace(2.0, 6.0, 17)[None]
  density = jnp.full((1, 16), 0.3)
  rgb = jnp.full((1, 16, 3), 0.25)
  d = jnp.array([[0.0, 1.0, 0.0]])
  out = rendering.volumetric_rendering_intervals(rgb, density, edges, d,
                                                 white_bkgd=True)
  acc = 1 - np.exp(-0.3 * 4.0)
  np.testing.assert_allclose(out["acc"], [acc], rtol=1e-5)
  np.testing.assert_allclose(out["rgb"], [[0.25 * acc + 1 - acc] * 3],
                             rtol=1e-5)
  assert out["weights"].shape == (1, 16)
