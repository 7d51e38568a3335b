"""KiloNeRF's field of tiny networks: cells and local coordinates by hand,
the paper's parameter count, each point through its own network only
(against a per-point reference, at any block size), gradients reaching
only the networks that saw points, and the config checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.engine import config as config_lib
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding, kilo
from jaxnerf.methods import kilonerf


def tiny(**fields):
  c = config_lib.method_config("kilonerf")
  c.update(dict(kilo_resolution=2, kilo_width=8, kilo_dir_width=8,
                kilo_pos_freqs=2, kilo_dir_freqs=1, scene_bound=1.0))
  c.update(fields)
  return c


def test_cells_and_local_coordinates_by_hand():
  points = jnp.array([[0.5, -0.5, 0.25], [-1.0, 1.0, 0.0], [2.0, 0.0, -3.0]])
  cells, local = kilo.cells_and_local(points, 1.0, 2)
  # u = (p + 1) / 2 * 2 = p + 1: (1.5, 0.5, 1.25) -> cell (1, 0, 1), flat
  # 1 + 2 (0 + 2 * 1) = 5, local 2 (u - ijk) - 1 = (0, 0, -0.5).
  # (-1, 1, 0): u (0, 2, 1) -> ijk (0, 1 clipped, 1) -> 0 + 2 (1 + 2) = 6,
  # local (-1, 1, -1). (2, 0, -3), outside the box: u (3, 1, -2) clipped
  # to ijk (1, 1, 0), the border cell 1 + 2 (1 + 0) = 3.
  np.testing.assert_array_equal(cells, [5, 6, 3])
  np.testing.assert_allclose(local[:2], [[0, 0, -0.5], [-1, 1, -1]],
                             atol=1e-6)
  assert np.all(np.abs(local) <= 1)


def test_parameter_count_is_the_papers_network():
  c = config_lib.method_config("kilonerf")
  # The reference's late-feed network at its lego settings: 63 encoded
  # inputs (10 bands), 2 x 32, alpha + 32 features, (32 + 27) -> 32, rgb.
  hand = (63 * 32 + 32) + (32 * 32 + 32) + (32 * 33 + 33) + (
      59 * 32 + 32) + (32 * 3 + 3)
  assert kilo.network_parameters(c) == hand == 6212
  model = kilonerf.METHOD.build_model(c, None)
  params = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((4, 3)), method="density"))["params"]
  total = sum(np.prod(p.shape) for p in jax.tree.leaves(params))
  assert total == 16**3 * hand


def reference(params, c, points, dirs):
  """Each point through its own cell's network, one at a time (numpy)."""
  p = {k: np.asarray(v) for k, v in params.items()}
  cells, local = kilo.cells_and_local(jnp.asarray(points), c.scene_bound,
                                      c.kilo_resolution)
  x = np.asarray(encoding.positional_encoding(local, 0, c.kilo_pos_freqs))
  v = np.asarray(encoding.positional_encoding(jnp.asarray(dirs), 0,
                                              c.kilo_dir_freqs))
  dense = lambda name, g, h: h @ p[f"{name}_kernel"][g] + p[f"{name}_bias"][g]
  sigma, rgb = [], []
  for i, g in enumerate(np.asarray(cells)):
    h = x[i]
    for layer in range(c.kilo_layers):
      h = np.maximum(dense(f"trunk_{layer}", g, h), 0)
    out = dense("head", g, h)
    sigma.append(np.exp(out[0]))
    h = np.maximum(dense("direction", g, np.concatenate([out[1:], v[i]])), 0)
    rgb.append(1 / (1 + np.exp(-dense("rgb", g, h))))
  return np.array(sigma), np.array(rgb)


