"""NeuS's SDF network (jaxnerf/fields/sdf_mlp.py): weight normalisation and
the geometric init, against hand-derived statistics over initialisations;
the SDF backbone on it (`sdf_encoding="frequency"`) in world units."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.fields import encoding, sdf_mlp

# Points at |x| 0.5 .. 0.9 (unit-sphere units), the init radius 0.5.
POINTS = jnp.array([[0.5, 0.0, 0.0], [0.0, 0.7, 0.0], [0.4, 0.4, 0.4],
                    [0.0, 0.0, -0.9]])
RADIUS = 0.5
SEEDS = 64


def init_sdf(layers, width, skip, beta, seeds=SEEDS):
  """f [seeds, 4] of fresh networks at POINTS (6 frequencies of x)."""
  net = sdf_mlp.GeometricMLP(layers=layers, width=width, skip=skip,
                             out_features=4, radius=RADIUS,
                             softplus_beta=beta)
  enc = encoding.positional_encoding(POINTS, 0, 6)
  keys = jax.random.split(jax.random.PRNGKey(0), seeds)
  return np.asarray(jax.jit(jax.vmap(lambda k: net.apply(net.init(k, enc),
                                                         enc)[0]))(keys))


def test_weight_norm_dense_is_its_kernel_at_init_and_scale_invariant():
  """W = g v / |v| with g = |v| at init: the plain dense layer then; and
  scaling v changes nothing (only its direction counts)."""
  layer = sdf_mlp.WeightNormDense(5, bias_init=jax.nn.initializers.ones)
  x = jax.random.normal(jax.random.PRNGKey(1), (7, 3))
  params = layer.init(jax.random.PRNGKey(2), x)["params"]
  np.testing.assert_allclose(
      layer.apply({"params": params}, x),
      x @ params["kernel"] + params["bias"], rtol=1e-5, atol=1e-6)
  scaled = dict(params, kernel=3.0 * params["kernel"])
  np.testing.assert_allclose(layer.apply({"params": scaled}, x),
                             layer.apply({"params": params}, x), rtol=1e-5,
                             atol=1e-6)
  doubled = dict(params, scale=2.0 * params["scale"])
  np.testing.assert_allclose(
      layer.apply({"params": doubled}, x) - params["bias"],
      2.0 * (x @ params["kernel"]), rtol=1e-5, atol=1e-6)


def test_one_layer_geometric_init_is_the_sphere_sdf_plus_softplus_offset():
  """One hidden layer of d units, w ~ N(0, 2/d I), v = sqrt(pi/d), bias
  -r. With ReLU, E[relu(w.x)] = sigma / sqrt(2 pi), sigma = |x| sqrt(2/d),
  so E f = d v |x| sqrt(2/d) / sqrt(2 pi) - r = |x| - r, and Var f =
  d v^2 Var relu(w.x) = pi sigma^2 (1/2 - 1/(2 pi)) = |x|^2 (pi - 1) / d.
  softplus(beta z) / beta = relu(z) + log(1 + e^-beta|z|) / beta adds, per
  unit, about p(0) * 2 * (pi^2 / 12) / beta^2 (p the density of w.x), in
  all d v p(0) pi^2 / (6 beta^2) = d pi^2 / (12 beta^2 |x|): 0.042 at
  |x| = 0.5 for d = 256, beta = 100 (NeuS's), to a relative
  (1 / (beta sigma))^2 <= 0.05 of itself. The mean of 64 draws is checked
  to 4 of its standard errors plus that, and the spread to 30 % (the
  sample standard deviation's own error is 9 %)."""
  d = 256
  r = np.linalg.norm(POINTS, axis=-1)
  std = r * np.sqrt((np.pi - 1.0) / d)
  for beta, offset in ((100.0, d * np.pi**2 / (12 * 100.0**2 * r)),
                       (1e4, 0.0)):
    f = init_sdf(1, d, 0, beta)
    tol = 4 * std / np.sqrt(SEEDS) + 0.05 * offset + 1e-3
    np.testing.assert_array_less(np.abs(f.mean(0) - (r - RADIUS + offset)),
                                 tol)
    np.testing.assert_allclose(f.std(0), std, rtol=0.3)


def test_deep_geometric_init_stays_the_sphere_sdf():
  """4 layers of 128, the input again at layer 2 (neus_mlp_demo's
  network), ReLU-like softplus (beta 1e4: the offset is the one-layer
  test's). Given the last hidden layer h, f has mean |h| and variance
  |h|^2 (pi - 1) / d as above; each He layer keeps E|h|^2 and spreads it
  by a relative variance 5 / d (|h'|^2 = sum relu(z)^2, z ~ N(0, 2|h|^2 /
  d): Var = d (3/2 - 1/4) sigma^4 = 5 |h|^4 / d), so |h| / |x| has
  relative variance at most (L - 1) 5 / (4 d) and, by Jensen, mean at
  least 1 - (L - 1) 5 / (8 d). The bounds: the spread at most
  |x| sqrt((pi - 1) / d + (L - 1) 5 / (4 d)) (the skip's exact x only
  lowers it), the mean within 4 standard errors plus the Jensen gap."""
  layers, d = 4, 128
  r = np.linalg.norm(POINTS, axis=-1)
  bound = r * np.sqrt((np.pi - 1.0) / d + (layers - 1) * 5.0 / (4 * d))
  f = init_sdf(layers, d, 2, 1e4)
  assert np.all(f.std(0) < 1.2 * bound)
  gap = r * (layers - 1) * 5.0 / (8 * d)
  np.testing.assert_array_less(np.abs(f.mean(0) - (r - RADIUS)),
                               4 * bound / np.sqrt(SEEDS) + gap)


def test_the_fresh_network_reads_x_only():
  """The first layer's and the skip's weights on the encoding's sines and
  cosines start at zero: changing those columns changes nothing."""
  net = sdf_mlp.GeometricMLP(layers=3, width=16, skip=2, out_features=2,
                             radius=RADIUS)
  enc = encoding.positional_encoding(POINTS, 0, 6)
  variables = jax.jit(net.init)(jax.random.PRNGKey(3), enc)
  noise = jax.random.normal(jax.random.PRNGKey(4), enc.shape).at[:, :3].set(
      0.0)
  apply = jax.jit(net.apply)
  for a, b in zip(apply(variables, enc), apply(variables, enc + noise)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
