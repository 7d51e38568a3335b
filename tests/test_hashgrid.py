"""Tests for jaxnerf.fields.networks.hashgrid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.fields import hashgrid


def _init(enc, seed=0):
  params = enc.init(jax.random.PRNGKey(seed), jnp.zeros((1, 3)))
  # Larger entries than the default init so interpolation errors show.
  table = jax.random.normal(jax.random.PRNGKey(seed + 1),
                            params["params"]["table"].shape)
  return {"params": {"table": table}}


def test_layout_dense_then_hashed():
  levels = hashgrid.level_layout(16, 19, 16, 2048)
  assert levels[0].resolution == 16 and levels[-1].resolution == 2048
  assert [lv.dense for lv in levels[:5]] == [True] * 5
  assert not any(lv.dense for lv in levels[5:])
  assert all(lv.size == (lv.resolution + 1)**3 for lv in levels if lv.dense)
  assert all(lv.size == 2**19 for lv in levels if not lv.dense)
  offsets = np.cumsum([0] + [lv.size for lv in levels[:-1]])
  assert [lv.offset for lv in levels] == list(offsets)


def test_dense_level_equals_grid_lookup_and_is_trilinear():
  # One dense level of 4 cells per axis: the table is the vertex grid.
  enc = hashgrid.HashGridEncoding(num_levels=1, features_per_level=2,
                                  log2_table_size=10, min_resolution=4,
                                  max_resolution=4)
  variables = _init(enc)
  grid = np.asarray(variables["params"]["table"]).reshape(5, 5, 5, 2)
  grid = grid.transpose(2, 1, 0, 3)  # flat index is x fastest: [x, y, z, F]
  # Exact at every vertex, including the far faces (x = 1).
  ijk = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1)
  ijk = ijk.reshape(-1, 3)
  out = enc.apply(variables, jnp.asarray(ijk / 4.0, jnp.float32))
  np.testing.assert_allclose(out, grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]],
                             atol=1e-6)
  # Trilinear inside cells: matches a direct numpy interpolation.
  x = np.random.default_rng(0).uniform(size=(64, 3)).astype(np.float32)
  s = x * 4
  c = np.minimum(np.floor(s), 3).astype(int)
  f = s - c
  expected = 0
  for corner in range(8):
    b = np.array([(corner >> d) & 1 for d in range(3)])
    w = np.prod(np.where(b, f, 1 - f), axis=-1)
    v = c + b
    expected = expected + w[:, None] * grid[v[:, 0], v[:, 1], v[:, 2]]
  np.testing.assert_allclose(enc.apply(variables, jnp.asarray(x)), expected,
                             atol=1e-5)


def test_linear_along_cell_edges_on_hashed_levels():
  enc = hashgrid.HashGridEncoding(num_levels=3, features_per_level=2,
                                  log2_table_size=8, min_resolution=8,
                                  max_resolution=64)
  assert [lv.dense for lv in enc.levels] == [False] * 3
  variables = _init(enc)
  res = enc.levels[-1].resolution
  # A segment along x inside one finest cell: every level is linear there
  # (coarser cells contain the finest one), so midpoints average endpoints.
  a = np.array([[3, 5, 7]], np.float32) / res
  b = a + np.array([[1, 0, 0]], np.float32) / res
  f = lambda p: np.asarray(enc.apply(variables, jnp.asarray(p)))
  for s in (0.25, 0.5, 0.8):
    np.testing.assert_allclose(f(a + s * (b - a)),
                               (1 - s) * f(a) + s * f(b), atol=1e-5)
  # Distinct vertices mostly land in distinct rows of a hashed level.
  idx, _ = hashgrid.corner_indices_and_weights(
      jnp.asarray(np.random.default_rng(1).uniform(size=(256, 3)),
                  jnp.float32), enc.levels)
  assert len(np.unique(np.asarray(idx[:, 2]))) > 200


def test_gradient_reaches_only_the_eight_corners_per_level():
  enc = hashgrid.HashGridEncoding(num_levels=2, features_per_level=2,
                                  log2_table_size=12, min_resolution=4,
                                  max_resolution=32)
  variables = _init(enc)
  x = jnp.asarray([[0.31, 0.52, 0.77]], jnp.float32)
  g = jax.grad(lambda v: jnp.sum(enc.apply(v, x)))(variables)
  rows = np.nonzero(np.any(np.asarray(g["params"]["table"]) != 0, -1))[0]
  assert len(rows) == 16
  np.testing.assert_allclose(np.sum(g["params"]["table"]), 2 * 2, rtol=1e-5)


def test_point_gradient_matches_plain_autodiff():
  """The custom VJP's gradients, to the table and through the weights to
  the points, are autodiff's of the plain gather formula."""
  levels = hashgrid.level_layout(3, 8, 4, 32)
  table = jax.random.normal(jax.random.PRNGKey(0),
                            (levels[-1].offset + levels[-1].size, 2))
  x = jax.random.uniform(jax.random.PRNGKey(1), (5, 3), minval=0.05,
                         maxval=0.95)
  probe = jax.random.normal(jax.random.PRNGKey(2), (5, 3, 2))

  def loss(lookup, table, x):
    idx, w = hashgrid.corner_indices_and_weights(x, levels)
    return jnp.sum(probe * lookup(table, idx, w))

  plain = lambda table, idx, w: jnp.sum(table[idx] * w[..., None], axis=-2)
  want = jax.grad(loss, argnums=(1, 2))(plain, table, x)
  got = jax.grad(loss, argnums=(1, 2))(
      hashgrid.interpolate, table, x)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  assert np.abs(want[1]).max() > 1e-3


