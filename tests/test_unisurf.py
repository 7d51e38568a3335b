"""UNISURF (issue #36): the occupancy's weights, the root finding, the
shrinking interval and its samples, the SDF backbone's unisurf rendering
and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.errors import ConfigError
from jaxnerf.render import neus, unisurf


def test_occupancies_are_the_alphas():
  """Eq. 5 by hand: o = (0.2, 0.5, 1, 0.7) -> w = (0.2, 0.8 x 0.5,
  0.8 x 0.5 x 1, 0): nothing behind an opaque sample; o = 0.5 at f = 0."""
  o = jnp.asarray([[0.2, 0.5, 1.0, 0.7]])
  np.testing.assert_allclose(neus.alpha_weights(o)[0], [0.2, 0.4, 0.4, 0.0],
                             atol=1e-5)
  np.testing.assert_allclose(unisurf.occupancy(jnp.asarray([0.0, -1.0, 1.0]),
                                               10.0),
                             [0.5, 1 / (1 + np.exp(-10)),
                              1 / (1 + np.exp(10))], rtol=1e-6)


def test_the_interval_shrinks_exponentially_to_its_floor():
  start, end, at = 1.0, 0.05, 0.5
  assert float(unisurf.interval(0.0, start, end, at)) == pytest.approx(1.0)
  assert float(unisurf.interval(at, start, end, at)) == pytest.approx(end,
                                                                      rel=1e-5)
  # Halfway to the floor: the geometric mean (exponential decay).
  assert float(unisurf.interval(at / 2, start, end, at)) == pytest.approx(
      np.sqrt(start * end), rel=1e-5)
  assert float(unisurf.interval(0.9, start, end, at)) == pytest.approx(end)
  assert float(unisurf.interval(None, start, end, at)) == pytest.approx(end)


def sphere_occupancy(origins, directions, radius, sharpness):
  """o(t) along rays [N] of f = |x| - radius."""
  def at(t):  # t [N, K]
    p = origins[:, None] + t[..., None] * directions[:, None]
    return unisurf.occupancy(jnp.linalg.norm(p, axis=-1) - radius, sharpness)
  return at


def test_root_finding_lands_on_a_sphere():
  """The first crossing of o = 0.5 on rays towards a sphere of radius 0.6
  from distance 3, by 32 even points and 8 secant steps: the analytic
  intersection to 1e-5; a ray that misses, and a ray starting inside, have
  no hit."""
  origins = jnp.asarray([[0.0, 0.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 3.0],
                         [0.0, 0.0, 0.1]])
  target = jnp.asarray([[0.0, 0.0, 0.0], [0.3, 0.2, 0.0], [1.0, 1.0, 0.0],
                        [0.0, 0.0, -1.0]])
  d = target - origins
  d = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
  at = sphere_occupancy(origins, d, 0.6, 10.0)
  t = jnp.broadcast_to(jnp.linspace(0.0, 5.0, 32), (4, 32))
  hit, i = unisurf.first_crossing(t, at(t))
  np.testing.assert_array_equal(hit, [True, True, False, False])
  pick = lambda x, j: jnp.take_along_axis(x, j[:, None], -1)[:, 0]
  o = at(t)
  t_s = unisurf.secant(lambda x: at(x[:, None])[:, 0], pick(t, i),
                       pick(t, i + 1), pick(o, i), pick(o, i + 1), 8)
  # |o + t d| = r: t = -b - sqrt(b^2 - c), b = o.d, c = |o|^2 - r^2.
  b = jnp.sum(origins * d, -1)
  exact = -b - jnp.sqrt(b**2 - (jnp.sum(origins**2, -1) - 0.36))
  np.testing.assert_allclose(t_s[:2], exact[:2], atol=1e-5)
  # No secant step: the chord's root, already between the bracket's ends.
  chord = unisurf.secant(lambda x: at(x[:, None])[:, 0], pick(t, i),
                         pick(t, i + 1), pick(o, i), pick(o, i + 1), 0)
  assert np.all((chord[:2] >= pick(t, i)[:2]) &
                (chord[:2] <= pick(t, i + 1)[:2]))


def test_samples_go_around_the_surface_and_before_it():
  t_min, t_max = jnp.asarray([1.0, 1.0]), jnp.asarray([5.0, 5.0])
  t_s, hit = jnp.asarray([3.0, 5.0]), jnp.asarray([True, False])
  t = unisurf.surface_samples(None, t_min, t_max, t_s, hit, 0.5, 4, 2,
                              randomized=False)
  # Hit: 2 even in [1, 2.5], 4 even in [2.5, 3.5] (bin centres).
  np.testing.assert_allclose(t[0], [1.375, 2.125, 2.625, 2.875, 3.125,
                                    3.375], atol=1e-6)
  # Miss: 6 even over the box's stretch.
  np.testing.assert_allclose(t[1], 1.0 + 4.0 * (np.arange(6) + 0.5) / 6,
                             atol=1e-6)
  # Jittered: each sample stays in its bin, sorted.
  j = unisurf.surface_samples(jax.random.PRNGKey(0), t_min, t_max, t_s, hit,
                              0.5, 4, 2, randomized=True)
  assert np.all(np.abs(np.asarray(j) - np.asarray(t)) <=
                np.array([[0.375] * 2 + [0.125] * 4, [1 / 3] * 6]) + 1e-6)
  assert np.all(np.diff(np.asarray(j), axis=-1) >= 0)


def tiny_unisurf(tmp_path, **fields):
  from test_neus import tiny_neus
  return tiny_neus(tmp_path, "unisurf_demo", **dict(
      dict(root_samples=16, interval_samples=8, free_samples=4), **fields))


def test_the_backbone_finds_its_init_sphere_and_renders_it(tmp_path):
  """From the geometric init (f = |x| - 0.75 exactly), rays from distance
  4 towards the origin find the sphere at 4 - 0.75 (root finding through
  the model's field), render opaque with depth near it, and a ray past it
  is a miss with little opacity; training's outputs carry the normals'
  smoothness, finite, and its loss term with gradients."""
  from jaxnerf import methods
  from jaxnerf.core.rays import Rays
  from jaxnerf.methods import base
  from jaxnerf.methods.backbones import sdf
  c = tiny_unisurf(tmp_path)
  model = methods.of(c).build_model(c, base.SceneInfo())
  origins = jnp.asarray([[0.0, 0.0, 4.0], [0.0, 4.0, 0.0], [0.0, 1.4, 4.0]])
  dirs = jnp.asarray([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
  rays = Rays.create(origins, dirs, 0.1, 8.0)
  key = jax.random.PRNGKey(0)
  # Jitted: two compilations, not the op-by-op dispatch of every call.
  variables = jax.jit(lambda k: model.init({"params": k}, rays, k, False))(
      key)
  t_min, t_max = sdf.box_interval(rays, c.scene_bound)

  @jax.jit
  def evaluate(v):
    hit, t_s = model.apply(v, rays, t_min, t_max, method="_surface")
    return hit, t_s, model.apply(v, rays, key, False)[0]

  hit, t_s, out = evaluate(variables)
  np.testing.assert_array_equal(hit, [True, True, False])
  np.testing.assert_allclose(t_s[:2], 4.0 - c.sdf_init_radius, atol=1e-4)
  assert np.all(np.asarray(out["acc"][:2]) > 0.99)
  # The miss passes 1.4 - 0.75 = 0.65 from the sphere: each of its 12
  # samples has o <= sigmoid(-6.5).
  bound = 1.0 - (1.0 - 1.0 / (1.0 + np.exp(10 * 0.65)))**12
  assert 0.0 < float(out["acc"][2]) < bound
  np.testing.assert_allclose(out["depth"][:2], 4.0 - c.sdf_init_radius,
                             atol=0.15)
  method, progress = methods.of(c), base.Progress.at(0, 10)

  @jax.jit
  def smoothness_and_grads(params):
    def term(p):
      outputs = model.apply({"params": p}, rays, key, True, progress)
      terms = method.loss_terms(c, outputs, rays, jnp.ones((3, 3)), p)
      return terms["normal_smoothness"], (outputs[0]["smoothness"],
                                          terms["eikonal"])
    return jax.grad(term, has_aux=True)(params)

  grads, (smooth, eikonal) = smoothness_and_grads(variables["params"])
  assert float(eikonal) == 0.0
  assert np.all(np.isfinite(smooth)) and float(smooth[2]) == 0.0
  # On a sphere, normals eps apart differ by about |eps| / r.
  assert 0.0 < float(smooth[0]) < 3 * np.sqrt(3) * 0.005 / 0.75
  norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
  assert all(np.isfinite(norms)) and max(norms) > 0


@pytest.mark.parametrize("field,value,message", [
    ("surface_rendering", "occ", "config.surface_rendering: 'occ' is not "
     "one of neus, unisurf"),
    ("root_samples", 1, "config.root_samples: must be at least 2, got 1"),
    ("surface_interval_end", 2.0, "config.surface_interval_end: must be in "
     "(0, surface_interval_start = 1.0], got 2.0"),
])
def test_bad_unisurf_fields_are_config_errors(tmp_path, field, value,
                                              message):
  from jaxnerf.methods.backbones import sdf
  c = tiny_unisurf(tmp_path)
  with c.unlocked():
    c[field] = value
  with pytest.raises(ConfigError) as err:
    sdf.check_config(c)
  assert str(err.value) == message
