"""The SDF backbone's two choices beyond the hash grid (issue #36): NeuS's
own network in world units (`sdf_encoding="frequency"`) and NeuS's outside
model (`background="nerfpp"`: NeRF++ beyond the ball of radius
scene_bound); their bad values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.core.rays import Rays
from jaxnerf.errors import ConfigError
from test_neus import tiny_neus


def tiny(tmp_path, name, **fields):
  """Config `name` with small networks (test_neus.py's, a small
  background, 16 + 8 samples)."""
  return tiny_neus(tmp_path, name, **dict(
      dict(field_samples=16, importance_samples=8, bg_width=16, bg_layers=2,
           bg_samples=8), **fields))


def build(c):
  from jaxnerf import methods
  from jaxnerf.methods import base
  return methods.of(c).build_model(c, base.SceneInfo())


def test_the_frequency_field_starts_as_the_sphere_in_world_units(tmp_path):
  """NeuS's network reads x / scene_bound (its unit sphere) and f is
  scaled back: one hidden layer of d = 1024, ReLU-like softplus, so f =
  |x| - r to a standard deviation of |x| sqrt((pi - 1) / d) = 0.046 |x|
  over initialisations (tests/test_sdf_mlp.py derives it); 16 of them,
  their mean to 4 standard errors (0.046 |x| a point). Without the
  scaling f would be |x| / 1.5 - 0.5: 0.4 off at |x| = 1.2."""
  c = tiny(tmp_path, "neus_mlp_demo", density_layers=1, density_width=1024,
           softplus_beta=1e4)
  model = build(c)
  points = jnp.asarray([[0.6, 0.0, 0.0], [0.0, -1.2, 0.0], [0.5, 0.5, 0.5],
                        [0.0, 0.0, 1.4]])
  sdf = jax.jit(jax.vmap(lambda k: model.apply(
      model.init({"params": k}, points, method="sdf"), points,
      method="sdf")))
  f = np.asarray(sdf(jax.random.split(jax.random.PRNGKey(0), 16)))
  r = np.linalg.norm(points, axis=-1)
  std = r * np.sqrt((np.pi - 1.0) / 1024)
  np.testing.assert_array_less(np.abs(f.mean(0) - (r - c.sdf_init_radius)),
                               std)
  np.testing.assert_allclose(f.std(0), std, rtol=0.45)


def test_the_background_takes_what_the_sdf_leaves(tmp_path):
  """From (1.5, 0, 0) inside the ball of radius 2, towards the init sphere
  (radius 0.5) and away from it. The SDF's stretch is the ball's, from
  near: to t = 3.5 and 0.5. The ray towards the sphere is opaque in the
  SDF (the background adds nothing); the ray away meets no surface (f
  rises along it: annealed NeuS gives it opacity ALPHA_EPS-small), so its
  colour is the background's and its depth lies beyond the ball's edge,
  and the background's parameters get its gradient."""
  from jaxnerf.methods.backbones import sdf
  c = tiny(tmp_path, "neus_capture", hash_max_resolution=32)
  model = build(c)
  origins = jnp.asarray([[1.5, 0.0, 0.0], [1.5, 0.0, 0.0]])
  dirs = jnp.asarray([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
  rays = Rays.create(origins, dirs, 0.05, 1.0)  # far unused
  t_min, t_max = sdf.ball_interval(rays, c.scene_bound)
  np.testing.assert_allclose(t_min, [0.05, 0.05])
  np.testing.assert_allclose(t_max, [3.5, 0.5], rtol=1e-6)
  key = jax.random.PRNGKey(0)
  # Jitted: op by op, a NeuS render dispatches thousands of small ops.
  variables = jax.jit(lambda k: model.init({"params": k}, rays, k, False))(
      key)
  out, bg = jax.jit(lambda v: (
      model.apply(v, rays, key, False)[0],
      model.apply(v, rays, None, False,
                  method=lambda m, r, k, rnd: m.background(r, k, rnd))))(
                      variables)
  assert float(out["acc"][0]) > 0.99
  np.testing.assert_allclose(out["rgb"][1], bg["rgb"][1], atol=2e-3)
  assert float(out["depth"][1] / out["acc"][1]) >= 0.5
  assert float(bg["acc"][1]) > 0.0

  def loss(params):
    return jnp.sum(model.apply({"params": params}, rays, key, True)[0][
        "rgb"][1])
  grads = jax.jit(jax.grad(loss))(variables["params"])
  norms = [float(jnp.linalg.norm(g)) for g in
           jax.tree.leaves(grads["background"])]
  assert all(np.isfinite(norms)) and max(norms) > 0


@pytest.mark.parametrize("field,value,message", [
    ("sdf_encoding", "mlp", "config.sdf_encoding: 'mlp' is not one of "
     "hashgrid, frequency"),
    ("background", "sky", "config.background: 'sky' is not one of none, "
     "nerfpp"),
    ("bg_samples", 0, "config.bg_samples: 0 must be an integer >= 1"),
    ("max_deg_point", -1, "config.max_deg_point: -1 must be an integer >= 0"),
    ("surface_rendering", "unisurf", "config.background: 'nerfpp' is "
     "rendered with NeuS only, not surface_rendering='unisurf'; set "
     "--config.background=none"),
])
def test_bad_fields_are_config_errors(tmp_path, field, value, message):
  from jaxnerf.methods.backbones import sdf
  c = tiny(tmp_path, "neus_capture")
  with c.unlocked():
    c[field] = value
  with pytest.raises(ConfigError) as err:
    sdf.check_config(c)
  assert str(err.value) == message


def test_the_frequency_encoding_needs_a_hidden_layer(tmp_path):
  from jaxnerf.methods.backbones import sdf
  c = tiny(tmp_path, "neus_mlp_demo", density_layers=0)
  with pytest.raises(ConfigError, match="config.density_layers: the "
                     "frequency encoding's geometric init needs at least 1"):
    sdf.check_config(c)
