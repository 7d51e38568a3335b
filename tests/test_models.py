import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf import models
from jaxnerf.rays import Rays


def _rays(n, key=0):
  k = jax.random.split(jax.random.PRNGKey(key), 2)
  dirs = jax.random.normal(k[0], (n, 3))
  viewdirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
  ones = jnp.ones((n, 1))
  return Rays(origins=jax.random.normal(k[1], (n, 3)) * 0.1, directions=dirs,
              viewdirs=viewdirs, radii=ones * 1e-3, near=ones * 2.0,
              far=ones * 6.0, lossmult=ones)


def test_mlp_shapes_and_skip():
  mlp = models.MLP(netdepth=8, netwidth=32, skip_layer=4)
  x = jnp.ones((5, 7, 63))
  params = mlp.init(jax.random.PRNGKey(0), x, jnp.ones((5, 27)))
  rgb, density = mlp.apply(params, x, jnp.ones((5, 27)))
  assert rgb.shape == (5, 7, 3) and density.shape == (5, 7, 1)
  # The layer after the skip sees width + input channels.
  kernel = params["params"]["Dense_5"]["kernel"]
  assert kernel.shape == (32 + 63, 32)


def test_density_ignores_view_direction_colour_does_not(tiny_config):
  model = models.construct_model(tiny_config)
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
  model = models.construct_model(tiny_config)
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
  model = models.construct_model(tiny_config)
  rays = _rays(8)
  v = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                 randomized=False)
  det = [model.apply(v, rays, jax.random.PRNGKey(k), randomized=False)[-1]
         ["rgb"] for k in (1, 2)]
  rnd = [model.apply(v, rays, jax.random.PRNGKey(k), randomized=True)[-1]
         ["rgb"] for k in (1, 2)]
  np.testing.assert_array_equal(det[0], det[1])
  assert not np.allclose(rnd[0], rnd[1])


def test_unknown_model_is_a_config_error(tiny_config):
  import pytest
  from jaxnerf.errors import ConfigError
  with tiny_config.unlocked():
    tiny_config.model = "nope"
  with pytest.raises(ConfigError, match="config.model"):
    models.construct_model(tiny_config)
