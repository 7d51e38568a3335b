"""jaxnerf/render/splatting.py: the tiled rasteriser against the dense
reference, its overflow counters, finite-difference gradients, the SH
colours and the EWA projection against hand-derived values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.core import cameras as cameras_lib
from jaxnerf.fields import encoding
from jaxnerf.render import splatting

W = H = 48
FOCAL = 60.0
C2W = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4.0]], np.float32)


def random_gaussians(num, seed=0, spread=1.0, scale=(0.02, 0.2)):
  k = jax.random.split(jax.random.PRNGKey(seed), 5)
  means = jax.random.uniform(k[0], (num, 3), minval=-spread, maxval=spread)
  log_scales = jnp.log(jax.random.uniform(k[1], (num, 3), minval=scale[0],
                                          maxval=scale[1]))
  quats = jax.random.normal(k[2], (num, 4))
  opacity = jax.random.uniform(k[3], (num,), minval=0.1, maxval=0.9)
  colours = jax.random.uniform(k[4], (num, 3))
  return means, log_scales, quats, opacity, colours


def tiles_of(width, height, tile, x0=0, y0=0):
  """[T, tile^2, 2] pixel centres of a grid of tiles from pixel (x0, y0),
  and the inverse map to an image."""
  x, y = np.meshgrid(np.arange(x0, x0 + width) + 0.5,
                     np.arange(y0, y0 + height) + 0.5)
  pix = np.stack([x, y], -1).reshape(height // tile, tile, width // tile,
                                     tile, 2)
  pix = pix.transpose(0, 2, 1, 3, 4).reshape(-1, tile * tile, 2)

  def image(maps):
    return np.asarray(maps).reshape(
        (height // tile, width // tile, tile, tile) + maps.shape[2:]
    ).swapaxes(1, 2).reshape((height, width) + maps.shape[2:])
  return jnp.asarray(pix), image


# Jitted: one compile per shape and setting, where eager dispatch compiles
# every operation of the rasteriser on its own (seconds on 2 cores).
render_dense = jax.jit(splatting.render_dense, static_argnums=(9, 10),
                       static_argnames=("antialias",))
render_tiles = jax.jit(splatting.render_tiles,
                       static_argnums=tuple(range(5, 13)))


def render_both(means, log_scales, quats, opacity, colours, binning,
                capacity, max_tiles=64, tile=16, tiles_per_step=0,
                reference=True, groups=1, antialias=False):
  """(the dense reference or None, the tiled render as images, its stats);
  with `antialias`, Mip-Splatting's 2D filter (0.1) in both."""
  covs = splatting.covariances(log_scales, quats)
  filters = dict(low_pass=0.1, antialias=True) if antialias else {}
  ref = render_dense(means, covs, opacity, colours, C2W, FOCAL, FOCAL,
                     W / 2, H / 2, W, H, **filters) if reference else None
  proj = splatting.project(means, covs, C2W, FOCAL, FOCAL, W / 2, H / 2, W, H,
                           **filters)
  pix, image = tiles_of(W, H, tile)
  out, stats = render_tiles(
      proj, opacity, colours, pix, jnp.zeros(2), W // tile, H // tile, tile,
      max_tiles, capacity, tiles_per_step, binning, groups)
  return ref, {k: image(v) for k, v in out.items()}, stats


@pytest.mark.parametrize("binning,groups,antialias", [
    ("dense", 1, False), ("sort", 1, False), ("dense", 4, True)])
def test_tiles_equal_the_dense_reference(binning, groups, antialias):
  """The tiled render (its lists made 4 tiles at a time, composited in one
  loop or in 4 groups of similar list lengths, 9 tiles padded to 12; with
  inria's dilation or Mip-Splatting's 2D filter) equals every Gaussian at
  every pixel."""
  g = random_gaussians(300)
  ref, out, stats = render_both(*g, binning=binning, capacity=300,
                                tiles_per_step=4, groups=groups,
                                antialias=antialias)
  assert float(ref["acc"].mean()) > 0.3  # a real picture, not background
  for key in ("rgb", "depth", "acc"):
    np.testing.assert_allclose(out[key], ref[key], atol=1e-5)
  assert int(stats["overflow"]) == 0 and int(stats["cut"]) == 0


