"""UNISURF (Oechsle et al., ICCV 2021): volume and surface rendering of an
occupancy field, unified.

The field is an occupancy o(x) in [0, 1] (the official code: sigmoid(-10
f(x)) of a network output f, so o = 0.5 where f = 0: the surface is f's
zero level set, as an SDF's). Along a ray the samples' occupancies are
their alphas directly,

  w_i = o(x_i) prod_{j<i} (1 - o(x_j))

(the paper's eq. 5, neus.alpha_weights of the occupancies; no interval
length: an opaque surface is o = 1, not a density times a step), so where
the samples sit decides the rendering.
They are placed around the surface: the first crossing of o = 0.5 along
the ray is found by evaluating o at evenly spaced points and refining the
first outside-to-inside sign change by the secant method (no gradient:
the samples are where the field is asked, the colours and occupancies
there are what it learns from); samples are then drawn evenly in
[t_s - Delta, t_s + Delta], Delta shrinking over training (exponentially,
to a floor): early the rendering is volumetric, late it concentrates on
the surface. Rays with no crossing sample the whole box.

Pure functions of the render layer; the field is the SDF backbone's
(jaxnerf/methods/backbones/sdf.py, `surface_rendering="unisurf"`).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

# The official code's threshold of the surface (occupancy 0.5).
TAU = 0.5


def occupancy(f: jax.Array, sharpness: float) -> jax.Array:
  """o = sigmoid(-sharpness f) [...] (the official code's -10 f): 0.5 on
  f's zero level set, -> 1 inside (f < 0)."""
  return jax.nn.sigmoid(-sharpness * f)


def interval(fraction, start: float, end: float,
             end_fraction: float) -> jax.Array:
  """[] the half-width Delta of the surface interval at training's
  `fraction` (0 -> 1): max(start exp(-beta fraction), end), the paper's
  max(Delta_max exp(-k beta), Delta_min) with beta chosen so that Delta
  reaches `end` at `end_fraction`; `fraction` None (rendering a trained
  field): the floor."""
  if fraction is None:
    return jnp.asarray(end, jnp.float32)
  beta = jnp.log(start / end) / max(end_fraction, 1e-6)
  return jnp.maximum(start * jnp.exp(-beta * jnp.asarray(fraction,
                                                        jnp.float32)), end)


def first_crossing(t: jax.Array, o: jax.Array) -> tuple[jax.Array, ...]:
  """The first outside-to-inside crossing of o = TAU along each ray.

  Args:
    t: [N, K] increasing positions; o: [N, K] occupancies there.
  Returns:
    hit [N] bool (a crossing, and the first point outside: a ray starting
    inside the object has no surface in front of it), i [N] the index of
    the last point before it, so the root lies in [t_i, t_{i+1}].
  """
  del t  # the crossings are where o changes; t only orders the points
  hit, i = crossings(o, 1)
  return hit[:, 0], i[:, 0]


def crossings(o: jax.Array, count: int) -> tuple[jax.Array, jax.Array]:
  """The first `count` outside-to-inside crossings of o = TAU along each
  ray (depth layers: RtS's surfaces behind the visible one).

  Args:
    o: [N, K] occupancies at increasing positions along each ray.
  Returns:
    hit [N, count] bool (that crossing exists and the ray starts outside),
    i [N, count] the index of the last point before each (0 where none).
  """
  val = o - TAU
  change = (val[:, :-1] < 0) & (val[:, 1:] >= 0)
  rank = jnp.cumsum(change, axis=-1)
  i = jnp.stack([jnp.argmax(change & (rank == k + 1), axis=-1)
                 for k in range(count)], axis=-1)
  hit = (rank[:, -1:] > jnp.arange(count)) & (val[:, :1] < 0)
  return hit, i


def secant(fn: Callable[[jax.Array], jax.Array], t_lo: jax.Array,
           t_hi: jax.Array, f_lo: jax.Array, f_hi: jax.Array,
           steps: int) -> jax.Array:
  """Refines roots of fn(t) - TAU in [t_lo, t_hi] (f_lo < TAU <= f_hi,
  the occupancies at the ends) by `steps` secant iterations, each keeping
  the bracket (the official code's). fn: [N] -> [N] occupancies along the
  N rays. Returns t [N]."""
  v_lo, v_hi = f_lo - TAU, f_hi - TAU

  def guess(t_lo, t_hi, v_lo, v_hi):
    gap = v_hi - v_lo
    return t_lo - v_lo * (t_hi - t_lo) / jnp.where(gap > 0, gap, 1.0)

  def body(_, carry):
    t_lo, t_hi, v_lo, v_hi = carry
    t = guess(t_lo, t_hi, v_lo, v_hi)
    v = fn(t) - TAU
    low = v < 0
    return (jnp.where(low, t, t_lo), jnp.where(low, t_hi, t),
            jnp.where(low, v, v_lo), jnp.where(low, v_hi, v))

  carry = jax.lax.fori_loop(0, steps, body, (t_lo, t_hi, v_lo, v_hi))
  return guess(*carry)


def find_surfaces(occupancy_at: Callable[[jax.Array], jax.Array],
                  t_min: jax.Array, t_max: jax.Array, samples: int,
                  count: int, secant_steps: int
                  ) -> tuple[jax.Array, jax.Array]:
  """The root finding: the first `count` crossings of o = TAU along each
  ray, from o at `samples` even points in [t_min, t_max] refined by
  `secant_steps` secant steps; no gradient (it decides where the field is
  asked, not what it learns).

  Args:
    occupancy_at: t [N, M] -> o [N, M] at those positions along the N rays.
    t_min, t_max: [N] each ray's stretch (t_max == t_min: no stretch).
  Returns:
    hit [N, count] bool, t [N, count] (t_max where no crossing).
  """
  n = t_min.shape[0]
  u = jnp.linspace(0.0, 1.0, samples)
  t = t_min[:, None] + (t_max - t_min)[:, None] * u
  o = occupancy_at(t)
  hit, i = crossings(o, count)
  hit = hit & (t_max > t_min)[:, None]
  pick = lambda x, j: jnp.take_along_axis(x, j, -1).reshape(-1)
  j = jnp.minimum(i + 1, samples - 1)
  t_s = secant(lambda x: occupancy_at(x.reshape(n, count)).reshape(-1),
               pick(t, i), pick(t, j), pick(o, i), pick(o, j), secant_steps)
  t_s = jnp.where(hit, t_s.reshape(n, count), t_max[:, None])
  return jax.lax.stop_gradient(hit), jax.lax.stop_gradient(t_s)


def surface_samples(key, t_min: jax.Array, t_max: jax.Array,
                    t_surface: jax.Array, hit: jax.Array, delta: jax.Array,
                    inside: int, outside: int,
                    randomized: bool) -> jax.Array:
  """[N, inside + outside] sorted sample positions along each ray.

  Rays that hit: `inside` evenly in [t_s - delta, t_s + delta] clipped to
  [t_min, t_max], and `outside` evenly in the free space [t_min, start of
  that interval] (the paper adds these after 5000 iterations; here from
  the start, so shapes stay static and free space is emptied early).
  Rays that miss: all evenly in [t_min, t_max]. Randomized: each sample
  jittered within its bin (the official code's noise).
  """
  n = t_min.shape[0]
  lo = jnp.clip(t_surface - delta, t_min, t_max)
  hi = jnp.clip(t_surface + delta, t_min, t_max)

  def even(a, b, k):
    u = (jnp.arange(k) + 0.5) / k
    return a[:, None] + (b - a)[:, None] * u, (b - a)[:, None] / k

  t_in, w_in = even(lo, hi, inside)
  t_out, w_out = even(t_min, lo, outside)
  t_all, w_all = even(t_min, t_max, inside + outside)
  t = jnp.where(hit[:, None], jnp.concatenate([t_out, t_in], -1), t_all)
  width = jnp.where(hit[:, None],
                    jnp.concatenate([jnp.broadcast_to(w_out, (n, outside)),
                                     jnp.broadcast_to(w_in, (n, inside))], -1),
                    jnp.broadcast_to(w_all, (n, inside + outside)))
  if randomized:
    t = t + (jax.random.uniform(key, t.shape) - 0.5) * width
  return jnp.sort(t, axis=-1)

