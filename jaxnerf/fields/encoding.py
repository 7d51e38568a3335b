"""Input encodings of points and directions."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnerf.core import trig


def positional_encoding(x: jax.Array, min_deg: int, max_deg: int,
                        include_input: bool = True,
                        legacy_order: bool = False,
                        band_weights: jax.Array | None = None) -> jax.Array:
  """NeRF's positional encoding gamma(x), frequencies 2^min_deg..2^(max_deg-1).

  gamma(x) = [x, sin(2^k x), cos(2^k x) for k in [min_deg, max_deg)], applied
  to each coordinate (no factor pi, as in the NeRF and JaxNeRF code).

  Args:
    x: [..., D].
    include_input: prepend x itself.
    legacy_order: JaxNeRF's legacy layout [sin, cos] interleaved per
      frequency; otherwise all sines (frequency-major) then all cosines.
    band_weights: optional [max_deg - min_deg] factors of each frequency's
      sin and cos (BARF's coarse-to-fine, `coarse_to_fine_weights`); the
      input itself is never weighted.
  Returns:
    [..., D * (include_input + 2 * (max_deg - min_deg))].
  """
  if min_deg == max_deg:
    return x if include_input else x[..., :0]
  scales = 2.0**jnp.arange(min_deg, max_deg, dtype=x.dtype)
  if legacy_order:
    xb = x[..., None, :] * scales[:, None]  # [..., L, D]
    feats = jnp.stack([trig.sin(xb), trig.cos(xb)], axis=-2)  # [..., L, 2, D]
    if band_weights is not None:
      feats = feats * band_weights[:, None, None]
    feats = feats.reshape(x.shape[:-1] + (-1,))
  else:
    xb = (x[..., None, :] * scales[:, None]).reshape(x.shape[:-1] + (-1,))
    # cos(t) = sin(t + pi/2): one sin over twice the inputs.
    feats = trig.sin(jnp.concatenate([xb, xb + 0.5 * jnp.pi], axis=-1))
    if band_weights is not None:
      # Layout [sin or cos, band, coordinate].
      per_feature = jnp.broadcast_to(
          band_weights[None, :, None], (2,) + band_weights.shape +
          (x.shape[-1],)).reshape(-1)
      feats = feats * per_feature
  return jnp.concatenate([x, feats], axis=-1) if include_input else feats


def coarse_to_fine_weights(fraction: jax.Array, num_bands: int,
                           start: float, end: float) -> jax.Array:
  """BARF's coarse-to-fine weights of `num_bands` encoding bands.

  w_k = (1 - cos(pi * clip(alpha - k, 0, 1))) / 2 with
  alpha = num_bands * (fraction - start) / (end - start): every band is off
  until `start`, band k fades in while alpha goes from k to k + 1, and all
  are on from `end`. Used for the frequencies of a positional encoding and
  for the levels of a hash grid.

  Args:
    fraction: [] training progress in [0, 1].
  Returns:
    [num_bands] weights in [0, 1].
  """
  alpha = num_bands * (fraction - start) / (end - start)
  k = jnp.arange(num_bands, dtype=jnp.float32)
  return 0.5 * (1.0 - jnp.cos(jnp.pi * jnp.clip(alpha - k, 0.0, 1.0)))


def positional_encoding_size(dim: int, min_deg: int, max_deg: int,
                             include_input: bool = True) -> int:
  return dim * (int(include_input) + 2 * (max_deg - min_deg))


def _safe_trig(x: jax.Array, fn, period: float = 100 * jnp.pi) -> jax.Array:
  """fn(x) with large |x| wrapped by a multiple of 2 pi first.

  Frequencies up to 2^15 times a coordinate overflow float32's precision for
  sin/cos; reducing modulo 100 pi (a multiple of 2 pi) keeps the argument
  where sin/cos are accurate (mip-NeRF's safe_sin).
  """
  return fn(jnp.where(jnp.abs(x) < period, x, x % period))


def expected_sin(x: jax.Array, x_var: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean and variance of sin(z) for z ~ N(x, x_var), elementwise.

  E[sin z] = exp(-x_var / 2) sin(x);
  Var[sin z] = (1 - exp(-2 x_var) cos(2 x)) / 2 - E[sin z]^2.

  Args:
    x: [...] means; x_var: [...] variances (>= 0).
  Returns:
    (mean [...], variance [...]).
  """
  y = jnp.exp(-0.5 * x_var) * _safe_trig(x, trig.sin)
  y_var = jnp.maximum(
      0.0,
      0.5 * (1.0 - jnp.exp(-2.0 * x_var) * _safe_trig(2.0 * x, trig.cos))
      - y**2)
  return y, y_var


def integrated_positional_encoding(mean: jax.Array, cov_diag: jax.Array,
                                   min_deg: int, max_deg: int) -> jax.Array:
  """mip-NeRF's integrated positional encoding with diagonal covariance.

  The expected value of `positional_encoding(x, min_deg, max_deg,
  include_input=False)` for x ~ N(mean, diag(cov_diag)): each feature
  sin(2^k x_d + phase) is attenuated by exp(-4^k var_d / 2), so frequencies
  finer than the Gaussian's extent fade out. With zero variance it equals
  the positional encoding (same feature order: all sines, then cosines).

  Args:
    mean: [..., D]; cov_diag: [..., D] per-coordinate variances.
  Returns:
    [..., 2 * D * (max_deg - min_deg)].
  """
  if min_deg == max_deg:
    return mean[..., :0]
  scales = 2.0**jnp.arange(min_deg, max_deg, dtype=mean.dtype)
  shape = mean.shape[:-1] + (-1,)
  y = (mean[..., None, :] * scales[:, None]).reshape(shape)
  y_var = (cov_diag[..., None, :] * scales[:, None]**2).reshape(shape)
  return expected_sin(jnp.concatenate([y, y + 0.5 * jnp.pi], axis=-1),
                      jnp.concatenate([y_var, y_var], axis=-1))[0]


# Spherical harmonics ----------------------------------------------------------

# Real SH constants (as in Plenoxels / svox2 `eval_sh`), bands l = 0..3.
_SH_C0 = 0.28209479177387814
_SH_C1 = 0.4886025119029199
_SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
          -1.0925484305920792, 0.5462742152960396)
_SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
          0.3731763325901154, -0.4570457994644658, 1.445305721320277,
          -0.5900435899266435)
