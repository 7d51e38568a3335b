"""Tests for jaxnerf.core.metrics."""

from __future__ import annotations

import socket

import jax
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from jaxnerf.core import metrics


def _structured(h: int = 64, w: int = 64) -> np.ndarray:
  """A smooth image with an edge: [h, w, 3] float32 in [0, 1]."""
  y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
  img = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y)], axis=-1)
  img[h // 4:h // 2, w // 3:2 * w // 3] = [0.9, 0.1, 0.2]
  return img.astype(np.float32)


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return np.clip(img + sigma * rng.normal(size=img.shape), 0, 1).astype(
      np.float32)


def _skimage_ssim(a, b) -> float:
  return structural_similarity(
      np.asarray(a, np.float64), np.asarray(b, np.float64),
      gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
      data_range=1.0, channel_axis=-1)


# PSNR ------------------------------------------------------------------------


def test_mse_to_psnr_values():
  np.testing.assert_allclose(metrics.mse_to_psnr(1.0), 0.0, atol=1e-6)
  np.testing.assert_allclose(metrics.mse_to_psnr(0.01), 20.0, rtol=1e-6)
  np.testing.assert_allclose(metrics.mse_to_psnr(1e-3), 30.0, rtol=1e-6)
  np.testing.assert_allclose(
      metrics.psnr_to_mse(metrics.mse_to_psnr(0.0123)), 0.0123, rtol=1e-5)


def test_psnr_matches_numpy_and_jits():
  a = np.random.default_rng(0).uniform(size=(8, 9, 3)).astype(np.float32)
  b = _noisy(a, 0.1, seed=1)
  expected = -10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2))
  np.testing.assert_allclose(metrics.psnr(a, b), expected, rtol=1e-5)
  np.testing.assert_allclose(jax.jit(metrics.psnr)(a, b), expected, rtol=1e-5)
  assert np.isinf(metrics.psnr(a, a))
  # max_val rescales: 255-range images give the same PSNR.
  np.testing.assert_allclose(
      metrics.psnr(255 * a, 255 * b, max_val=255.0), expected, rtol=1e-4)


# SSIM ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_skimage_random(seed):
  rng = np.random.default_rng(seed)
  a = rng.uniform(size=(40, 50, 3)).astype(np.float32)
  b = np.clip(a + 0.2 * rng.normal(size=a.shape), 0, 1).astype(np.float32)
  np.testing.assert_allclose(metrics.ssim(a, b), _skimage_ssim(a, b), atol=1e-5)
  c = rng.uniform(size=a.shape).astype(np.float32)  # unrelated: SSIM ~ 0
  np.testing.assert_allclose(metrics.ssim(a, c), _skimage_ssim(a, c), atol=1e-5)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.3])
def test_ssim_matches_skimage_structured(sigma):
  a = _structured()
  b = _noisy(a, sigma)
  np.testing.assert_allclose(
      jax.jit(metrics.ssim)(a, b), _skimage_ssim(a, b), atol=1e-5)
  # A blurred / shifted variant, grey-level changes too.
  c = np.roll(a, 2, axis=1) * 0.8 + 0.1
  np.testing.assert_allclose(metrics.ssim(a, c), _skimage_ssim(a, c), atol=1e-5)
  # Bright, low-contrast: where E[x^2] - E[x]^2 loses float32 precision.
  d, e = 0.9 + 0.1 * a, 0.88 + 0.1 * b
  np.testing.assert_allclose(metrics.ssim(d, e), _skimage_ssim(d, e), atol=1e-5)


def test_ssim_identity_symmetry_and_shift():
  a = _structured()
  b = _noisy(a, 0.1)
  np.testing.assert_allclose(metrics.ssim(a, a), 1.0, atol=1e-5)
  np.testing.assert_allclose(jax.jit(metrics.ssim)(a, a), 1.0, atol=1e-5)
  np.testing.assert_allclose(metrics.ssim(a, b), metrics.ssim(b, a), atol=1e-6)
  shifted = np.clip(a + 0.2, 0, 1)  # constant brightness shift
  assert metrics.ssim(a, shifted) < 0.99
  const = np.full_like(a, 0.5)
  assert metrics.ssim(a, const) < 0.5


def test_ssim_batched_grey_and_map():
  a = _structured(32, 40)
  b = _noisy(a, 0.1)
  batched = metrics.ssim(np.stack([a, b]), np.stack([b, b]))
  assert batched.shape == (2,)
  np.testing.assert_allclose(batched[0], metrics.ssim(a, b), atol=1e-6)
  np.testing.assert_allclose(batched[1], 1.0, atol=1e-5)
  grey = metrics.ssim(a[..., 0], b[..., 0])
  np.testing.assert_allclose(grey, metrics.ssim(a[..., :1], b[..., :1]))
  assert metrics.ssim(a, b, return_map=True).shape == (22, 30, 3)
  with pytest.raises(ValueError):
    metrics.ssim(a[:10], b[:10])


# LPIPS -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lpips_fn():
  """One evaluator for the module, built and run with the network disabled."""

  def no_network(*args, **kwargs):
    raise AssertionError("LPIPS tried to open a socket")

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(socket, "socket", no_network)
    mp.setattr(socket, "create_connection", no_network)
    fn = metrics.Lpips()
    fn(_structured(48, 48), _structured(48, 48))  # weights used, jit compiled
  return fn


def test_lpips_identical_is_zero(lpips_fn):
  a = _structured(48, 48)
  d = lpips_fn(a, a)
  assert d.shape == ()
  assert abs(float(d)) < 1e-6


def test_lpips_increases_with_noise(lpips_fn):
  a = _structured(48, 48)
  dists = [float(lpips_fn(a, _noisy(a, s))) for s in (0.02, 0.05, 0.1, 0.2)]
  assert all(np.isfinite(dists))
  assert np.all(np.diff(dists) > 0), dists
  assert dists[0] > 0


def test_lpips_symmetric_and_batched(lpips_fn):
  a = _structured(48, 48)
  b = _noisy(a, 0.1)
  np.testing.assert_allclose(lpips_fn(a, b), lpips_fn(b, a), rtol=1e-4)
  batched = lpips_fn(np.stack([a, b]), np.stack([b, b]))
  assert batched.shape == (2,)
  np.testing.assert_allclose(batched[0], lpips_fn(a, b), rtol=1e-4)
  assert abs(float(batched[1])) < 1e-6


def test_lpips_minimum_size(lpips_fn):
  rng = np.random.default_rng(0)
  a = rng.uniform(size=(31, 40, 3)).astype(np.float32)
  assert np.isfinite(float(lpips_fn(a, _noisy(a, 0.1))))
  with pytest.raises(ValueError, match="at least 31"):
    lpips_fn(a[:30], a[:30])
  with pytest.raises(ValueError):
    lpips_fn(a[..., :1], a[..., :1])  # needs RGB