@pytest.mark.parametrize("block", [0, 1, 5])
def test_each_point_goes_through_its_own_network(block):
  c = tiny(kilo_block=block)
  model = kilonerf.METHOD.build_model(c, None)
  rng = np.random.default_rng(0)
  points = rng.uniform(-1, 1, (37, 3)).astype(np.float32)
  dirs = rng.normal(size=(37, 3)).astype(np.float32)
  dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
  variables = model.init(jax.random.PRNGKey(1), jnp.zeros((4, 3)),
                         method="density")
  # Distinct networks: random biases too, so a wrong network shows.
  params = jax.tree.map(
      lambda x: x + 0.3 * jax.random.normal(jax.random.PRNGKey(2), x.shape),
      variables["params"])
  variables = {**variables, "params": params}
  sigma = model.apply(variables, jnp.asarray(points), method="density")
  rgb = model.apply(variables, jnp.asarray(points), jnp.asarray(dirs),
                    method="radiance")
  want_sigma, want_rgb = reference(params["field"], c, points, dirs)
  np.testing.assert_allclose(sigma, want_sigma, rtol=1e-4)
  np.testing.assert_allclose(rgb, want_rgb, atol=1e-5)


def test_gradients_reach_only_the_networks_that_saw_points():
  c = tiny()
  model = kilonerf.METHOD.build_model(c, None)
  # Points in cells 0 (x, y, z < 0) and 7 (all > 0) only.
  points = jnp.array([[-0.5, -0.5, -0.5], [-0.2, -0.7, -0.1],
                      [0.5, 0.5, 0.5]])
  variables = model.init(jax.random.PRNGKey(0), points, method="density")
  params = variables["params"]
  loss = lambda p: jnp.sum(model.apply({**variables, "params": p}, points,
                                       jnp.ones_like(points) / 3**0.5,
                                       method="radiance"))
  grads = jax.grad(loss)(params)["field"]
  for name, g in grads.items():
    per_network = np.abs(np.asarray(g)).reshape(8, -1).sum(-1)
    if name.startswith(("direction", "rgb")):
      assert per_network[0] > 0 and per_network[7] > 0, name
    assert np.all(per_network[1:7] == 0), name


def test_bad_settings_are_one_line_config_errors():
  for field, value in (("kilo_resolution", 0), ("kilo_width", 0), ("kilo_layers", 0),
                       ("kilo_block", -1), ("kilo_pos_freqs", True)):
    with pytest.raises(ConfigError, match=f"config.{field}"):
      kilonerf.METHOD.build_model(tiny(**{field: value}), None).init(
          jax.random.PRNGKey(0), jnp.zeros((2, 3)), method="density")
  with pytest.raises(ConfigError, match="config.sampler"):
    kilonerf.METHOD.build_model(tiny(sampler="proposal"), None).init(
        jax.random.PRNGKey(0), jnp.zeros((2, 3)), method="density")


def test_points_left_out_cost_nothing_and_the_rest_are_unchanged():
  c = tiny(kilo_block=4)
  field = kilo.KiloField(c)
  rng = np.random.default_rng(3)
  points = jnp.asarray(rng.uniform(-1, 1, (50, 3)), jnp.float32)
  valid = jnp.asarray(np.arange(50) % 3 == 0)
  variables = field.init(jax.random.PRNGKey(0), points, method="density")
  sigma_all, (feat_all, _, _) = field.apply(variables, points,
                                            method="density")
  sigma, (feat, cells, _) = field.apply(variables, points, valid=valid,
                                        method="density")
  v = np.asarray(valid)
  np.testing.assert_allclose(sigma[v], sigma_all[v], rtol=1e-6)
  np.testing.assert_allclose(feat[v], feat_all[v], atol=1e-6)
  # Left out: zero raw outputs (density exp(0)).
  np.testing.assert_array_equal(sigma[~v], 1.0)
  np.testing.assert_array_equal(feat[~v], 0.0)
  # The rows the dispatch evaluates: the valid points' groups only,
  # each padded to blocks of 4.
  rows = lambda mask: int(kilo.grouped.blocked_apply(
      lambda p, x: x, {"w": jnp.zeros((8, 1))}, points, cells, 8, 4,
      mask)[1])
  padded = lambda counts: sum(-(-n // 4) * 4 for n in counts)
  assert rows(valid) == padded(np.bincount(np.asarray(cells)[v],
                                           minlength=8))
  assert rows(None) == padded(np.bincount(np.asarray(cells), minlength=8))
  assert rows(valid) < rows(None)
