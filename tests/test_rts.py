"""RtS (issue #36): the surface search, the re-attached points' implicit
derivative, the depth-aware splatting by hand, its derivative at a
silhouette, the method on its init sphere and bad settings."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.errors import ConfigError
from jaxnerf.render import rts

E2, E4 = math.exp(-2.0), math.exp(-4.0)  # the kernel 1 and sqrt 2 px away
COEF = 1.05 / (1 + 4 * E2 + 4 * E4)


def two_spheres(origins, directions, radius, centres):
  """f(t) [N, K] along rays of the union of spheres (min of their SDFs)."""
  def at(t):
    p = origins[:, None, None] + t[..., None, None] * directions[:, None,
                                                                  None]
    return jnp.min(jnp.linalg.norm(p - centres, axis=-1) - radius, -1)
  return at


def sphere_entry(origins, d, radius, centre):
  """|o + t d - c| = r, the nearer root: -b - sqrt(b^2 - c')."""
  o = origins - centre
  b = jnp.sum(o * d, -1)
  return -b - jnp.sqrt(b**2 - (jnp.sum(o**2, -1) - radius**2))


def test_the_search_finds_both_spheres_along_a_ray_and_carries_no_grad():
  """Two spheres of radius 0.4 at z = 0.8 and z = -0.8, rays from z = 3
  down the axis and slightly off it: layer 0 is the first sphere's entry,
  layer 1 the second's, to 1e-4 (48 even points, 6 secant steps); a ray
  that misses has no hit; d t / d radius of the search is zero."""
  centres = jnp.asarray([[0.0, 0.0, 0.8], [0.0, 0.0, -0.8]])
  origins = jnp.asarray([[0.0, 0.0, 3.0], [0.05, 0.1, 3.0], [2.0, 0, 3.0]])
  d = jnp.asarray([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
  t_min, t_max = jnp.full((3,), 1.0), jnp.full((3,), 5.0)

  def search(radius):
    return rts.surface_search(two_spheres(origins, d, radius, centres),
                              t_min, t_max, 48, 2, 6)

  hit, t = search(0.4)
  np.testing.assert_array_equal(hit, [[True, True], [True, True],
                                      [False, False]])
  for layer in range(2):
    exact = sphere_entry(origins[:2], d[:2], 0.4, centres[layer])
    np.testing.assert_allclose(t[:2, layer], exact, atol=1e-4)
  np.testing.assert_array_equal(t[2], [5.0, 5.0])
  grad = jax.grad(lambda r: jnp.sum(search(r)[1][:2]))(0.4)
  assert float(grad) == 0.0


@pytest.mark.parametrize("form", ["distance", "squared"])
def test_reattached_points_have_the_implicit_derivative(form):
  """On a sphere of radius r, whatever f's scale (|x| - r, or |x|^2 - r^2
  with |grad f| = 2r): x = x0 - f g / |g|^2 equals x0 on the surface and
  dx/dr = n, the unit normal (the surface moves out by dr along it)."""
  n = jnp.asarray([[0.6, 0.0, 0.8], [0.0, -1.0, 0.0], [0.48, 0.6, 0.64]])
  r = 0.7
  f_fn = ((lambda x, r: jnp.linalg.norm(x, axis=-1) - r) if form ==
          "distance" else (lambda x, r: jnp.sum(x * x, -1) - r * r))
  x0 = n * r
  g = jax.vmap(jax.grad(lambda x: f_fn(x, r)))(x0)
  reattached = lambda r: rts.reattach(x0, f_fn(x0, r), g)
  np.testing.assert_allclose(reattached(r), x0, atol=1e-6)
  dx_dr = jax.jacfwd(reattached)(r)
  np.testing.assert_allclose(dx_dr, n, atol=1e-5)
  # Off the surface (x0 0.1 out): the value is one Newton step towards it.
  off = n * (r + 0.1)
  g_off = jax.vmap(jax.grad(lambda x: f_fn(x, r)))(off)
  step = rts.reattach(off, f_fn(off, r), g_off)
  if form == "distance":
    np.testing.assert_allclose(step, x0, atol=1e-6)


def block(values, size):
  """[L, size + 2, size + 2, ...] arrays: pixel centres as positions."""
  c = jnp.arange(size + 2, dtype=jnp.float32) + 0.5
  xy = jnp.stack(jnp.meshgrid(c, c, indexing="xy"), -1)
  return jnp.broadcast_to(xy, values.shape[:3] + (2,))


def test_one_splat_spreads_its_gaussian_weights():
  """A single point on pixel (1, 1) of a 3x3 tile: coverage COEF at its
  pixel, COEF e^-2 at the 4 edge neighbours, COEF e^-4 at the corners, no
  normalisation (coverage < 1), colour premultiplied."""
  valid = jnp.zeros((1, 5, 5)).at[0, 2, 2].set(1.0)
  values = jnp.zeros((1, 5, 5, 1)).at[0, 2, 2, 0].set(0.5)
  depth = jnp.where(valid > 0, 2.0, rts.EMPTY_DEPTH)
  out = rts.splat(block(values, 3), depth, values, valid)
  expected = COEF * np.asarray([[E4, E2, E4], [E2, 1.0, E2], [E4, E2, E4]])
  np.testing.assert_allclose(out[..., 1], expected, rtol=1e-5)
  np.testing.assert_allclose(out[..., 0], 0.5 * expected, rtol=1e-5)
  assert rts.kernel_coefficient() == pytest.approx(COEF)


def test_a_whole_surface_is_normalised_to_its_weighted_colours():
  """Every pixel covered: coverage 1.05 everywhere is normalised to 1; a
  pixel's colour is the kernel-weighted mean of its neighbourhood's (a
  vertical stripe of 1 among 0: centre 1 / (1 + 4e^-2 + 4e^-4) ... )."""
  values = jnp.zeros((1, 5, 5, 1)).at[0, :, 2, 0].set(1.0)
  valid = jnp.ones((1, 5, 5))
  out = rts.splat(block(values, 3), jnp.full((1, 5, 5), 2.0), values, valid)
  np.testing.assert_allclose(out[..., 1], 1.0, rtol=1e-6)
  total = 1 + 4 * E2 + 4 * E4
  stripe = (1 + 2 * E2) / total  # its column: itself and above, below
  side = (E2 + 2 * E4) / total   # a neighbouring column
  np.testing.assert_allclose(out[..., 0], [[side, stripe, side]] * 3,
                             rtol=1e-5)


def test_a_nearer_layer_hides_the_farther_one():
  """Two layers everywhere, red at depth 1 in front of blue at depth 2:
  the image is red (blue's splats all go behind, under full coverage).
  Where the red layer stops (right of column 2 only blue remains): a
  red pixel at the edge is red over a little blue, a blue pixel beside it
  blue under some red (its left neighbours' red splats are in front of
  it), each by its coverage by hand."""
  red, blue = jnp.asarray([1.0, 0.0]), jnp.asarray([0.0, 1.0])
  values = jnp.stack([jnp.broadcast_to(red, (6, 6, 2)),
                      jnp.broadcast_to(blue, (6, 6, 2))])
  depth = jnp.stack([jnp.full((6, 6), 1.0), jnp.full((6, 6), 2.0)])
  valid = jnp.ones((2, 6, 6))
  out = rts.splat(block(values, 4), depth, values, valid)
  np.testing.assert_allclose(out[..., :2], jnp.broadcast_to(red, (4, 4, 2)),
                             atol=1e-6)
  np.testing.assert_allclose(out[..., 2], 1.0, atol=1e-6)
  # Columns 3.. of the block (tile columns 2, 3) have blue only, as layer 0.
  values = values.at[0, :, 3:].set(blue)
  depth = depth.at[0, :, 3:].set(2.0).at[1, :, 3:].set(rts.EMPTY_DEPTH)
  valid = valid.at[1, :, 3:].set(0.0)
  out = rts.splat(block(values, 4), depth, values, valid)
  # Tile column 1: red from its own and its left column (6 of 9 splats)
  # over blue (normalised to full coverage behind).
  cover = COEF * (1 + 3 * E2 + 2 * E4)
  np.testing.assert_allclose(out[1, 1, :2], [cover, 1 - cover], rtol=1e-5)
  # Tile column 2: the left column's red in front (3 splats); blue, its
  # own surface, from all 9 (the left column's behind the red), 1.05
  # normalised to 1.
  front = COEF * (E2 + 2 * E4)
  np.testing.assert_allclose(out[1, 2, :2], [front, 1 - front], rtol=1e-5)
  np.testing.assert_allclose(out[1, 3, :2], [0.0, 1.0], atol=1e-6)


def test_the_silhouette_has_the_finite_difference_derivative():
  """A surface covering columns 0-2 of a 6-pixel block (one layer), its
  points shifted right by s: d(image)/ds by autodiff equals the central
  difference (s = 0.1 px, step 1e-2), and it is non-zero only near the
  edge."""
  values = jnp.zeros((1, 6, 6, 1)).at[0, :, :3, 0].set(1.0)
  valid = jnp.zeros((1, 6, 6)).at[0, :, :3].set(1.0)
  depth = jnp.where(valid > 0, 2.0, rts.EMPTY_DEPTH)
  base_xy = block(values, 4)
  weights = jnp.arange(16.0).reshape(4, 4) + 1.0  # a generic image loss

  def image(s):
    xy = base_xy + jnp.asarray([s, 0.0])
    return rts.splat(xy, depth, values, valid)

  loss = lambda s: jnp.sum(weights * image(s)[..., 1])
  # 0.1 px: the edge pixel's coverage stays under 1 within the step (at
  # 0.3 it crosses 1, where the normalisation has a kink).
  s, h = 0.1, 1e-2
  auto = float(jax.grad(loss)(s))
  numeric = float((loss(s + h) - loss(s - h)) / (2 * h))
  assert auto == pytest.approx(numeric, rel=2e-3)
  assert abs(auto) > 1.0
  per_pixel = jax.jacfwd(lambda s: image(s)[..., 1])(s)
  assert np.all(np.asarray(per_pixel[:, 3]) == 0.0)  # beyond the edge's reach
  assert np.all(np.abs(np.asarray(per_pixel[:, 1:3])) > 0)


def tiny_rts(tmp_path, **overrides):
  from jaxnerf.engine import config as config_lib
  c = config_lib.method_config("rts")
  config_lib.scene(c, "blender", "data/lego_100", str(tmp_path / "run"))
  c.update(dict(hash_levels=4, hash_log2_size=10, hash_max_resolution=64,
                density_width=16, color_width=16, field_samples=8,
                importance_samples=4, root_samples=32, secant_steps=4,
                patch_size=8, render_tile=8, batch_size=64, **overrides))
  return c


def test_the_model_renders_its_init_sphere(tmp_path):
  """The untrained field is the sphere |x| = 0.75: a camera 4 units away
  (focal 40, 24 px) sees it in its middle at camera depth 4 - 0.75 with
  full coverage and the sphere's normal there; a corner tile sees nothing
  (white);
  rendering is differentiable (finite, non-zero parameter gradients)."""
  from jaxnerf import methods
  from jaxnerf.core import cameras as cameras_lib
  from jaxnerf.engine import training
  from jaxnerf.methods import base
  c = tiny_rts(tmp_path, rts_volume_fraction=0.0)  # RtS from the start
  method = methods.of(c)
  model = training.build_model(method, c, base.SceneInfo())
  c2w = np.eye(4, dtype=np.float32)[:3]
  c2w[2, 3] = 4.0  # at z = 4 looking down -z
  cams = jax.tree.map(jnp.asarray, cameras_lib.Cameras.create(
      c2w[None], 40.0, 24, 24, 2.0, 6.0))
  key = jax.random.PRNGKey(0)
  grid = cameras_lib.pixel_grid(24, 24, 0)
  tile = lambda y, x: jax.tree.map(lambda a: jnp.asarray(
      a[y:y + 8, x:x + 8].reshape(64, -1)), grid)
  progress = base.Progress.at(0, 1)
  variables = jax.jit(lambda px: model.init(
      key, cams, px, key, False, progress, method=model.render_pixels))(
          tile(8, 8))
  # Jitted: eager dispatch costs seconds on 2 cores.
  render = jax.jit(lambda v, px: model.apply(
      v, cams, px, key, False, progress, method=model.render_pixels)[0])
  out = render(variables, tile(8, 8))
  np.testing.assert_allclose(out["acc"], 1.0, atol=1e-5)
  centre = 3 * 8 + 3  # pixel (11, 11): its ray 0.5 px off the axis
  ray = np.asarray([-0.5, 0.5, -40.0]) / 40.0  # cast_rays' (x, -y, -1)
  unit = ray / np.linalg.norm(ray)
  t = float(sphere_entry(jnp.asarray([[0.0, 0.0, 4.0]]), jnp.asarray([unit]),
                         0.75, jnp.zeros(3))[0])
  assert float(out["depth"][centre]) == pytest.approx(t * unit[2] * -1,
                                                      abs=2e-3)
  normal = (np.asarray([0.0, 0.0, 4.0]) + t * unit) / 0.75
  # The splat averages the neighbourhood's normals, symmetric about it.
  np.testing.assert_allclose(out["normal"][centre], (normal + 1) / 2,
                             atol=2e-3)
  corner = render(variables, tile(0, 0))
  np.testing.assert_allclose(corner["acc"][:10], 0.0)
  np.testing.assert_allclose(corner["rgb"][:10], 1.0)

  def loss(params):
    maps = model.apply({**variables, "params": params}, cams, tile(8, 4),
                       key, True, base.Progress.at(1, 1),
                       method=model.render_pixels)[0]
    return jnp.mean((maps["rgb"] - 0.2) ** 2) + jnp.mean(maps["eikonal"])

  grads = jax.jit(jax.grad(loss))(variables["params"])
  norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
  assert all(np.isfinite(norms)) and max(norms) > 0


@pytest.mark.parametrize("field,value,message", [
    ("rts_layers", 0, "config.rts_layers: 0 must be an integer >= 1"),
    ("rts_volume_fraction", 1.5, "config.rts_volume_fraction: must be in "
     "[0, 1], got 1.5"),
    ("render_tile", 0, "config.render_tile: RtS splats into tiles of whole "
     "pixels; must be at least 1, got 0"),
    ("patch_stride", 2, "config.patch_stride: RtS splats into neighbouring "
     "pixels; must be 1, got 2"),
    ("surface_rendering", "unisurf", "config.surface_rendering: RtS trains "
     "first with NeuS's volume rendering; must be 'neus', got 'unisurf'"),
    ("background", "nerfpp", "config.background: 'nerfpp': RtS splats the "
     "SDF's surface points only (no background model); set "
     "--config.background=none"),
])
def test_bad_rts_fields_are_config_errors(tmp_path, field, value, message):
  from jaxnerf.methods import rts as rts_method
  c = tiny_rts(tmp_path)
  if field not in c:
    pytest.skip(f"no engine field {field}")
  with c.unlocked():
    c[field] = value
  with pytest.raises(ConfigError) as err:
    rts_method.check_config(c)
  assert str(err.value) == message
