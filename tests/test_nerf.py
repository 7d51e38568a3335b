"""The NeRF method (jaxnerf/methods/nerf.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.engine import training
from jaxnerf.methods import nerf
from jaxnerf.core.rays import Rays


def _rays(n, key=0):
  k = jax.random.split(jax.random.PRNGKey(key), 2)
  dirs = jax.random.normal(k[0], (n, 3))
  return Rays.create(jax.random.normal(k[1], (n, 3)) * 0.1, dirs, 2.0, 6.0,
                     radii=1e-3)


def _model(config):
  return training.build_model(nerf.METHOD, config, None)


def test_density_ignores_view_direction_colour_does_not(tiny_config):
  model = _model(tiny_config)
  rays = _rays(16)
  variables = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                         randomized=False)
  other = rays.replace(viewdirs=-rays.viewdirs)
  out_a = model.apply(variables, rays, jax.random.PRNGKey(1), randomized=False)
  out_b = model.apply(variables, other, jax.random.PRNGKey(1),
                      randomized=False)
  for a, b in zip(out_a, out_b):
    np.testing.assert_allclose(a["weights"], b["weights"], rtol=1e-6)
    np.testing.assert_allclose(a["depth"], b["depth"], rtol=1e-6)
    assert not np.allclose(a["rgb"], b["rgb"])


def test_nerf_model_levels_and_separate_mlps(tiny_config):
  model = _model(tiny_config)
  rays = _rays(8)
  variables = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                         randomized=False)
  assert set(variables["params"]) == {"coarse_mlp", "fine_mlp"}
  outs = model.apply(variables, rays, jax.random.PRNGKey(2), randomized=True)
  assert len(outs) == 2
  c = tiny_config
  assert outs[0]["t"].shape == (8, c.num_coarse_samples)
  assert outs[1]["t"].shape == (8, c.num_coarse_samples + c.num_fine_samples)
  for out in outs:
    assert out["rgb"].shape == (8, 3)
    assert np.all((out["rgb"] >= 0) & (out["rgb"] <= 1 + 1e-6))
    assert np.all((out["acc"] >= 0) & (out["acc"] <= 1 + 1e-6))


def test_randomized_rendering_depends_on_key_deterministic_does_not(
    tiny_config):
  model = _model(tiny_config)
  rays = _rays(8)
  v = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                 randomized=False)
  det = [model.apply(v, rays, jax.random.PRNGKey(k), randomized=False)[-1]
         ["rgb"] for k in (1, 2)]
  rnd = [model.apply(v, rays, jax.random.PRNGKey(k), randomized=True)[-1]
         ["rgb"] for k in (1, 2)]
  np.testing.assert_array_equal(det[0], det[1])
  assert not np.allclose(rnd[0], rnd[1])


def test_field_interface_matches_the_rendered_fine_level(tiny_config):
  """density()/radiance() are the fine MLP's: compositing them at the fine
  level's sample points reproduces the rendered colour."""
  model = _model(tiny_config)
  rays = _rays(4)
  v = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                 randomized=False)
  fine = model.apply(v, rays, jax.random.PRNGKey(1), randomized=False)[-1]
  t = fine["t"]  # [N, S]
  points = rays.origins[:, None] + t[..., None] * rays.directions[:, None]
  flat = points.reshape(-1, 3)
  dirs = jnp.repeat(rays.viewdirs, t.shape[1], axis=0)
  density = model.apply(v, flat, method="density").reshape(t.shape)
  rgb = model.apply(v, flat, dirs, method="radiance").reshape(t.shape + (3,))
  from jaxnerf.render import compositing
  out = compositing.volumetric_rendering(rgb, density, t, rays.directions,
                                         tiny_config.white_bkgd)
  np.testing.assert_allclose(out["rgb"], fine["rgb"], atol=1e-5)
  np.testing.assert_allclose(out["weights"], fine["weights"], atol=1e-6)
