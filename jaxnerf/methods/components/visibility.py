"""NeRV's visibility (Srinivasan et al. 2021) for the reflectance
component (jaxnerf/methods/components/reflectance.py): environment light
reaches a surface only from the directions the scene leaves open.

Lighting a point by an environment with occlusion is an integral over
the sphere of the light times the transmittance towards each direction;
marching every such ray through the density is what NeRV avoids by
learning a visibility MLP V(x, w) in [0, 1], supervised by the
transmittance marched through the density, so that lighting a point from
many directions costs MLP reads.

Here, per camera ray, at its expected surface point (as the point lights'
shadow rays), V is read in `visibility_directions` fixed directions (a
Fibonacci sphere), and the ray's environment becomes the environment it
can see: the SH of degree 2 of V times its radiance (precomputed radiance
transfer's projection, Sloan et al. 2002), computed as the environment
minus the projection of what V blocks, so an open sky is exactly the
unoccluded one and the quadrature's error sits on the blocked part only.
The samples are then shaded as without visibility
(reflectance.environment: the diffuse lobe under that SH's irradiance,
the mirror term under its radiance), at the cost of SH per ray, not per
sample and direction. V's MLP learns only from its supervision (the
first `visibility_rays` rays of a batch, every direction,
`visibility_steps` steps; the density is not moved by it, and the render
does not train V). NeRV's one-bounce indirect light is not modelled.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core import lighting
from jaxnerf.fields import encoding
from jaxnerf.synthetic import lights


def visibility_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.visibility_directions = 0  # 0: environments light without occlusion
  c.visibility_layers = 2
  c.visibility_width = 64
  c.visibility_rays = 64
  c.visibility_steps = 32
  c.visibility_mult = 1.0
  return c


def sphere_directions(num: int) -> jax.Array:
  """[num, 3] unit directions of a Fibonacci sphere (equal areas
  4 pi / num)."""
  i = jnp.arange(num) + 0.5
  z = 1.0 - 2.0 * i / num
  phi = jnp.pi * (3.0 - math.sqrt(5.0)) * i
  r = jnp.sqrt(jnp.maximum(1.0 - z ** 2, 0.0))
  return jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi), z], -1)


def visible_sh(sh: jax.Array, visible: jax.Array, dirs: jax.Array
               ) -> jax.Array:
  """[N, 9, 3] SH of the environments [N, 9, 3] as seen through visibility
  [N, K] in directions dirs [K, 3] (equal areas): sh minus the quadrature
  of the blocked radiance's projection."""
  radiance = lighting.sh_radiance(sh[:, None], dirs[None])  # [N, K, 3]
  basis = lights.sh_basis(dirs, xp=jnp)  # [K, 9]
  blocked = jnp.einsum("nk,nkc,kj->njc", 1.0 - visible, radiance, basis)
  return sh - blocked * (4.0 * jnp.pi / dirs.shape[0])


class Visibility(nn.Module):
  """V(x, w): points [N, 3] and unit directions [K, 3] -> [N, K] in
  [0, 1]."""

  config: Any

  @nn.compact
  def __call__(self, points: jax.Array, dirs: jax.Array) -> jax.Array:
    c = self.config
    x = encoding.positional_encoding(points / c.scene_bound, 0, 6)
    w = encoding.positional_encoding(dirs, 0, 4)
    # The first layer of [x, w] is a sum of a point's part and a
    # direction's: computed once each, not for every pair.
    h = (nn.Dense(c.visibility_width, name="visibility_0")(x)[:, None] +
         nn.Dense(c.visibility_width, use_bias=False,
                  name="visibility_0_dirs")(w)[None])
    h = nn.relu(h)
    for i in range(1, c.visibility_layers):
      h = nn.relu(nn.Dense(c.visibility_width, name=f"visibility_{i}")(h))
    # Start open: the bias puts V near 1 until supervision says otherwise.
    out = nn.Dense(1, name="visibility_out",
                   bias_init=nn.initializers.constant(3.0))(h)
    return nn.sigmoid(out[..., 0])
