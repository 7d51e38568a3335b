"""NeRF++: the inverted-sphere parametrisation and C = C_fg + T_fg C_bg."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.engine import config as config_lib, training
from jaxnerf.methods import nerfpp
from jaxnerf.core.rays import Rays


def _rays(n=6):
  rng = np.random.default_rng(0)
  origins = rng.uniform(-0.5, 0.5, (n, 3))
  directions = rng.normal(size=(n, 3)) * 2.0
  viewdirs = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
  f = lambda v: jnp.asarray(v, jnp.float32)
  return Rays.create(f(origins), f(directions), 0.1, 10.0, viewdirs=f(viewdirs))


def test_background_points_lie_on_the_ray_at_radius_r():
  rays = _rays()
  inv = jnp.asarray(np.linspace(0.05, 1.0, 7)[None].repeat(6, 0), jnp.float32)
  inputs, t = nerfpp.background_points(rays.origins, rays.directions, inv, 2.0)
  points = rays.origins[:, None] + t[..., None] * rays.directions[:, None]
  r = 2.0 / inv
  np.testing.assert_allclose(np.linalg.norm(points, axis=-1), r, rtol=1e-5)
  np.testing.assert_allclose(inputs[..., :3], points / r[..., None],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(inputs[..., 3], inv)
  assert np.all(t > 0)  # ahead of the camera
  exit_t = nerfpp.sphere_exit_t(rays, 2.0)
  p = rays.origins + exit_t * rays.directions
  np.testing.assert_allclose(np.linalg.norm(p, axis=-1), 2.0, rtol=1e-5)


def _config():
  c = config_lib.method_config("nerfpp")
  c.netdepth, c.netwidth, c.netwidth_condition = 2, 16, 8
  c.num_coarse_samples = c.num_bg_coarse_samples = 8
  c.num_fine_samples = c.num_bg_fine_samples = 8
  c.white_bkgd = False
  return c


def _set_density_bias(params, half, bias):
  """Zero density kernels of every `half` MLP and a constant raw density."""
  params = jax.tree.map(lambda x: x, params)
  for name, mlp in params.items():
    if name.startswith(half):
      layer = mlp["Dense_2"]  # the density layer follows the 2 trunk layers
      assert layer["kernel"].shape[-1] == 1
      mlp["Dense_2"] = dict(kernel=jnp.zeros_like(layer["kernel"]),
                            bias=jnp.full_like(layer["bias"], bias))
  return params


def test_composition_foreground_over_background():
  config = _config()
  model = training.build_model(nerfpp.METHOD, config, None)
  key = jax.random.PRNGKey(0)
  rays = _rays()
  variables = model.init(key, rays, key, randomized=False)
  render = lambda p: model.apply({"params": p}, rays, key, False)[-1]
  params = variables["params"]
  # An empty foreground: all light comes from the background.
  empty = _set_density_bias(params, "fg", -10.0)
  out = render(_set_density_bias(empty, "bg", 2.0))
  np.testing.assert_allclose(out["bg_fraction"], 1.0, rtol=1e-6)
  # The last background interval reaches infinity: any density there
  # makes the ray opaque.
  np.testing.assert_allclose(out["acc"], 1.0, rtol=1e-4)
  # An opaque foreground hides the background: changing the background
  # field no longer changes the pixel.
  opaque = _set_density_bias(params, "fg", 100.0)
  out_a = render(opaque)
  out_b = render(_set_density_bias(opaque, "bg", 5.0))
  np.testing.assert_allclose(out_a["bg_fraction"], 0.0, atol=1e-6)
  np.testing.assert_allclose(out_a["rgb"], out_b["rgb"], atol=1e-6)
  # In between, C = C_fg + T C_bg: with a half-transparent foreground the
  # pixel moves with the background by exactly T times its change.
  half = _set_density_bias(params, "fg", 0.3)
  bg_1 = _set_density_bias(half, "bg", 2.0)
  out_1, out_2 = render(bg_1), render(_set_density_bias(half, "bg", -10.0))
  t = out_1["bg_fraction"]
  assert np.all((t > 0.01) & (t < 0.99))
  # Background fully transparent (bias -10): C = C_fg; so C_1 - C_2 is
  # T * C_bg,1, and C_bg,1 is the colour of an opaque background.
  bg_only = render(_set_density_bias(_set_density_bias(params, "fg", -10.0),
                                     "bg", 2.0))
  np.testing.assert_allclose(out_1["rgb"] - out_2["rgb"],
                             t[:, None] * bg_only["rgb"], atol=2e-3)


def test_field_interface_splits_at_the_sphere():
  config = _config()
  model = training.build_model(nerfpp.METHOD, config, None)
  key = jax.random.PRNGKey(0)
  variables = model.init(key, _rays(), key, randomized=False)
  params = _set_density_bias(_set_density_bias(variables["params"], "fg",
                                               1.0), "bg", 3.0)
  points = jnp.array([[0.5, 0.0, 0.0], [0.0, 10.0, 0.0], [100.0, 5.0, 0.0]])
  density = model.apply({"params": params}, points, method=model.density)
  np.testing.assert_allclose(density, [1.0, 3.0, 3.0], rtol=1e-6)
  rgb = model.apply({"params": params}, points, jnp.eye(3),
                    method=model.radiance)
  assert rgb.shape == (3, 3) and np.all((rgb >= 0) & (rgb <= 1))
