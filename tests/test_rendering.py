import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.render import compositing


def _constant_field(sigma, colour, n=64, near=2.0, far=6.0):
  t = jnp.linspace(near, far, n)[None]
  density = jnp.full((1, n), sigma).at[:, -1].set(0.0)  # nothing past far
  rgb = jnp.broadcast_to(jnp.asarray(colour), (1, n, 3))
  dirs = jnp.array([[0.0, 0.0, -1.0]])
  return t, density, rgb, dirs


def test_constant_density_gives_beer_lambert_opacity_and_colour():
  sigma, colour = 0.3, [0.2, 0.5, 0.9]
  t, density, rgb, dirs = _constant_field(sigma, colour)
  out = compositing.volumetric_rendering(rgb, density, t, dirs,
                                        white_bkgd=False)
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
  out = compositing.volumetric_rendering(rgb, density, t, dirs, white_bkgd=True)
  np.testing.assert_allclose(out["rgb"], [[np.exp(-1.2)] * 3], rtol=1e-5)


def test_direction_norm_scales_distances():
  t, density, rgb, dirs = _constant_field(0.3, [1.0, 1.0, 1.0])
  out = compositing.volumetric_rendering(rgb, density, t, 2 * dirs, False)
  np.testing.assert_allclose(out["acc"], [1 - np.exp(-0.3 * 8.0)], rtol=1e-5)


def test_opaque_wall_gives_its_depth_and_disparity():
  t = jnp.linspace(2.0, 6.0, 41)[None]
  density = jnp.zeros((1, 41)).at[0, 25].set(1e4)  # wall at t = 4.5
  rgb = jnp.ones((1, 41, 3))
  out = compositing.volumetric_rendering(rgb, density, t,
                                         jnp.array([[0.0, 0.0, 1.0]]), False)
  np.testing.assert_allclose(out["depth"], [4.5], rtol=1e-5)
  np.testing.assert_allclose(out["disp"], [1 / 4.5], rtol=1e-5)
  np.testing.assert_allclose(out["acc"], [1.0], rtol=1e-6)


def test_last_interval_is_infinite_and_empty_ray_has_sentinel_disp():
  t = jnp.linspace(2.0, 6.0, 8)[None]
  dirs = jnp.array([[0.0, 0.0, 1.0]])
  rgb = jnp.ones((1, 8, 3))
  dense_end = jnp.zeros((1, 8)).at[0, -1].set(1e-3)
  out = compositing.volumetric_rendering(rgb, dense_end, t, dirs, False)
  np.testing.assert_allclose(out["acc"], [1.0], rtol=1e-6)
  empty = compositing.volumetric_rendering(rgb, jnp.zeros((1, 8)), t, dirs,
                                           False)
  assert float(empty["acc"][0]) == 0.0
  assert float(empty["disp"][0]) == 1e10


def test_weights_gradient_is_finite():
  t, density, rgb, dirs = _constant_field(0.3, [0.2, 0.5, 0.9])
  g = jax.grad(lambda d: jnp.sum(compositing.volumetric_rendering(
      rgb, d, t, dirs, True)["rgb"]))(density)
  assert np.all(np.isfinite(g))


def test_interval_weights_hand_computed():
  edges = jnp.array([[1.0, 2.0, 4.0, 5.0]])
  density = jnp.array([[0.5, 1.0, 0.0]])
  d = jnp.array([[0.0, 0.0, -2.0]])  # |d| = 2 doubles every interval
  w = compositing.interval_weights(density, edges, d)
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
  out = compositing.volumetric_rendering_intervals(rgb, density, edges, d,
                                                   white_bkgd=True)
  acc = 1 - np.exp(-0.3 * 4.0)
  np.testing.assert_allclose(out["acc"], [acc], rtol=1e-5)
  np.testing.assert_allclose(out["rgb"], [[0.25 * acc + 1 - acc] * 3],
                             rtol=1e-5)
  assert out["weights"].shape == (1, 16)


# Packed compositing ---------------------------------------------------------