def test_gradient_with_respect_to_points_matches_finite_differences():
  """Pose refinement and localisation differentiate the encoding in the
  points: inside a cell it is trilinear, so central differences with a
  step that stays in the cell are exact up to float error."""
  enc = hashgrid.HashGridEncoding(num_levels=3, features_per_level=2,
                                  log2_table_size=10, min_resolution=4,
                                  max_resolution=40)
  variables = _init(enc)
  x = jnp.asarray([[0.311, 0.523, 0.771], [0.64, 0.12, 0.457]], jnp.float32)
  probe = jax.random.normal(jax.random.PRNGKey(5), (2, 6))
  f = lambda p: jnp.sum(enc.apply(variables, p) * probe)
  grad = np.asarray(jax.grad(f)(x))
  h = 1e-3
  fd = np.zeros_like(grad)
  for i in range(2):
    for d in range(3):
      e = np.zeros((2, 3), np.float32)
      e[i, d] = h
      fd[i, d] = (f(x + e) - f(x - e)) / (2 * h)
  assert np.abs(grad).max() > 1.0
  np.testing.assert_allclose(grad, fd, rtol=2e-2, atol=2e-2)


def test_smooth_gradient_keeps_features_and_eases_their_gradient():
  """Heo et al.'s smooth gradient: the features are the trilinear ones;
  along axis a the gradient is the trilinear one times the cosine ease's
  slope (pi / 2) sin(pi f_a), since the weights are a product over axes and
  only the moving axis's factor is differentiated."""
  kwargs = dict(num_levels=1, features_per_level=2, log2_table_size=10,
                min_resolution=4, max_resolution=4)
  linear = hashgrid.HashGridEncoding(**kwargs)
  smooth = hashgrid.HashGridEncoding(**kwargs, smooth_gradient=True)
  variables = _init(linear)
  x = jnp.asarray([[0.311, 0.523, 0.771], [0.64, 0.12, 0.457]], jnp.float32)
  # (f - eased) + eased is f up to rounding.
  np.testing.assert_allclose(smooth.apply(variables, x),
                             linear.apply(variables, x), rtol=1e-6,
                             atol=1e-9)
  probe = jax.random.normal(jax.random.PRNGKey(5), (2, 2))
  grad = lambda enc: np.asarray(jax.grad(
      lambda p: jnp.sum(enc.apply(variables, p) * probe))(x))
  frac = np.asarray(x) * 4 - np.floor(np.asarray(x) * 4)
  want = grad(linear) * (np.pi / 2) * np.sin(np.pi * frac)
  assert np.abs(want).max() > 1e-3
  np.testing.assert_allclose(grad(smooth), want, rtol=1e-4, atol=1e-7)
  # At a vertex the eased slope is zero: the gradient is continuous across
  # the cell face instead of jumping between the two cells' slopes.
  vertex = jnp.asarray([[0.5, 0.523, 0.771]], jnp.float32)
  g = jax.grad(lambda p: jnp.sum(smooth.apply(variables, p) * probe[:1]))(
      vertex)
  assert abs(float(g[0, 0])) < 1e-6


def test_level_weights_scale_each_level():
  enc = hashgrid.HashGridEncoding(num_levels=3, features_per_level=2,
                                  log2_table_size=10, min_resolution=4,
                                  max_resolution=40)
  variables = _init(enc)
  x = jnp.asarray([[0.311, 0.523, 0.771]], jnp.float32)
  full = enc.apply(variables, x)
  weighted = enc.apply(variables, x, jnp.asarray([1.0, 0.5, 0.0]))
  np.testing.assert_allclose(weighted, full * np.repeat([1.0, 0.5, 0.0], 2),
                             atol=1e-7)
