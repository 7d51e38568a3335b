"""Input encodings of points and directions."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def positional_encoding(x: jax.Array, min_deg: int, max_deg: int,
                        include_input: bool = True,
                        legacy_order: bool = False) -> jax.Array:
  """NeRF's positional encoding gamma(x), frequencies 2^min_deg..2^(max_deg-1).

  gamma(x) = [x, sin(2^k x), cos(2^k x) for k in [min_deg, max_deg)], applied
  to each coordinate (no factor pi, as in the NeRF and JaxNeRF code).

  Args:
    x: [..., D].
    include_input: prepend x itself.
    legacy_order: JaxNeRF's legacy layout [sin, cos] interleaved per
      frequency; otherwise all sines (frequency-major) then all cosines.
  Returns:
    [..., D * (include_input + 2 * (max_deg - min_deg))].
  """
  if min_deg == max_deg:
    return x if include_input else x[..., :0]
  scales = 2.0**jnp.arange(min_deg, max_deg, dtype=x.dtype)
  if legacy_order:
    xb = x[..., None, :] * scales[:, None]  # [..., L, D]
    feats = jnp.stack([jnp.sin(xb), jnp.cos(xb)], axis=-2)  # [..., L, 2, D]
    feats = feats.reshape(x.shape[:-1] + (-1,))
  else:
    xb = (x[..., None, :] * scales[:, None]).reshape(x.shape[:-1] + (-1,))
    # cos(t) = sin(t + pi/2): one sin over twice the inputs.
    feats = jnp.sin(jnp.concatenate([xb, xb + 0.5 * jnp.pi], axis=-1))
  return jnp.concatenate([x, feats], axis=-1) if include_input else feats


def positional_encoding_size(dim: int, min_deg: int, max_deg: int,
                             include_input: bool = True) -> int:
  return dim * (int(include_input) + 2 * (max_deg - min_deg))


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