def _dense_case(n=5, s=7, seed=0):
  rng = np.random.default_rng(seed)
  density = rng.exponential(2.0, (n, s)).astype(np.float32)
  t = np.sort(rng.uniform(2, 6, (n, s)), axis=-1).astype(np.float32)
  directions = rng.normal(size=(n, 3)).astype(np.float32)
  rgb = rng.uniform(size=(n, s, 3)).astype(np.float32)
  return density, t, directions, rgb


def _pack(keep, density, t, directions, rgb):
  """Packs the kept samples of a dense layout, with dense-convention deltas."""
  n, s = keep.shape
  norm = np.linalg.norm(directions, axis=-1)
  ray_ids, ts, deltas, dens, cols = [], [], [], [], []
  for r in range(n):
    idx = np.nonzero(keep[r])[0]
    if len(idx) == 0:
      continue
    tr = t[r, idx]
    d = np.append(np.diff(tr), compositing.FAR_DELTA) * norm[r]
    ray_ids += [r] * len(idx)
    ts += list(tr)
    deltas += list(d)
    dens += list(density[r, idx])
    cols += list(rgb[r, idx])
  pad = 4  # padding carries ray id n and must be ignored
  f = lambda x, v: np.asarray(list(x) + [v] * pad, np.float32)
  return (np.asarray(ray_ids + [n] * pad, np.int32), f(ts, 0), f(deltas, 1),
          f(dens, 5.0), np.concatenate([np.asarray(cols, np.float32).reshape(
              -1, 3), np.ones((pad, 3), np.float32)]))


def test_packed_compositing_equals_dense():
  density, t, directions, rgb = _dense_case(n=6, s=9)
  # A variable number of samples per ray, including an empty ray.
  keep = np.random.default_rng(3).uniform(size=t.shape) < 0.6
  keep[2] = False
  keep[4] = True
  ray_ids, tp, delta, dp, rgbp = _pack(keep, density, t, directions, rgb)
  wp = compositing.packed_compositing_weights(dp, delta, ray_ids)
  out = compositing.packed_composite(wp, rgbp, tp, ray_ids, 6, white_bkgd=True)
  for r in range(6):
    idx = np.nonzero(keep[r])[0]
    if len(idx) == 0:
      np.testing.assert_allclose(out["rgb"][r], 1.0)
      np.testing.assert_allclose(out["acc"][r], 0.0)
      continue
    dense = compositing.volumetric_rendering(
        rgb[r:r + 1, idx], density[r:r + 1, idx], t[r:r + 1, idx],
        directions[r:r + 1], white_bkgd=True)
    for k in ("rgb", "depth", "disp", "acc"):
      np.testing.assert_allclose(out[k][r], dense[k][0], rtol=1e-5,
                                 atol=1e-6, err_msg=k)


def test_packed_compositing_full_rays_and_gradients_match_dense():
  density, t, directions, rgb = _dense_case(n=4, s=6, seed=1)
  keep = np.ones(t.shape, bool)
  ray_ids, tp, delta, _, rgbp = _pack(keep, density, t, directions, rgb)
  num = keep.sum()

  def dense_loss(d):
    return jnp.sum(compositing.volumetric_rendering(
        rgb, d, t, directions, False)["rgb"])

  def packed_loss(d):
    dp = jnp.concatenate([d.reshape(-1), jnp.zeros(len(ray_ids) - num)])
    w = compositing.packed_compositing_weights(dp, delta, ray_ids)
    return jnp.sum(compositing.packed_composite(w, rgbp, tp, ray_ids, 4,
                                                False)["rgb"])

  np.testing.assert_allclose(packed_loss(density), dense_loss(density),
                             rtol=1e-5)
  np.testing.assert_allclose(jax.grad(packed_loss)(density),
                             jax.grad(dense_loss)(density), rtol=1e-4,
                             atol=1e-6)


def test_segment_cumsum_restarts_per_ray():
  x = jnp.asarray([1., 2., 3., 4., 5., 6.])
  ids = jnp.asarray([0, 0, 1, 3, 3, 3])
  np.testing.assert_allclose(compositing.segment_cumsum(x, ids),
                             [1, 3, 3, 4, 9, 15])
