"""RtS (Cole, Genova, Sud, Vlasic, Zhang, ICCV 2021): differentiable
surface rendering from non-differentiable sampling.

Three steps, each a pure function here:

1. **Sample the surface without gradients** (`surface_search`): the first
   `layers` crossings of an SDF's zero level set along each pixel's ray,
   found by UNISURF's root finding (even points, then secant steps;
   jaxnerf/render/unisurf.py), held constant. Layer 0 is the visible
   surface, layer 1 the next one behind it (the paper rasterises depth
   layers of an extracted isosurface; here the field's own crossings).
2. **Re-attach the points to the parameters** (`reattach`): one
   first-order step x = x0 - f(x0) g / |g|^2 with x0 and g = grad f(x0)
   held constant. Its value is x0 (f(x0) = 0 on the surface), its
   derivative the implicit-function one, dx/dtheta = -g (df/dtheta) /
   |g|^2: the surface point moves along the normal by how much the level
   set moves there, whatever f's scale.
3. **Splat with depth awareness** (`splat`): each pixel's surface points
   (its layers) are splatted to its 3x3 neighbourhood with a Gaussian of
   variance (1/2 pixel)^2 centred on the point's projection, so moving a
   point moves its splat and the image has a derivative at occlusion
   boundaries and silhouettes. At each pixel a splat goes into one of three
   buffers, in front of / at / behind the surface the pixel itself sees
   (matched by depth between the two pixels' layers); each buffer is
   normalised where its weights exceed one, and the three are composited
   front to back. The weights of a whole neighbourhood add up to 1.05, so
   the normalisation happens inside a surface (no "spread the splats to
   darken" derivative) and not at its silhouette (where coverage < 1 is
   the antialiased edge). This follows the splatting of the authors'
   released code (google-research's Diffren, splat_at_pixel_centers).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from jaxnerf.render import unisurf

# The splat kernel's variance in pixels^2 (the paper's: sigma 0.5 px).
KERNEL_VARIANCE = 0.25
# A full 3x3 neighbourhood of splats adds up to 1 + this, so that the
# normalisation (of weights above 1) acts inside surfaces and not at their
# edges (the authors' code: 0.05).
EXTRA_COVERAGE = 0.05
# The depth of an empty layer: behind everything (Diffren: the far plane).
EMPTY_DEPTH = 1e10


def surface_search(sdf_at: Callable[[jax.Array], jax.Array],
                   t_min: jax.Array, t_max: jax.Array, samples: int,
                   layers: int, secant_steps: int
                   ) -> tuple[jax.Array, jax.Array]:
  """The first `layers` outside-to-inside crossings of f = 0 along each ray;
  no gradient.

  Args:
    sdf_at: t [N, M] -> f [N, M] (positive outside) at those positions
      along the N rays.
    t_min, t_max: [N] each ray's stretch of the scene (equal: none).
    samples: even points in it; secant_steps: refinements of each root.
  Returns:
    hit [N, layers] bool, t [N, layers] (t_max where no crossing).
  """
  # UNISURF's root finding on "occupancy" TAU - f: the same crossings as
  # f = 0 (outside: below TAU), and its secant steps on f itself, linear
  # near the surface (not a sigmoid of it).
  return unisurf.find_surfaces(lambda t: unisurf.TAU - sdf_at(t), t_min,
                               t_max, samples, layers, secant_steps)


def reattach(x0: jax.Array, f: jax.Array, grad: jax.Array) -> jax.Array:
  """The surface points made differentiable: x0 - f g / |g|^2.

  Args:
    x0: [..., 3] points found without gradient (on or near f = 0).
    f: [...] f(x0) as a function of the parameters (differentiable).
    grad: [..., 3] grad f at x0 (held constant).
  Returns:
    [..., 3]: x0 (plus one Newton step towards the surface, as f(x0) is
    not exactly 0), whose derivative is -g (df/dtheta) / |g|^2.
  """
  g = jax.lax.stop_gradient(grad)
  scale = f / jnp.maximum(jnp.sum(g * g, axis=-1), 1e-12)
  return jax.lax.stop_gradient(x0) - scale[..., None] * g


def kernel_coefficient() -> float:
  """The splat weight's scale: a whole 3x3 neighbourhood of splats at pixel
  centres adds up to 1 + EXTRA_COVERAGE."""
  total = sum(math.exp(-(u * u + v * v) / (2 * KERNEL_VARIANCE))
              for u in (-1, 0, 1) for v in (-1, 0, 1))
  return (1.0 + EXTRA_COVERAGE) / total


def splat(xy: jax.Array, depth: jax.Array, values: jax.Array,
          valid: jax.Array) -> jax.Array:
  """Depth-aware 3x3 splatting of one tile's layered surface points.

  The points are those of a (T + 2) x (T + 2) block of pixels: the tile
  and a one-pixel apron around it, so every pixel of the tile receives
  all nine splats of its neighbourhood.

  Args:
    xy: [L, T + 2, T + 2, 2] the points' projections in the block's pixel
      frame (block pixel (i, j), column i and row j, has its centre at
      (i + 0.5, j + 0.5); a point on pixel (i, j)'s ray projects there).
    depth: [L, T + 2, T + 2] their depths (camera z), layers front to
      back; empty layers at EMPTY_DEPTH.
    values: [L, T + 2, T + 2, C] what each point carries (colour, depth,
      ...), not premultiplied.
    valid: [L, T + 2, T + 2] 1 where the layer has a point, else 0.
  Returns:
    [T, T, C + 1]: the tile's composite, values premultiplied by coverage
    (the last channel, in [0, 1]; the background shows through 1 - it).
  """
  num_layers, size = depth.shape[0], depth.shape[1] - 2
  coef = kernel_coefficient()
  rgba = jnp.concatenate([values, jnp.ones_like(values[..., :1])], -1)
  centres = jnp.arange(size, dtype=xy.dtype) + 1.5  # the tile's pixels
  target = jnp.stack(jnp.meshgrid(centres, centres, indexing="xy"), -1)
  z_here = depth[:, 1:-1, 1:-1]  # [L, T, T] each tile pixel's own layers
  buffers = jnp.zeros((3, size, size, rgba.shape[-1]), rgba.dtype)
  layer_ids = jnp.arange(num_layers)[:, None, None]
  for dy in (-1, 0, 1):
    for dx in (-1, 0, 1):
      # The splats of the pixels at (x - dx, y - dy), landing on (x, y).
      src = lambda a: a[:, 1 - dy:1 - dy + size, 1 - dx:1 - dx + size]
      z_from = src(depth)
      weight = src(valid) * coef * jnp.exp(
          -jnp.sum((target - src(xy)) ** 2, -1) / (2 * KERNEL_VARIANCE))
      # Which layer of the source matches the surface this pixel sees
      # (>= 0: the source has that many layers in front of it), or which
      # layer here matches the source's first surface (then negative: the
      # source's surfaces all lie behind what this pixel sees).
      from_match = jnp.abs(z_from - z_here[0])
      here_match = jnp.abs(z_here - z_from[0])
      surface = jnp.where(jnp.min(here_match, 0) < jnp.min(from_match, 0),
                          -jnp.argmin(here_match, 0),
                          jnp.argmin(from_match, 0))
      place = jnp.stack([surface > layer_ids, surface == layer_ids,
                         surface < layer_ids]).astype(rgba.dtype)
      buffers = buffers + jnp.sum(
          place[..., None] * (weight[..., None] * src(rgba))[None], axis=1)
  coverage = buffers[..., -1:]
  buffers = buffers / (jnp.maximum(coverage - 1.0, 0.0) + 1.0)
  front, surf, back = buffers
  alpha = lambda b: b[..., -1:]
  return front + (1 - alpha(front)) * (surf + (1 - alpha(surf)) * back)