def test_tiles_anywhere_equal_the_reference_dense_binning():
  """Dense binning tests pixel boxes, so tiles off the 16-pixel grid (a
  training patch at any offset) render the reference's pixels."""
  g = random_gaussians(200, seed=3)
  covs = splatting.covariances(g[1], g[2])
  ref = render_dense(g[0], covs, g[3], g[4], C2W, FOCAL, FOCAL, W / 2, H / 2,
                     W, H)
  proj = splatting.project(g[0], covs, C2W, FOCAL, FOCAL, W / 2, H / 2, W, H)
  pix, image = tiles_of(32, 16, 16, x0=7, y0=21)
  out, _ = render_tiles(proj, g[3], g[4], pix, jnp.zeros(2), 3, 3, 16, 64,
                        200)
  np.testing.assert_allclose(image(out["rgb"]), ref["rgb"][21:37, 7:39],
                             atol=1e-5)


def test_warped_tiles_equal_the_reference_at_their_pixels():
  """A distorted camera's tiles, its pixels moved onto the pinhole image
  plane (a strong barrel lens: up to 6 pixels at the corners), list every
  Gaussian of the rectangle their pixels span: the render equals every
  Gaussian composited at those points."""
  g = random_gaussians(600, seed=5, scale=(0.02, 0.08))
  covs = splatting.covariances(g[1], g[2])
  proj = splatting.project(g[0], covs, C2W, FOCAL, FOCAL, W / 2, H / 2, W, H)
  pix, _ = tiles_of(W, H, 16)
  x, y = cameras_lib.undistort((pix[..., 0] - W / 2) / FOCAL,
                               (pix[..., 1] - H / 2) / FOCAL,
                               jnp.array([-0.45, 0.1, 0.0, 0.0]))
  warped = jnp.stack([W / 2 + FOCAL * x, H / 2 + FOCAL * y], -1)
  assert 4 < float(jnp.abs(warped - pix).max()) < 8
  out, stats = render_tiles(proj, g[3], g[4], warped, jnp.zeros(2), W // 16,
                            H // 16, 16, 64, 600)
  order = jnp.argsort(jnp.where(proj.valid, proj.depth, jnp.inf))
  ref = splatting.composite(warped.reshape(-1, 2), proj.xy[order],
                            proj.conic[order], g[3][order], g[4][order],
                            proj.depth[order], proj.valid[order])
  assert float(ref["acc"].mean()) > 0.3
  for key in ("rgb", "acc"):
    np.testing.assert_allclose(out[key].reshape(ref[key].shape), ref[key],
                               atol=1e-5)
  assert int(stats["overflow"]) == 0


@pytest.mark.parametrize("binning", ["dense", "sort"])
def test_overflow_counts_a_crowded_tile(binning):
  # 40 small Gaussians stacked in front of one tile: capacity 8 drops 32
  # pairs there; the front-most 8 are kept.
  means = jnp.stack([jnp.full(40, -0.8), jnp.full(40, 0.8),
                     jnp.linspace(-0.5, 0.5, 40)], -1)
  log_scales = jnp.full((40, 3), jnp.log(0.01))
  quats = jnp.tile(jnp.array([1.0, 0, 0, 0]), (40, 1))
  opacity = jnp.full(40, 0.05)
  colours = jnp.ones((40, 3))
  _, _, stats = render_both(means, log_scales, quats, opacity, colours,
                            binning, capacity=8, reference=False)
  assert int(stats["overflow"]) >= 32
  if binning == "dense":
    # Two levels (a tile a group): the group's list keeps 4 x 8 of the 40,
    # the tile 8 of those; both drops are counted.
    _, _, stats = render_both(means, log_scales, quats, opacity, colours,
                              binning, capacity=8, reference=False,
                              tiles_per_step=1)
    assert int(stats["overflow"]) == 32
  _, _, stats = render_both(means, log_scales, quats, opacity, colours,
                            binning, capacity=64, reference=False)
  assert int(stats["overflow"]) == 0


def test_sort_binning_counts_cut_gaussians():
  # One Gaussian covering every tile of the 3 x 3 grid, at most 4 tiles.
  means = jnp.zeros((1, 3))
  log_scales = jnp.full((1, 3), jnp.log(1.0))
  quats = jnp.array([[1.0, 0, 0, 0]])
  _, _, stats = render_both(means, log_scales, quats, jnp.array([0.5]),
                            jnp.ones((1, 3)), "sort", capacity=4,
                            max_tiles=4, reference=False)
  assert int(stats["cut"]) == 1


def _loss(params, weights):
  means, log_scales, quats, logits, sh = params
  covs = splatting.covariances(log_scales, quats)
  colours = splatting.sh_colours(means, sh, jnp.asarray(C2W[:, 3]), 3)
  proj = splatting.project(means, covs, jnp.asarray(C2W), FOCAL, FOCAL,
                           W / 2, H / 2, W, H)
  pix, _ = tiles_of(W, H, 16)
  # Two groups of five tiles: the padded sixth adds no gradient.
  out, _ = splatting.render_tiles(proj, jax.nn.sigmoid(logits), colours, pix,
                                  jnp.zeros(2), 3, 3, 16, 64, 64,
                                  tiles_per_step=3, groups=2)
  return jnp.sum(out["rgb"] * weights) + jnp.sum(out["depth"] * weights[..., 0])


def test_gradients_match_finite_differences():
  """Every parameter's gradient against central differences, in float64
  (the 1/255 and 3-sigma cut-offs are steps; a tiny step avoids them)."""
  with jax.enable_x64(True):
    g = random_gaussians(12, seed=5, spread=0.6, scale=(0.1, 0.3))
    key = jax.random.PRNGKey(9)
    params = (g[0], g[1], g[2], jax.scipy.special.logit(g[3]),
              0.3 * jax.random.normal(key, (12, 16, 3)))
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
    weights = jax.random.uniform(jax.random.PRNGKey(2), (9, 256, 3),
                                 jnp.float64)
    f = jax.jit(lambda p: _loss(p, weights))
    grads = jax.jit(jax.grad(f))(params)
    eps = 1e-6
    names = ("means", "log_scales", "quats", "opacity", "sh")
    for i, name in enumerate(names):
      leaf = params[i]
      for j in range(3):
        d = jax.random.normal(jax.random.fold_in(key, 10 * i + j),
                              leaf.shape, jnp.float64)
        step = lambda s: tuple(p + s * d if k == i else p
                               for k, p in enumerate(params))
        numeric = (f(step(eps)) - f(step(-eps))) / (2 * eps)
        analytic = jnp.sum(grads[i] * d)
        assert abs(float(numeric)) > 1e-4, name  # the parameter matters
        np.testing.assert_allclose(float(analytic), float(numeric),
                                   rtol=1e-4, err_msg=name)


def test_loop_backward_equals_autodiff_of_the_dense_compositor():
  """composite_loop's hand-written backward (back to front from the final
  transmittance) against jax.grad of `composite`, in float64, on lists
  where pixels stop (transmittance below 1e-4), alphas hit the 0.99 cap,
  lists end at different lengths and a tile lists nothing."""
  with jax.enable_x64(True):
    t, p, k = 4, 16, 24
    keys = jax.random.split(jax.random.PRNGKey(4), 6)
    pixels = jax.random.uniform(keys[0], (t, p, 2), jnp.float64) * 6
    xy = jax.random.uniform(keys[1], (t, k, 2), jnp.float64) * 6
    conic = jnp.broadcast_to(jnp.array([0.3, 0.05, 0.2]), (t, k, 3))
    # Tile 0: opaque (its pixels stop); tile 1: some alphas over the cap;
    # tile 2: faint; tile 3: an empty list.
    opacity = jax.random.uniform(keys[2], (t, k), jnp.float64) * jnp.array(
        [[1.0], [0.6], [0.1], [0.5]]) + jnp.array([[0.0], [0.45], [0], [0]])
    rgb = jax.random.uniform(keys[3], (t, k, 3), jnp.float64)
    depth = jax.random.uniform(keys[4], (t, k), jnp.float64)
    length = jnp.array([24, 17, 9, 0])
    mask = jnp.arange(k)[None] < length[:, None]
    weights = jax.random.normal(keys[5], (t, p, 5), jnp.float64)

    def loss(fn, *lists):
      out = fn(pixels, *lists, mask)
      return (jnp.sum(out["rgb"] * weights[..., :3]) +
              jnp.sum(out["depth"] * weights[..., 3]) +
              jnp.sum(out["acc"] * weights[..., 4]))

    lists = (xy, conic, opacity, rgb, depth)
    dense = jax.vmap(splatting.composite)
    # The loop reads the Gaussians as one [G, ...] table through each
    # tile's ids: here G = t k, tile i listing rows i k .. i k + k - 1.
    ids = jnp.arange(t * k).reshape(t, k)

    def looped(pixels, *args):
      *lists, mask = args
      flat = [x.reshape((t * k,) + x.shape[2:]) for x in lists]
      return splatting.composite_loop(pixels, ids, mask, *flat)

    out_loop = looped(pixels, *lists, mask)
    out_dense = dense(pixels, *lists, mask)
    for name in ("rgb", "depth", "acc"):
      np.testing.assert_allclose(out_loop[name], out_dense[name], atol=1e-12)
    acc = np.asarray(out_dense["acc"])
    # Without the stop rule tile 0's pixels would fall below 1e-4.
    alphas = splatting._alphas(pixels[0], xy[0], conic[0], opacity[0],
                               mask[0])
    assert float(jnp.min(jnp.prod(1 - alphas, -1))) < 1e-4
    assert acc[3].max() == 0
    assert float(jnp.max(jnp.where(mask, opacity, 0))) > 0.99  # capped
    args = tuple(range(5))
    got = jax.grad(lambda *a: loss(looped, *a), args)(
        *lists)
    want = jax.grad(lambda *a: loss(dense, *a), args)(*lists)
    for g, w, name in zip(got, want, ("xy", "conic", "opacity", "rgb",
                                      "depth")):
      assert float(jnp.max(jnp.abs(w))) > 1e-3, name
      np.testing.assert_allclose(g, w, atol=1e-9, err_msg=name)


def test_first_set_equals_nonzero():
  """Rows of every density (none, sparse, dense, all), a length that is
  not a multiple of 32, fewer and more True entries than the capacity."""
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  inside = jnp.concatenate([
      jnp.zeros((1, 1003), bool), jnp.ones((1, 1003), bool),
      jax.random.bernoulli(keys[0], 0.02, (3, 1003)),
      jax.random.bernoulli(keys[1], 0.6, (3, 1003))])
  # The sparse rows alone: every row far shorter than the capacity (the
  # search over the first eighth of the slots).
  for rows, capacity in ((inside, 5), (inside, 64), (inside, 1003),
                         (inside[2:5], 1003)):
    positions, count = splatting.first_set(rows, capacity)
    assert positions.shape == (rows.shape[0], capacity)
    for row, got, n in zip(np.asarray(rows), np.asarray(positions),
                           np.asarray(count)):
      want = np.flatnonzero(row)
      assert n == len(want)
      kept = min(capacity, len(want))
      np.testing.assert_array_equal(got[:kept], want[:kept])
      assert (got[kept:] == row.size).all()


def test_projection_matches_a_hand_computed_covariance():
  # An axis-aligned Gaussian at (x, y, -z) in camera space: J = [[f/z, 0,
  # f x / z^2], [0, -f/z, -f y / z^2]], cov2d = J diag(s^2) J^T + 0.3 I.
  sx, sy, sz = 0.1, 0.2, 0.3
  x, y, z = 0.2, -0.1, 3.0
  camera_mean = np.array([x, y, -z])
  world_mean = camera_mean + C2W[:, 3]
  covs = splatting.covariances(jnp.log(jnp.array([[sx, sy, sz]])),
                               jnp.array([[1.0, 0, 0, 0]]))
  proj = splatting.project(jnp.asarray(world_mean[None], jnp.float32), covs,
                           jnp.asarray(C2W), FOCAL, FOCAL, W / 2, H / 2, W, H)
  j = np.array([[FOCAL / z, 0, FOCAL * x / z**2],
                [0, -FOCAL / z, -FOCAL * y / z**2]])
  cov2d = j @ np.diag([sx**2, sy**2, sz**2]) @ j.T + 0.3 * np.eye(2)
  inv = np.linalg.inv(cov2d)
  np.testing.assert_allclose(proj.conic[0], [inv[0, 0], inv[0, 1], inv[1, 1]],
                             rtol=1e-5)
  np.testing.assert_allclose(proj.xy[0], [W / 2 + FOCAL * x / z,
                                          H / 2 - FOCAL * y / z], rtol=1e-6)
  np.testing.assert_allclose(proj.depth[0], z, rtol=1e-6)
  lam = np.linalg.eigvalsh(cov2d).max()
  assert float(proj.radius[0]) == np.ceil(3 * np.sqrt(lam))
  # The pixel a ray through the mean passes is where the mean projects.
  cams = cameras_lib.Cameras.create(np.concatenate(
      [C2W, [[0, 0, 0, 1]]])[None], FOCAL, W, H, 0.1, 10.0)
  px = proj.xy[0]
  rays = cameras_lib.cast_rays(cams, cameras_lib.Pixels(
      xy=np.asarray(px)[None], camera_index=np.zeros((1, 1), np.int32),
      lossmult=np.ones((1, 1), np.float32)))
  hit = rays.origins[0] + z * rays.directions[0]
  np.testing.assert_allclose(hit, world_mean, atol=1e-5)
  # Mip-Splatting's 2D filter: the conic of cov2d + s I, and the opacity
  # scaled by sqrt(det(cov2d) / det(cov2d + s I)).
  aa = splatting.project(jnp.asarray(world_mean[None], jnp.float32), covs,
                         jnp.asarray(C2W), FOCAL, FOCAL, W / 2, H / 2, W, H,
                         low_pass=0.1, antialias=True)
  raw = cov2d - 0.3 * np.eye(2)
  inv = np.linalg.inv(raw + 0.1 * np.eye(2))
  np.testing.assert_allclose(aa.conic[0], [inv[0, 0], inv[0, 1], inv[1, 1]],
                             rtol=1e-5)
  np.testing.assert_allclose(aa.opacity_scale[0], np.sqrt(
      np.linalg.det(raw) / np.linalg.det(raw + 0.1 * np.eye(2))), rtol=1e-5)
  assert float(proj.opacity_scale[0]) == 1.0


def test_antialias_keeps_a_gaussians_integral(monkeypatch):
  """One Gaussian of 0.3 pixels on screen: with the 2D filter its alpha
  summed over the pixels is opacity 2 pi sqrt(det cov2d) whatever the
  filter's size; inria's dilation instead grows it with the filter (here
  6.6x and 12x). The support's cuts (the 3-sigma ellipse, alpha 1/255)
  are lifted, so the sums are the integrals."""
  monkeypatch.setattr(splatting, "MIN_ALPHA", 0.0)
  monkeypatch.setattr(splatting, "MAX_MAHALANOBIS", 1e9)
  sigma, opacity = 0.3, 0.9  # pixels; world scale sigma z / f on the axis
  covs = splatting.covariances(jnp.full((1, 3), np.log(sigma * 4.0 / FOCAL)),
                               jnp.array([[1.0, 0, 0, 0]]))
  integral = opacity * 2 * np.pi * sigma**2
  for antialias in (True, False):
    # A jit of its own (a new function): traced with the constants above.
    render = jax.jit(lambda low_pass, aa=antialias: splatting.render_dense(
        jnp.zeros((1, 3)), covs, jnp.array([opacity]), jnp.ones((1, 3)),
        C2W, FOCAL, FOCAL, W / 2, H / 2, W, H, low_pass=low_pass,
        antialias=aa))
    for low_pass in (0.5, 1.0):
      out = render(low_pass)
      grown = 1.0 if antialias else (sigma**2 + low_pass) / sigma**2
      np.testing.assert_allclose(float(out["acc"].sum()), integral * grown,
                                 rtol=1e-4, err_msg=f"{antialias} {low_pass}")


def test_quaternion_rotation_is_a_rotation():
  q = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
  r = splatting.quaternion_to_rotation(q)
  np.testing.assert_allclose(r @ jnp.swapaxes(r, -1, -2),
                             np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-5)
  np.testing.assert_allclose(jnp.linalg.det(r), 1.0, atol=1e-5)
  # 90 degrees about z: x -> y.
  half = np.sqrt(0.5)
  np.testing.assert_allclose(
      splatting.quaternion_to_rotation(jnp.array([half, 0, 0, half])) @
      jnp.array([1.0, 0, 0]), [0, 1, 0], atol=1e-6)


def test_sh_colours_closed_form():
  """Degree 1: 0.5 + C0 k0 - C1 y k1 + C1 z k2 - C1 x k3 (inria's signs),
  clamped at 0; bands switched off by band_weights contribute nothing."""
  means = jnp.array([[0.6, 0.0, 0.8], [0.0, -1.0, 0.0]])
  origin = jnp.zeros(3)
  sh = jnp.zeros((2, 4, 3)).at[:, 0, 0].set(0.3).at[:, 1, 1].set(0.5).at[
      :, 3, 2].set(-0.4)
  c0, c1 = 0.28209479177387814, 0.4886025119029199
  out = splatting.sh_colours(means, sh, origin, 1)
  for i, (x, y, z) in enumerate(np.asarray(means)):
    np.testing.assert_allclose(
        out[i], [0.5 + c0 * 0.3, max(0.0, 0.5 - c1 * y * 0.5),
                 0.5 - c1 * x * -0.4], rtol=1e-6)
  off = splatting.sh_colours(means, sh, origin, 1,
                             jnp.array([1.0, 0.0, 0.0, 0.0]))
  np.testing.assert_allclose(off[:, 1:], 0.5, rtol=1e-6)
  assert encoding.sh_basis_size(3) == 16
