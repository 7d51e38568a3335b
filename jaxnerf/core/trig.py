"""Sine and cosine as plain float32 arithmetic that XLA vectorises.

Why: XLA's CPU backend evaluates jnp.sin elementwise and slowly, and a NeRF
step computes millions of sines for the positional encoding; the polynomial
below vectorises (docs/BENCHMARKS.md, "Speed on CPU", has the timings). On
GPUs both are cheap.

Accuracy against float64 sin of the same float32 argument: |error| <= 2.2e-7
for |t| <= 2^18, fused or not, at any XLA optimisation level (jnp.sin: 3e-8;
a float32 ulp at 1 is 1.2e-7). Arguments past 2^18 lose digits (k * 6.28125
stops being exact); positional encodings stay below that (max_deg 16 at
|x| <= 4 is 2^17), and mip-NeRF's expected sine wraps its arguments first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# 2 pi = _TWO_PI_HI + _TWO_PI_MID + _TWO_PI_LO (Cody-Waite reduction in three
# parts), HI and MID with at most 8 significant bits, so k * HI and k * MID
# are exact in float32 for |k| < 2^16 and only k * LO (|LO| ~ 3e-6) rounds.
# With two parts the rounding of k * (2 pi - HI) reached 1e-6 at |t| = 2^18
# unless the compiler fused it into an FMA (LLVM does at -O3, not at -O0).
_TWO_PI_HI = np.float32(6.28125)
_TWO_PI_MID = np.float32(254 * 2.0**-17)
_TWO_PI_LO = np.float32(2 * np.pi - 6.28125 - 254 * 2.0**-17)
_PI = np.float32(np.pi)
_HALF_PI = np.float32(np.pi / 2)
# Taylor coefficients of sin up to r^11: truncation <= (pi/2)^13 / 13! = 6e-8.
_SIN_COEFFS = tuple(np.float32((-1)**n / np.prod(np.arange(1.0, 2 * n + 2)))
                    for n in range(6))


def sin(t: jax.Array) -> jax.Array:
  """sin(t) elementwise, [...] -> [...]; float32, differentiable."""
  k = jnp.round(t * np.float32(1 / (2 * np.pi)))
  r = ((t - k * _TWO_PI_HI) - k * _TWO_PI_MID) - k * _TWO_PI_LO  # [-pi, pi]
  # sin(r) = sin(pi - r) folds r into [-pi/2, pi/2].
  r = jnp.where(r > _HALF_PI, _PI - r, jnp.where(r < -_HALF_PI, -_PI - r, r))
  r2 = r * r
  poly = _SIN_COEFFS[-1]
  for c in _SIN_COEFFS[-2::-1]:
    poly = poly * r2 + c
  return r * poly


def cos(t: jax.Array) -> jax.Array:
  """cos(t) = sin(t + pi/2) elementwise, [...] -> [...]."""
  return sin(t + _HALF_PI)
