"""AutoInt: the posts, the piecewise render by hand, the grad network as
the derivative of the integral network (finite differences) and the
integral network as the integral of the grad network (quadrature), the
model's two renders agreeing, and its config checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.core.rays import Rays
from jaxnerf.engine import config as config_lib
from jaxnerf.errors import ConfigError
from jaxnerf.methods.backbones import autoint as autoint_backbone
from jaxnerf.render import autoint


def tiny(**fields):
  c = config_lib.method_config("autoint")
  c.update(dict(autoint_segments=4, autoint_samples_per_segment=2,
                autoint_netdepth=1, autoint_netwidth=16,
                autoint_max_deg_point=4, autoint_deg_view=2,
                autoint_sampler_depth=1, autoint_sampler_width=8,
                autoint_sampler_deg=2, white_bkgd=False))
  c.update(fields)
  return c


def random_rays(n, seed=0):
  rng = np.random.default_rng(seed)
  o = rng.normal(size=(n, 3)) * 0.3 + [0.0, 0.0, 3.0]
  d = rng.normal(size=(n, 3)) * 0.2 + [0.0, 0.0, -1.0]
  col = lambda v: jnp.full((n, 1), v, jnp.float32)
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  return Rays(origins=f32(o), directions=f32(d),
              viewdirs=f32(d / np.linalg.norm(d, axis=-1, keepdims=True)),
              radii=col(0.001), lossmult=col(1.0), near=col(2.0),
              far=col(4.0), camera_index=jnp.zeros((n, 1), jnp.int32),
              time=col(0.0), light=col(0.0))


def model_and_params(c, rays):
  model = autoint_backbone.AutoIntModel(config=c)
  params = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                      False)
  # Random sampler outputs, so the posts are uneven.
  params = jax.tree_util.tree_map_with_path(
      lambda path, p: jax.random.normal(jax.random.PRNGKey(2), p.shape) * 0.1
      if "sampler_out" in jax.tree_util.keystr(path) else p, params)
  return model, params


def test_posts_even_at_zero_and_bounded():
  near, far = jnp.full((2, 1), 2.0), jnp.full((2, 1), 6.0)
  posts = autoint.posts_from_logits(jnp.zeros((2, 4)), near, far)
  np.testing.assert_allclose(posts, [[2, 3, 4, 5, 6]] * 2, rtol=1e-5)
  logits = jax.random.normal(jax.random.PRNGKey(0), (5, 8))
  posts = autoint.posts_from_logits(logits, jnp.full((5, 1), 2.0),
                                    jnp.full((5, 1), 6.0))
  np.testing.assert_allclose(posts[:, 0], 2.0)
  np.testing.assert_allclose(posts[:, -1], 6.0, rtol=1e-6)
  assert np.all(np.diff(np.asarray(posts), axis=-1) > 0)
  # Shares |1/K + logit|: logit -1/K + 0.5 gives 0.5, the others 1/K.
  posts = autoint.posts_from_logits(jnp.asarray([[0.25, 0.0]]),
                                    jnp.zeros((1, 1)), jnp.ones((1, 1)))
  np.testing.assert_allclose(posts, [[0.0, 0.75 / 1.25, 1.0]], atol=1e-5)


def test_stratified_samples_inside_their_segment():
  posts = jnp.asarray([[2.0, 2.5, 4.0]])
  t = autoint.stratified_in_segments(None, posts, 2, False)
  np.testing.assert_allclose(t, [[[2.125, 2.375], [2.875, 3.625]]])
  t = autoint.stratified_in_segments(jax.random.PRNGKey(0), posts, 4, True)
  assert np.all(t[0, 0] >= 2.0) and np.all(t[0, 0] <= 2.5)
  assert np.all(t[0, 1] >= 2.5) and np.all(t[0, 1] <= 4.0)


def test_piecewise_render_by_hand():
  posts = jnp.asarray([[2.0, 3.0, 5.0]])
  sigma_integral = jnp.asarray([[0.5, 4.0]])  # thickness per segment
  rgb_integral = jnp.asarray([[[0.0, 1.0, -1.0], [2.0, 2.0, 2.0]]])
  out = autoint.piecewise_render(sigma_integral, rgb_integral, posts, True)
  a0, a1 = 1 - np.exp(-0.5), 1 - np.exp(-4.0)
  w = np.asarray([a0, (1 - a0) * a1])
  sig = lambda x: 1 / (1 + np.exp(-np.asarray(x)))
  c0, c1 = sig([0.0, 1.0, -1.0]), sig([1.0, 1.0, 1.0])  # means: I / L
  want = w[0] * c0 + w[1] * c1 + (1 - w.sum())
  np.testing.assert_allclose(out["rgb"][0], want, rtol=1e-6)
  np.testing.assert_allclose(out["depth"][0], w[0] * 2.5 + w[1] * 4.0,
                             rtol=1e-6)
  np.testing.assert_allclose(out["acc"][0], w.sum(), rtol=1e-6)
  # A negative integral is no density (relu of the mean).
  out = autoint.piecewise_render(jnp.asarray([[-1.0, 0.0]]), rgb_integral,
                                 posts, False)
  np.testing.assert_allclose(out["acc"], [0.0])


@pytest.mark.parametrize("normalize", [True, False])
def test_grad_network_is_the_derivative_of_the_integral_network(normalize):
  c = tiny(autoint_shared_trunk=True, autoint_normalize_pe=normalize)
  rays = random_rays(6)
  model, params = model_and_params(c, rays)
  t = jnp.linspace(2.2, 3.8, 6)[:, None]
  bias = model.apply(params, rays.viewdirs, method="_ray_bias")

  def phi_at(t):
    points = rays.origins + t * rays.directions
    return model.apply(params, points, bias, method="antiderivative")

  grad = model.apply(params, rays.origins + t * rays.directions,
                     rays.directions, bias, method="derivative")
  h = 1e-2
  fd = (phi_at(t + h) - phi_at(t - h)) / (2 * h)
  scale = np.max(np.abs(grad))
  assert scale > 1e-3
  np.testing.assert_allclose(fd, grad, atol=2e-3 * scale)


def test_integral_network_integrates_the_grad_network():
  """Each segment's Phi(b) - Phi(a) against the midpoint rule on the grad
  network with 256 samples: the two renders of the same model."""
  c = tiny(autoint_samples_per_segment=256)
  rays = random_rays(5, seed=1)
  model, params = model_and_params(c, rays)
  posts = model.apply(params, rays, method="posts")
  assert np.ptp(np.diff(np.asarray(posts), axis=-1)) > 1e-3  # uneven
  bias = model.apply(params, rays.viewdirs, method="_ray_bias")
  k1 = posts.shape[1]
  points = rays.origins[:, None] + posts[..., None] * rays.directions[:, None]
  phi = model.apply(params, points.reshape(-1, 3),
                    jnp.repeat(bias, k1, axis=-2), method="antiderivative")
  exact = autoint.integrals_from_antiderivative(phi.reshape(5, k1, 4))
  t = autoint.stratified_in_segments(None, posts, 256, False)
  per = t.shape[1] * t.shape[2]
  pts = rays.origins[:, None, None] + t[..., None] * \
      rays.directions[:, None, None]
  deriv = model.apply(params, pts.reshape(-1, 3),
                      jnp.repeat(rays.directions, per, axis=0),
                      jnp.repeat(bias, per, axis=-2), method="derivative")
  quad = autoint.integrals_from_samples(deriv.reshape(5, 4, 256, 4), posts)
  np.testing.assert_allclose(quad, exact, atol=1e-4 * np.max(np.abs(exact)))
  # The model's own renders: "integral" (9 evaluations) and "grad".
  key = jax.random.PRNGKey(3)
  out_i = model.apply(params, rays, key, False)[0]
  model_g = autoint_backbone.AutoIntModel(config=tiny(
      autoint_samples_per_segment=256, autoint_eval="grad"))
  out_g = model_g.apply(params, rays, key, False)[0]
  np.testing.assert_allclose(out_g["rgb"], out_i["rgb"], atol=1e-4)
  np.testing.assert_allclose(out_g["depth"], out_i["depth"], atol=1e-3)


def test_training_gradients_reach_both_networks_and_the_sampler():
  c = tiny()
  rays = random_rays(4)
  model, params = model_and_params(c, rays)

  def loss(p):
    out = model.apply(p, rays, jax.random.PRNGKey(0), True)[0]
    return jnp.sum(out["rgb"]) + jnp.sum(out["depth"])

  grads = jax.grad(loss)(params)["params"]
  for name in ("first", "first_dir", "hidden_0", "sigma_out", "rgb_out"):
    assert np.all(np.isfinite(grads[name])), name
    assert np.max(np.abs(grads[name])) > 0, name
  assert np.max(np.abs(grads["sampler_out"]["kernel"])) > 0


def test_field_interface():
  c = tiny()
  rays = random_rays(3)
  model, params = model_and_params(c, rays)
  pts = jnp.asarray([[0.1, 0.2, 0.3], [-0.5, 0.0, 0.4]])
  sigma = model.apply(params, pts, method="density")
  assert sigma.shape == (2,) and np.all(sigma >= 0)
  dirs = jnp.asarray([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
  rgb = model.apply(params, pts, dirs, method="radiance")
  assert rgb.shape == (2, 3) and np.all((rgb > 0) & (rgb < 1))


@pytest.mark.parametrize("field,value,fragment", [
    ("autoint_segments", 0, "config.autoint_segments: 0 must be an integer"),
    ("autoint_samples_per_segment", 0, "config.autoint_samples_per_segment"),
    ("autoint_netdepth", -1, "config.autoint_netdepth: -1 must be"),
    ("autoint_eval", "fast", "config.autoint_eval: 'fast' is not one of"),
])
def test_config_errors(field, value, fragment):
  c = tiny(**{field: value})
  with pytest.raises(ConfigError, match=fragment):
    autoint_backbone.check_config(c)


def test_components_are_refused():
  from jaxnerf.methods.components import camera_refinement
  rays = random_rays(2)
  model = autoint_backbone.AutoIntModel(
      config=tiny(), components=(camera_refinement.COMPONENT,))
  with pytest.raises(ConfigError, match="the AutoInt backbone takes no "
                     "components"):
    model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1), False)
