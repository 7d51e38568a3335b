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
