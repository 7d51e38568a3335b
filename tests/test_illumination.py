"""NeRD's per-image illumination (jaxnerf/methods/components/
illumination.py): the light it hands the shading, its gradients, and
how its recovery is scored."""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.core import lighting
from jaxnerf.core.cameras import Cameras
from jaxnerf.core.rays import Rays
from jaxnerf.methods.components import illumination, reflectance


def test_an_environment_light_vector_holds_its_sh_alone():
  sh = jnp.arange(2 * 27, dtype=jnp.float32).reshape(2, 9, 3)
  light = lighting.environment_light(sh)
  assert light.shape == (2, lighting.LIGHT_DIM)
  np.testing.assert_array_equal(lighting.environment_sh(light), sh)
  assert bool(jnp.all(lighting.has_environment(light)))
  assert not bool(jnp.any(lighting.collocated(light)))
  np.testing.assert_array_equal(lighting.intensity(light), 0.0)


def module_and_rays(cameras):
  config = illumination.illumination_fields()
  module = illumination.Illumination(config=config, num_cameras=3)
  n = len(cameras)
  rays = Rays.create(jnp.zeros((n, 3)), jnp.tile(jnp.array([[0., 0., -1.]]),
                                                 (n, 1)), 0.0, 1.0,
                     camera_index=jnp.asarray(cameras, jnp.int32)[:, None])
  params = module.init(jax.random.PRNGKey(0), rays, method="light")
  return module, params, rays


def test_each_ray_gets_its_images_environment_starting_uniform_white():
  """Initially a uniform white environment of radiance illumination_init
  (so irradiance pi: a white diffuse surface shows 1); then each ray
  reads its own camera's row."""
  module, params, rays = module_and_rays([2, 0, 2])
  sh = lighting.environment_sh(module.apply(params, rays, method="light"))
  up = jnp.tile(jnp.array([[0.0, 0.0, 1.0]]), (3, 1))
  np.testing.assert_allclose(lighting.sh_radiance(sh, up), 1.0, rtol=1e-6)
  np.testing.assert_allclose(lighting.sh_irradiance(sh, up), math.pi,
                             rtol=1e-6)
  table = params["params"]["illumination"]
  table = table.at[2, 1, 0].set(7.0)
  sh = lighting.environment_sh(module.apply({"params": {
      "illumination": table}}, rays, method="light"))
  np.testing.assert_array_equal(sh[:, 1, 0], [7.0, 0.0, 7.0])


def test_gradients_reach_only_the_rows_of_the_rays_images():
  """A diffuse surface facing +z (as reflectance.environment shades it)
  lit by the learned light: the loss's gradient is non-zero on the rows of
  cameras 0 and 2, zero on camera 1's, which no ray comes from."""
  module, params, rays = module_and_rays([0, 2, 2])
  up = jnp.tile(jnp.array([[0.0, 0.0, 1.0]]), (3, 1))

  def loss(p):
    sh = lighting.environment_sh(module.apply(p, rays, method="light"))
    rgb = reflectance.environment(up, up, jnp.full((3, 3), 0.5), sh)
    return jnp.sum((rgb - 0.2) ** 2)

  grad = jax.grad(loss)(params)["params"]["illumination"]
  norms = jnp.linalg.norm(grad.reshape(3, -1), axis=-1)
  assert norms[0] > 0 and norms[2] > 0 and norms[1] == 0


def test_recovery_errors_by_hand():
  """Learned SH that are the true ones at half the red and a third of the
  blue score 0 error with scales (2, 1, 3); a single shared light (the
  mean) scores |true - mean| / |true|."""
  rng = np.random.default_rng(0)
  true = rng.normal(size=(4, 9, 3))
  learned = true / np.array([2.0, 1.0, 3.0])
  got = illumination.sh_errors(learned, true)
  assert got["illumination_error"] < 1e-12
  np.testing.assert_allclose(got["illumination_scale"], [2.0, 1.0, 3.0])
  want = np.linalg.norm(true - true.mean(0)) / np.linalg.norm(true)
  np.testing.assert_allclose(got["illumination_error_mean"], want)
  for band in ("l0", "l1", "l2"):  # a scale per channel keeps correlation
    np.testing.assert_allclose(got[f"illumination_corr_{band}"], 1.0)
  # Learned lights that vary against the truth: correlation -1.
  flipped = illumination.sh_errors(2 * true.mean(0) - true, true)
  np.testing.assert_allclose(flipped["illumination_corr_l1"], -1.0)
  # Noise of a tenth of the signal's norm: about a tenth of error.
  noise = rng.normal(size=true.shape)
  noisy = true + 0.1 * noise * np.linalg.norm(true) / np.linalg.norm(noise)
  err = illumination.sh_errors(noisy, true)["illumination_error"]
  assert 0.05 < err < 0.11


def context(light, table):
  cams = Cameras.create(np.tile(np.eye(4)[:3], (len(light), 1, 1)), 10.0,
                        10, 10, 0.5, 5.0, light=light)
  return types.SimpleNamespace(
      train_cameras=cams,
      variables={"params": {"illumination": {"illumination": table}}})


def test_the_metrics_score_the_table_where_every_image_has_an_environment():
  true = np.random.default_rng(1).normal(size=(2, 9, 3))
  env = np.asarray(lighting.environment_light(jnp.asarray(true)))
  got = illumination.illumination_metrics(context(env, 0.5 * true))
  assert got["illumination_error"] < 1e-6
  np.testing.assert_allclose(got["illumination_scale"], 2.0, rtol=1e-6)
  flash = np.zeros((2, lighting.LIGHT_DIM))
  flash[:, 6] = 1.0
  assert illumination.illumination_metrics(context(flash, true)) == {}
  assert illumination.illumination_metrics(
      context(np.zeros((2, 1)), true)) == {}
