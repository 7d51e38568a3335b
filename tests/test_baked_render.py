"""The baked renderer: lookups, SH colour, the three-pass renderer against
the one-pass differentiable one and against the analytic field."""

import jax
import jax.numpy as jnp
import numpy as np

from analytic_fields import SphereField
from jaxnerf.baked import bake as baking, render
from jaxnerf.core import cameras, metrics
from jaxnerf.core.rays import Rays
from jaxnerf.fields import encoding
from jaxnerf.render import compositing
from test_baking import ring_rays


def full_scene(density, sh, bound=1.0, white=True):
  """A BakedScene with every block kept, from vertex values
  density [R + 1]^3 and sh [R + 1]^3 x 3 x K (one block of R cells)."""
  return baking.BakedScene(
      block_index=np.zeros((1, 1, 1), np.int32), density=density[None],
      sh=sh[None], bound=bound, step_ratio=0.5, white_bkgd=white,
      method="test", step=0)


def test_lookup_is_trilinear_and_zero_in_empty_blocks():
  r = 8
  v = baking.vertex_coordinates(r, 1.0)
  x, y, z = np.meshgrid(v, v, v, indexing="ij")
  density = (1 + x + 2 * y - z).astype(np.float32) + 5
  sh = np.zeros((r + 1,) * 3 + (3, 1), np.float32)
  sh[..., 0, 0] = x
  # Two blocks of 4 cells per axis, only the lower-x half kept.
  scene = baking.BakedScene(
      block_index=np.full((2, 2, 2), -1, np.int32), density=None, sh=None,
      bound=1.0, step_ratio=0.5, white_bkgd=True, method="t", step=0)
  blocks = np.argwhere(np.ones((1, 2, 2), bool))
  scene.block_index[tuple(blocks.T)] = np.arange(4)
  xi, yi, zi = baking.block_vertex_indices(blocks, 4)
  scene.density = density[xi[:, :, None, None], yi[:, None, :, None],
                          zi[:, None, None, :]]
  scene.sh = sh[xi[:, :, None, None], yi[:, None, :, None],
                zi[:, None, None, :]]
  grid = render.BakedGrid.from_scene(scene)
  points = jnp.asarray([[-0.3, 0.2, 0.77], [-0.9, -0.1, -0.5],
                        [0.4, 0.0, 0.0], [1.5, 0.0, 0.0]])
  d = render.density_at(grid, points)
  p = np.asarray(points)
  np.testing.assert_allclose(d[:2], 6 + p[:2, 0] + 2 * p[:2, 1] - p[:2, 2],
                             rtol=1e-5)
  assert float(d[2]) == 0.0 and float(d[3]) == 0.0  # empty block, outside
  np.testing.assert_allclose(render.sh_at(grid, points)[:2, 0, 0],
                             p[:2, 0], atol=1e-6)


def test_rgb_from_sh_is_the_sigmoid_of_the_sh_sum():
  sh = jnp.asarray(np.random.RandomState(1).normal(size=(4, 3, 9)),
                   jnp.float32)
  dirs = jnp.asarray([[0, 0, 1.0], [1.0, 0, 0], [0, 0.6, 0.8], [0, -1.0, 0]])
  basis = encoding.spherical_harmonics(dirs, 2)
  expected = 1 / (1 + np.exp(-np.einsum("mck,mk->mc", sh, basis)))
  np.testing.assert_allclose(render.rgb_from_sh(sh, dirs), expected,
                             rtol=1e-5)


def test_constant_medium_renders_the_analytic_opacity_and_colour():
  """A box of constant density sigma and DC colour c: a ray crossing length
  L has opacity 1 - exp(-sigma L) and colour sigmoid(c Y_0) over white."""
  r, sigma, c = 8, 2.0, 1.5
  density = np.full((r + 1,) * 3, sigma, np.float32)
  sh = np.zeros((r + 1,) * 3 + (3, 1), np.float32)
  sh[..., :, 0] = c
  grid = render.BakedGrid.from_scene(full_scene(density, sh)) \
      .to_device()
  origins = np.array([[-3.0, 0.1, 0.3], [0.2, -4.0, 0.05]], np.float32)
  directions = np.array([[1.0, 0, 0], [0, 1.0, 0]], np.float32)
  rays = jax.tree.map(jnp.asarray,
                      Rays.create(origins, directions, 0.0, 10.0))
  out = render.Renderer(grid, chunk=4).render_rays(rays)
  acc = 1 - np.exp(-sigma * 2.0)
  colour = 1 / (1 + np.exp(-c * encoding._SH_C0))
  np.testing.assert_allclose(out["acc"], [acc, acc], rtol=1e-4)
  np.testing.assert_allclose(out["rgb"], colour * acc + (1 - acc), rtol=1e-3)
  # Expected depth: the first ray enters at t = 2 (origin x = -3).
  mean_t = 2 + (1 - np.exp(-2 * sigma) * (1 + 2 * sigma)) / sigma / acc
  np.testing.assert_allclose(out["depth"][0] / out["acc"][0], mean_t,
                             rtol=1e-2)


