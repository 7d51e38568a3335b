"""AutoInt (Lindell, Martel and Wetzstein, CVPR 2021, "AutoInt: Automatic
Integration for Fast Neural Volume Rendering"): volume rendering from a
network of the antiderivative.

A ray is cut into K segments [t_k, t_{k+1}] (the "posts"; a small network
may place them per ray). Inside a segment the density and the colour's
pre-activation are replaced by their means (the paper's piecewise model):

  sigma_k = relu(I_sigma,k / (t_{k+1} - t_k)),
  c_k = sigmoid(I_c,k / (t_{k+1} - t_k)),
  alpha_k = 1 - exp(-sigma_k (t_{k+1} - t_k)),
  C = sum_k T_k alpha_k c_k,  T_k = prod_{j<k} (1 - alpha_j),

where I_k is the integral over the segment. An *integral network*
Phi(t; ray) gives I_k = Phi(t_{k+1}) - Phi(t_k): K + 1 evaluations a ray.
Its derivative in t, the *grad network* dPhi/dt (same parameters, by
forward-mode autodiff), is what training fits: I_k is estimated as the
segment's length times the mean of dPhi/dt at stratified samples inside it
(the paper trains the grad network this way, since only integrals along
rays are observed). t is in units of the ray's direction vector, and the
optical thickness of a segment is the integral itself (no |d| factor).

Pure functions; the networks are the AutoInt backbone's
(jaxnerf/methods/backbones/autoint.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnerf.render import compositing


def posts_from_logits(logits: jax.Array, near: jax.Array, far: jax.Array
                      ) -> jax.Array:
  """The segment boundaries of the paper's sampling network.

  Each segment's share is |1/K + logit| (the paper's `abs(net + default)`),
  normalised so the shares sum to one: zero logits give K equal segments.

  Args:
    logits: [N, K]; near, far: [N, 1].
  Returns:
    posts [N, K + 1], posts[:, 0] = near, posts[:, -1] = far, non-decreasing.
  """
  k = logits.shape[-1]
  shares = jnp.abs(logits + 1.0 / k) + 1e-6
  shares = shares / jnp.sum(shares, axis=-1, keepdims=True)
  edges = jnp.concatenate(
      [jnp.zeros_like(shares[:, :1]), jnp.cumsum(shares[:, :-1], axis=-1),
       jnp.ones_like(shares[:, :1])], axis=-1)
  return near + (far - near) * edges


def stratified_in_segments(key, posts: jax.Array, per_segment: int,
                           randomized: bool) -> jax.Array:
  """`per_segment` samples in each segment, one in each of its equal
  strata (jittered in training, at the strata's centres otherwise).

  Args:
    posts: [N, K + 1].
  Returns:
    t [N, K, per_segment], sorted along each ray.
  """
  low, high = posts[:, :-1, None], posts[:, 1:, None]
  shape = posts.shape[:1] + (posts.shape[1] - 1, per_segment)
  if randomized:
    u = jax.random.uniform(key, shape)
  else:
    u = jnp.full(shape, 0.5)
  s = (jnp.arange(per_segment, dtype=posts.dtype) + u) / per_segment
  return low + (high - low) * s


def integrals_from_samples(derivative: jax.Array, posts: jax.Array
                           ) -> jax.Array:
  """The grad network's estimate of each segment's integral: its length
  times the mean of the derivative at its samples.

  Args:
    derivative: [N, K, S, C] dPhi/dt at the samples; posts: [N, K + 1].
  Returns:
    [N, K, C].
  """
  length = (posts[:, 1:] - posts[:, :-1])[..., None]
  return jnp.mean(derivative, axis=2) * length


def integrals_from_antiderivative(phi: jax.Array) -> jax.Array:
  """The integral network's segments: Phi(t_{k+1}) - Phi(t_k).

  Args:
    phi: [N, K + 1, C] at the posts.
  Returns:
    [N, K, C].
  """
  return phi[:, 1:] - phi[:, :-1]


def piecewise_render(sigma_integral: jax.Array, rgb_integral: jax.Array,
                     posts: jax.Array, white_bkgd: bool
                     ) -> dict[str, jax.Array]:
  """Composites the segments of the piecewise model (module docstring).

  Args:
    sigma_integral: [N, K] integral of the density's pre-activation;
    rgb_integral: [N, K, 3] integral of the colour's pre-activation;
    posts: [N, K + 1].
  Returns:
    compositing.composite's outputs (depth at the segments' midpoints).
  """
  length = posts[:, 1:] - posts[:, :-1]
  safe = jnp.maximum(length, 1e-10)
  # relu(I / L) L = relu(I): the thickness is the integral, clipped.
  weights = compositing.weights_from_deltas(
      jax.nn.relu(sigma_integral / safe), length)
  rgb = jax.nn.sigmoid(rgb_integral / safe[..., None])
  mids = 0.5 * (posts[:, 1:] + posts[:, :-1])
  return compositing.composite(weights, rgb, mids, white_bkgd)
