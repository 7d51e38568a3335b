"""Tests for jaxnerf.rendering: dense and packed compositing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf import rendering


def _dense_case(n=5, s=7, seed=0):
  rng = np.random.default_rng(seed)
  density = rng.exponential(2.0, (n, s)).astype(np.float32)
  t = np.sort(rng.uniform(2, 6, (n, s)), axis=-1).astype(np.float32)
  directions = rng.normal(size=(n, 3)).astype(np.float32)
  rgb = rng.uniform(size=(n, s, 3)).astype(np.float32)
  return density, t, directions, rgb


def test_weights_sum_to_at_most_one():
  density, t, directions, _ = _dense_case()
  w = rendering.compositing_weights(density, t, directions)
  assert np.all(np.asarray(w) >= 0)
  assert np.all(np.sum(w, -1) <= 1 + 1e-5)


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
    d = np.append(np.diff(tr), rendering.FAR_DELTA) * norm[r]
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
  wp = rendering.packed_compositing_weights(dp, delta, ray_ids)
  out = rendering.packed_composite(wp, rgbp, tp, ray_ids, 6, white_bkgd=True)
  for r in range(6):
    idx = np.nonzero(keep[r])[0]
    if len(idx) == 0:
      np.testing.assert_allclose(out["rgb"][r], 1.0)
      np.testing.assert_allclose(out["acc"][r], 0.0)
      continue
    dense = rendering.volumetric_rendering(
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
    return jnp.sum(rendering.volumetric_rendering(
        rgb, d, t, directions, False)["rgb"])

  def packed_loss(d):
    dp = jnp.concatenate([d.reshape(-1), jnp.zeros(len(ray_ids) - num)])
    w = rendering.packed_compositing_weights(dp, delta, ray_ids)
    return jnp.sum(rendering.packed_composite(w, rgbp, tp, ray_ids, 4,
                                              False)["rgb"])

  np.testing.assert_allclose(packed_loss(density), dense_loss(density),
                             rtol=1e-5)
  np.testing.assert_allclose(jax.grad(packed_loss)(density),
                             jax.grad(dense_loss)(density), rtol=1e-4,
                             atol=1e-6)


def test_segment_cumsum_restarts_per_ray():
  x = jnp.asarray([1., 2., 3., 4., 5., 6.])
  ids = jnp.asarray([0, 0, 1, 3, 3, 3])
  np.testing.assert_allclose(rendering.segment_cumsum(x, ids),
                             [1, 3, 3, 4, 9, 15])