def test_fast_renderer_matches_the_one_pass_renderer_and_the_field():
  field = SphereField(radius=0.5, own_sh=True)
  cams, rays = ring_rays(num_views=8, size=32)
  scene = baking.bake(field, {}, rays, 1.0, True, "sphere", 0,
                      baking.BakeOptions(resolution=32, block_size=4,
                                         chunk=8192), log=lambda s: None)
  grid = render.BakedGrid.from_scene(scene).to_device()
  view = cameras.image_rays(cams, 1)
  fast = render.Renderer(grid, chunk=32 * 32).render_image(view)
  # The one-call marcher against the host-synchronised rounds it replaced:
  # the same samples and weights (float sums of the optical depth instead
  # of fixed point: differences of float rounding only). Chunks of 384
  # rays (the last one padded with empty rays) in tiles of 64 rays and 128
  # coloured samples: many tiles a round.
  rounds = render.RoundsRenderer(grid, chunk=32 * 32).render_image(view)
  padded = render.Renderer(grid, chunk=384, ray_tile=64, colour_tile=128,
                           density_tile=256).render_image(view)
  # The rounds renderer reads every sample; the marcher skips the cells
  # with no positive corner (most of a kept block's cells outside the
  # sphere), and the padded one packs the rest in tiles of 256 samples.
  live = render.live_cells(grid)
  assert 0.05 < float(jnp.mean(live)) < 0.6
  for key in ("rgb", "acc", "depth"):
    np.testing.assert_allclose(fast[key], rounds[key], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(padded[key], fast[key], rtol=1e-6, atol=1e-6)
  flat = jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, x.shape[-1])),
                      view)
  # The one-gather test of the 2 x 2 x 2 blocks (one axis at a time) picks
  # the same steps, at steps of 4, 4 and 1 fine samples.
  for step_ratio, factor in ((1.0, 4), (2.0, 2), (3.0, 1)):
    g = grid.replace(step_ratio=step_ratio)
    assert g.coarse_factor == factor
    mask = jax.jit(render.coarse_mask, static_argnums=2)(
        g, flat, render.num_coarse_steps(g))
    np.testing.assert_array_equal(
        render.coarse_mask_boxes(g, render.occupied_boxes(g), flat,
                                 render.num_coarse_steps(g)), mask)
    assert mask.any()
  # Early termination at transmittance 1e-2 (a ray stops before a round
  # once below it) leaves out less than 1e-2 of opacity, and of colour
  # against the white background. Rounds of one block: four (the default)
  # hold the whole sphere, leaving no round to skip.
  stopped = render.Renderer(grid, chunk=32 * 32, stop_eps=1e-2, per_round=1
                            ).render_image(view)
  for key in ("rgb", "acc"):
    assert np.abs(stopped[key] - fast[key]).max() < 1e-2
  assert np.abs(stopped["acc"] - fast["acc"]).max() > 1e-4  # it stopped
  # Deferred shading at the colour threshold: the same colour plus the
  # diffuse colour of the samples below it.
  deferred = render.Renderer(grid, chunk=32 * 32, deferred=render.COLOUR_EPS
                             ).render_image(view)
  np.testing.assert_allclose(deferred["acc"], fast["acc"], atol=1e-6)
  np.testing.assert_allclose(deferred["rgb"], fast["rgb"], atol=2e-3)
  samples = jax.jit(render.fine_samples, static_argnums=3)(
      grid, flat, mask, int(mask.sum()))
  assert bool(samples.ray_complete.all())
  slow = jax.jit(render.render_packed)(grid, flat, samples)
  # Early termination leaves out at most COLOUR_EPS of opacity.
  np.testing.assert_allclose(fast["acc"].reshape(-1), slow["acc"],
                             atol=render.COLOUR_EPS)
  # Samples below COLOUR_EPS skip the colour: a small difference.
  np.testing.assert_allclose(fast["rgb"].reshape(-1, 3), slow["rgb"],
                             atol=2e-3)
  # Against the analytic field, densely sampled (512 samples per ray).
  @jax.jit
  def reference(rays):
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 512),
                         (rays.origins.shape[0], 512))
    pts = rays.origins[:, None] + t[..., None] * rays.directions[:, None]
    sig = field.apply({}, pts.reshape(-1, 3), method="density")
    rgb = field.apply({}, pts.reshape(-1, 3),
                      jnp.repeat(rays.viewdirs, 512, 0), method="radiance")
    return compositing.volumetric_rendering(
        rgb.reshape(t.shape + (3,)), sig.reshape(t.shape), t,
        rays.directions, True)

  ref = reference(flat)
  psnr = float(metrics.psnr(fast["rgb"].reshape(-1, 3), ref["rgb"]))
  assert psnr > 25.0, psnr
  # Sphere rays hit, others stay white.
  assert fast["acc"].max() > 0.99 and fast["acc"].min() < 1e-3


def test_compact_is_nonzero():
  """Against jnp.nonzero, at a size that is not a multiple of the rows."""
  rng = np.random.RandomState(3)
  size = 1000
  fn = jax.jit(render.compact)
  for p in (0.3, 0.0, 1.0, 0.01):
    mask = jnp.asarray(rng.rand(size) < p)
    got, count = fn(mask)
    (want,) = jnp.nonzero(mask, size=size, fill_value=size)
    np.testing.assert_array_equal(got, want)
    assert int(count) == int(mask.sum())


def test_next_steps_walks_the_occupied_bits_in_order():
  """next_steps on words packed as occupied_bits packs them, against the
  set indices, from cursors inside, between and past the words."""
  rng = np.random.RandomState(4)
  mask = rng.rand(6, 40) < 0.3
  mask[1] = False
  mask[2, 16:] = True  # a word boundary
  words = jnp.einsum("nwb,b->nw", jnp.asarray(np.pad(mask, ((0, 0), (0, 8)))
                                              .reshape(6, 3, 16), jnp.float32),
                     2.0**jnp.arange(16)).astype(jnp.int32)
  start = jnp.asarray([0, 5, 15, 17, 39, 40], jnp.int32)
  steps, found, after = jax.jit(render.next_steps, static_argnums=2)(
      words, start, 4)
  for i in range(6):
    want = [c for c in np.flatnonzero(mask[i]) if c >= int(start[i])][:4]
    assert list(np.asarray(steps[i])[np.asarray(found[i])]) == want
    assert int(after[i]) == (want[-1] + 1 if want else int(start[i]))