MAX_SH_DEGREE = 3


def sh_basis_size(degree: int) -> int:
  """Number of real SH basis functions of bands 0..degree."""
  return (degree + 1)**2


def spherical_harmonics(dirs: jax.Array, degree: int) -> jax.Array:
  """Real spherical-harmonic basis of unit directions, bands 0..degree.

  Orthonormal on the unit sphere (integral of Y_i Y_j = delta_ij). The sign
  convention is svox2's, so coefficients are interchangeable with it.

  Args:
    dirs: [..., 3] unit vectors.
    degree: 0..3.
  Returns:
    [..., (degree + 1)^2].
  """
  if not 0 <= degree <= MAX_SH_DEGREE:
    raise ValueError(f"SH degree must be in [0, {MAX_SH_DEGREE}], got {degree}")
  x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
  out = [jnp.full_like(x, _SH_C0)]
  if degree >= 1:
    out += [-_SH_C1 * y, _SH_C1 * z, -_SH_C1 * x]
  if degree >= 2:
    xx, yy, zz = x * x, y * y, z * z
    out += [_SH_C2[0] * x * y, _SH_C2[1] * y * z,
            _SH_C2[2] * (2 * zz - xx - yy), _SH_C2[3] * x * z,
            _SH_C2[4] * (xx - yy)]
  if degree >= 3:
    out += [_SH_C3[0] * y * (3 * xx - yy), _SH_C3[1] * x * y * z,
            _SH_C3[2] * y * (4 * zz - xx - yy),
            _SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _SH_C3[4] * x * (4 * zz - xx - yy), _SH_C3[5] * z * (xx - yy),
            _SH_C3[6] * x * (xx - 3 * yy)]
  return jnp.stack(out, axis=-1)
