import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf import rendering


def _constant_field(sigma, colour, n=64, near=2.0, far=6.0):
  t = jnp.linspace(near, far, n)[None]
  density = jnp.full((1, n), sigma).at[:, -1].set(0.0)  # nothing past far
  rgb = jnp.broadcast_to(jnp.asarray(colour), (1, n, 3))
  dirs = jnp.array([[0.0, 0.0, -1.0]])
  return t, density, rgb, dirs


def test_constant_density_gives_beer_lambert_opacity_and_colour():
  sigma, colour = 0.3, [0.2, 0.5, 0.9]
  t, density, rgb, dirs = _constant_field(sigma, colour)
  out = rendering.volumetric_rendering(rgb, density, t, dirs, white_bkgd=False)
  acc = 1 - np.exp(-sigma * 4.0)
  np.testing.assert_allclose(out["acc"], [acc], rtol=1e-5)
  np.testing.assert_allclose(out["rgb"], [np.array(colour) * acc], rtol=1e-5)
  # Expected depth of an exponential distribution truncated to [2, 6],
  # discretised at the left end of each interval.
  dt = 4.0 / 63
  ti = 2.0 + dt * np.arange(63)
  wi = np.exp(-sigma * (ti - 2)) * (1 - np.exp(-sigma * dt))
  np.testing.assert_allclose(out["depth"], [np.sum(wi * ti)], rtol=1e-5)


def test_white_background_fills_transparent_part():
  t, density, rgb, dirs = _constant_field(0.3, [0.0, 0.0, 0.0])
  out = rendering.volumetric_rendering(rgb, density, t, dirs, white_bkgd=True)
  np.testing.assert_allclose(out["rgb"], [[np.exp(-1.2)] * 3], rtol=1e-5)


def test_direction_norm_scales_distances():
  t, density, rgb, dirs = _constant_field(0.3, [1.0, 1.0, 1.0])
  out = rendering.volumetric_rendering(rgb, density, t, 2 * dirs, False)
  np.testing.assert_allclose(out["acc"], [1 - np.exp(-0.3 * 8.0)], rtol=1e-5)


def test_opaque_wall_gives_its_depth_and_disparity():
  t = jnp.linspace(2.0, 6.0, 41)[None]
  density = jnp.zeros((1, 41)).at[0, 25].set(1e4)  # wall at t = 4.5
  rgb = jnp.ones((1, 41, 3))
  out = rendering.volumetric_rendering(rgb, density, t,
                                       jnp.array([[0.0, 0.0, 1.0]]), False)
  np.testing.assert_allclose(out["depth"], [4.5], rtol=1e-5)
  np.testing.assert_allclose(out["disp"], [1 / 4.5], rtol=1e-5)
  np.testing.assert_allclose(out["acc"], [1.0], rtol=1e-6)


def test_last_interval_is_infinite_and_empty_ray_has_sentinel_disp():
  t = jnp.linspace(2.0, 6.0, 8)[None]
  dirs = jnp.array([[0.0, 0.0, 1.0]])
  rgb = jnp.ones((1, 8, 3))
  dense_end = jnp.zeros((1, 8)).at[0, -1].set(1e-3)
  out = rendering.volumetric_rendering(rgb, dense_end, t, dirs, False)
  np.testing.assert_allclose(out["acc"], [1.0], rtol=1e-6)
  empty = rendering.volumetric_rendering(rgb, jnp.zeros((1, 8)), t, dirs,
                                         False)
  assert float(empty["acc"][0]) == 0.0
  assert float(empty["disp"][0]) == 1e10


def test_weights_gradient_is_finite():
  t, density, rgb, dirs = _constant_field(0.3, [0.2, 0.5, 0.9])
  g = jax.grad(lambda d: jnp.sum(rendering.volumetric_rendering(
      rgb, d, t, dirs, True)["rgb"]))(density)
  assert np.all(np.isfinite(g))


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
