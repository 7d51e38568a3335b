"""Neural Reflectance Fields' shading component
(jaxnerf/methods/components/reflectance.py): the sRGB transfer, the light
rays, and the collocated light's transmittance."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.core import lighting
from jaxnerf.core.rays import Rays
from jaxnerf.methods import base
from jaxnerf.methods.components import reflectance
from jaxnerf.render import brdf


def test_srgb_transfer_by_hand():
  x = jnp.array([0.0, 0.002, 0.5, 1.0, 3.0])
  want = [0.0, 12.92 * 0.002, 1.055 * 0.5 ** (1 / 2.4) - 0.055, 1.0, 1.0]
  np.testing.assert_allclose(reflectance.linear_to_srgb(x), want, rtol=1e-6)
  assert np.isfinite(jax.grad(lambda v: reflectance.linear_to_srgb(v))(0.0))


def test_box_exit_by_hand():
  points = jnp.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
  dirs = jnp.array([[1.0, 0.0, 0.0], [math.sqrt(0.5), math.sqrt(0.5), 0.0],
                    [-1.0, 0.0, 0.0]])
  np.testing.assert_allclose(reflectance.box_exit(points, dirs, 1.5),
                             [1.5, 1.5 * math.sqrt(2), 2.5], rtol=1e-6)


def slab(sigma, low, high):
  """Density sigma where low < z < high, 0 elsewhere."""
  return lambda p: jnp.where((p[:, 2] > low) & (p[:, 2] < high), sigma, 0.0)


def test_a_light_ray_through_a_slab():
  """exp(-sigma * thickness) from the surface to a light beyond the slab;
  1 where the light is nearer than the slab; the box ends the march."""
  surface = jnp.zeros((3, 3))
  lights = jnp.array([[0.0, 0.0, 5.0], [0.0, 0.0, 0.5], [0.0, 0.0, 5.0]])
  t = reflectance.shadow_transmittance(slab(2.0, 1.0, 2.0), surface, lights,
                                       3.0, 256)
  np.testing.assert_allclose(t[:2], [math.exp(-2.0), 1.0], rtol=1e-2)
  inside = reflectance.shadow_transmittance(slab(2.0, 1.0, 2.0), surface,
                                            lights, 1.5, 256)
  np.testing.assert_allclose(inside[2], math.exp(-2.0 * 0.5), rtol=1e-2)


def column(density_fn, light_pos, collocated, intensity=25.0):
  """Shades the 128 samples of one camera ray from z = 5 straight down to
  an opaque sample at z = 0.018 (albedo 0.5, roughness 0.5, normal +z):
  (rgb [128, 3], the samples' z, the surface sample's index)."""
  s = 128
  z = jnp.linspace(4.9, -0.1, s)
  origin = jnp.array([[0.0, 0.0, 5.0]])
  direction = jnp.array([[0.0, 0.0, -1.0]])
  t = 5.0 - z
  with_surface = lambda p: (density_fn(p) +
                            jnp.where(jnp.abs(p[:, 2]) < 0.02, 1e3, 0.0))
  density = with_surface(origin + t[:, None] * direction)
  layout = base.SampleLayout.dense(jnp.full((1, s), 5.0 / (s - 1)))
  config = reflectance.reflectance_fields()
  config.scene_bound = 6.0
  config.shadow_samples = 512
  module = reflectance.Reflectance(config=config, levels=("",))
  feats = jnp.ones((s, 8))
  params = module.init(jax.random.PRNGKey(1), feats, method="materials")
  out = params["params"]["material_out"]
  out["kernel"] = jnp.zeros_like(out["kernel"])
  out["bias"] = jnp.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
  light = np.zeros((1, lighting.LIGHT_DIM), np.float32)
  light[0, :3] = light_pos
  light[0, 3:6] = intensity
  light[0, 6] = collocated
  rays = Rays.create(origin, direction, 0.0, 6.0, light=jnp.asarray(light))
  rgb, maps = module.apply(params, "", feats, t, jnp.zeros(s, jnp.int32),
                           rays, layout, density, with_surface,
                           lambda: None, None, method="shade")
  assert set(maps) == {"albedo", "roughness", "normal", "orientation"}
  return rgb, z, int(jnp.argmin(jnp.abs(z)))


def test_a_collocated_light_sees_what_the_camera_sees():
  """A flash at the camera (z = 5) and a slab (sigma 1.5, 1 < z < 2)
  between it and the surface: the light's transmittance is the camera's,
  exp(-1.5), which a light ray marched from the surface to the flash
  gives too. By hand: n = v = l, f = 0.96 * 0.5 / pi + 0.04 / (4 pi
  0.25^2) = 0.20372, times I / d^2 and exp(-1.5)."""
  rgb, z, k = column(slab(1.5, 1.0, 2.0), [0.0, 0.0, 5.0], 1.0)
  toward = reflectance.shadow_transmittance(
      slab(1.5, 1.0, 2.0), jnp.array([[0.0, 0.0, float(z[k])]]),
      jnp.array([[0.0, 0.0, 5.0]]), 6.0, 512)
  np.testing.assert_allclose(toward, math.exp(-1.5), rtol=1e-2)
  linear = 0.20372 * 25.0 / (5.0 - float(z[k])) ** 2 * math.exp(-1.5)
  np.testing.assert_allclose(rgb[k], 1.055 * linear ** (1 / 2.4) - 0.055,
                             rtol=0.04)


def test_a_light_elsewhere_is_shadowed_by_what_lies_towards_it():
  """A light at (3, 0, 4) behind a block (sigma 0.6 where 1 < x < 2 and
  1 < z < 3) that the camera ray does not cross: the light ray from the
  surface runs 5/3 units in it, so the surface gets exp(-1) of the light;
  without the block, all of it."""
  block = lambda p: jnp.where((p[:, 0] > 1) & (p[:, 0] < 2) & (p[:, 2] > 1)
                              & (p[:, 2] < 3), 0.6, 0.0)
  light = jnp.array([3.0, 0.0, 4.0])
  up = jnp.array([0.0, 0.0, 1.0])
  lit = brdf.reflected(up, up, light / 5.0, jnp.full(3, 0.5), 0.5)
  for density_fn, transmit in ((block, math.exp(-1.0)),
                               (lambda p: jnp.zeros(p.shape[0]), 1.0)):
    rgb, z, k = column(density_fn, light, 0.0)
    dist2 = float(jnp.sum((light - jnp.array([0.0, 0.0, z[k]])) ** 2))
    want = reflectance.linear_to_srgb(lit * 25.0 / dist2 * transmit)
    np.testing.assert_allclose(rgb[k], want, rtol=0.02)


def test_gradient_normals_of_a_sphere_point_outwards():
  """Density falling off from the origin (a blob): -grad points away
  from the centre; the tetrahedron's error is first order in the step
  (its Hessian term), so it shrinks with the step."""
  blob = lambda p: jnp.exp(-jnp.sum(p ** 2, axis=-1))
  points = jax.random.normal(jax.random.PRNGKey(3), (50, 3))
  # Away from the centre, where the gradient vanishes and has no direction.
  points = points / jnp.linalg.norm(points, axis=-1, keepdims=True) * (
      jnp.linspace(0.5, 1.5, 50)[:, None])
  want = points / jnp.linalg.norm(points, axis=-1, keepdims=True)
  errors = [float(jnp.max(jnp.abs(reflectance.gradient_normals(
      blob, points, step) - want))) for step in (0.003, 0.01, 0.03)]
  assert errors[1] < 0.02
  assert errors[0] < errors[1] / 2 < errors[2] / 4


def test_a_uniform_environment_by_hand():
  """Radiance c from every direction (SH: c sqrt(4 pi) on Y_00) on a
  surface seen head-on: irradiance pi c, so the diffuse lobe gives
  (1 - F0) albedo c, and the mirror term F0 c."""
  c = 0.5
  sh = np.zeros((1, 9, 3))
  sh[0, 0] = c * math.sqrt(4 * math.pi)
  up = jnp.array([[0.0, 0.0, 1.0]])
  np.testing.assert_allclose(lighting.sh_irradiance(jnp.asarray(sh), up),
                             math.pi * c, rtol=1e-5)
  out = reflectance.environment(up, up, jnp.full((1, 3), 0.5),
                                jnp.asarray(sh))
  np.testing.assert_allclose(out, 0.96 * 0.5 * c + 0.04 * c, rtol=1e-5)
