"""NeuS's SDF network (Wang et al. 2021, after IDR, Yariv et al. 2020): an
MLP on the positional encoding of x with softplus activations, weight
normalisation and the geometric initialisation that makes it start as the
SDF of a sphere, f(x) ~ |x| - r.

The initialisation (Atzmon and Lipman's SAL, as NeuS's models/fields.py
writes it): every hidden layer's weights ~ N(0, 2 / width) (He), biases 0;
the first layer, and the skip layer's copy of the input, read the raw
coordinates only (the encoding's sines and cosines get zero weights, so
the fresh network is a function of x alone); the skip concatenation is
divided by sqrt(2) (the norm of [h, x] with |h| ~ |x| stays |x|); the last
layer's weights ~ N(sqrt(pi / d), 1e-4^2) and its bias -r. With one
hidden layer of d ReLUs, E[relu(w.x)] = |x| sqrt(2 / d) / sqrt(2 pi), so
E f = d sqrt(pi / d) |x| sqrt(2 / d) / sqrt(2 pi) - r = |x| - r, with a
standard deviation of |x| sqrt((pi - 1) / d) over initialisations; He
layers between keep |h| ~ |x| (tests/test_sdf_mlp.py derives the
tolerances, and softplus's offset from the ReLU).

Weight normalisation (Salimans and Kingma 2016; NeuS wraps every layer):
W = g v / |v| per output unit, g started at |v| so the function at init is
the initialisation's.
"""

from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


class WeightNormDense(nn.Module):
  """A dense layer y = x (g v / |v|) + b with the norm over each output's
  column of v; g starts at |v| (the function at init is kernel_init's).

  Attributes:
    features: output width.
    kernel_init, bias_init: initialisers of v [D, features] and b.
  """

  features: int
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x [M, D] -> [M, features]."""
    v = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    norm = lambda k: jnp.sqrt(jnp.maximum(jnp.sum(k * k, axis=0), 1e-12))
    g = self.param("scale", lambda key: norm(v))
    b = self.param("bias", self.bias_init, (self.features,))
    return x @ (v * (g / norm(v))) + b


def _normal(mean: float, std: float, rows: slice | None = None):
  """An initialiser N(mean, std^2), zero outside `rows` of the kernel."""
  def init(key, shape, dtype=jnp.float32):
    w = mean + std * jax.random.normal(key, shape, dtype)
    if rows is None:
      return w
    keep = jnp.zeros((shape[0], 1), dtype).at[rows].set(1.0)
    return w * keep
  return init


class GeometricMLP(nn.Module):
  """NeuS's SDF MLP: encoded points -> (f, features), f ~ |x| - radius at
  init.

  Attributes:
    layers: hidden layers (the paper: 8).
    width: their width (256).
    skip: the input joins again before this hidden layer (4; 0: never).
    out_features: the feature vector's width (the colour MLP reads it).
    radius: the init sphere's radius, in the units of the raw input.
    softplus_beta: softplus(beta z) / beta between layers (100).
    num_raw: the encoding's leading raw coordinates (3: include_input).
  """

  layers: int
  width: int
  skip: int
  out_features: int
  radius: float
  softplus_beta: float = 100.0
  num_raw: int = 3

  @nn.compact
  def __call__(self, encoded: jax.Array) -> tuple[jax.Array, jax.Array]:
    """encoded [M, D] (the raw x first) -> f [M], features [M,
    out_features]."""
    raw = slice(0, self.num_raw)
    he = math.sqrt(2.0) / math.sqrt(self.width)
    beta = self.softplus_beta
    h = encoded
    for i in range(self.layers):
      if i == 0:
        init = _normal(0.0, he, raw)
      elif self.skip and i == self.skip:
        h = jnp.concatenate([h, encoded], -1) / math.sqrt(2.0)
        # The concatenation's encoded part (after the raw x) is off.
        init = _normal(0.0, he, slice(0, h.shape[-1] - encoded.shape[-1]
                                      + self.num_raw))
      else:
        init = _normal(0.0, he)
      h = WeightNormDense(self.width, kernel_init=init, name=f"geo_{i}")(h)
      h = jax.nn.softplus(beta * h) / beta
    d = h.shape[-1]
    out = WeightNormDense(
        1 + self.out_features, name="geo_out",
        kernel_init=_normal(math.sqrt(math.pi) / math.sqrt(d), 1e-4),
        bias_init=nn.initializers.constant(-self.radius))(h)
    return out[:, 0], out[:, 1:]
