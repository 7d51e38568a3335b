"""DeRF (jaxnerf/methods/derf.py): the soft Voronoi weights, the grouped
(mixture-of-experts) evaluation of jaxnerf/fields/grouped.py against a
dense reference, gradients to the sites, the Voronoi loss, equal total
parameters, and bad settings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import EMBEDDED_LEGO
from jaxnerf.core.rays import Rays
from jaxnerf.engine import config as config_lib, training
from jaxnerf.errors import ConfigError
from jaxnerf.fields import grouped
from jaxnerf.methods.backbones import derf

TINY = dict(num_coarse_samples=8, num_fine_samples=8, netdepth=2,
            netwidth=32, netwidth_condition=16, skip_layer=0)


def tiny_config(tmp_path, **fields):
  c = config_lib.method_config("derf")
  config_lib.scene(c, "blender", EMBEDDED_LEGO, str(tmp_path / "run"))
  c.update(dict(TINY, **fields))
  c.batch_size = 32
  return c


def test_soft_weights_sum_to_one_and_tend_to_the_hard_partition():
  points = jax.random.uniform(jax.random.PRNGKey(0), (500, 3), minval=-1.5,
                              maxval=1.5)
  sites = jax.random.uniform(jax.random.PRNGKey(1), (6, 3), minval=-1,
                             maxval=1)
  cells = np.asarray(derf.voronoi_cells(points, sites))
  dist = np.linalg.norm(np.asarray(points)[:, None] - np.asarray(sites)[None],
                        axis=-1)
  np.testing.assert_array_equal(cells, np.argmin(dist, axis=1))
  # Points at least 0.05 from a cell boundary (distance gap 0.1).
  part = np.sort(dist, axis=1)
  clear = part[:, 1] - part[:, 0] > 0.1
  assert clear.sum() > 300
  previous = None
  for beta in (1.0, 10.0, 100.0, 1000.0):
    w = np.asarray(derf.voronoi_weights(points, sites, jnp.float32(beta)))
    assert w.shape == (500, 6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(w, axis=1), cells)
    own = w[np.arange(500), cells][clear]
    if previous is not None:
      assert np.all(own >= previous - 1e-6)
    previous = own
  assert own.min() > 0.999  # beta 1000: hard on clear points


def dense_reference(kernel, bias, x, groups):
  """Each row through its own group's layer, one at a time."""
  return np.stack([np.tanh(x[i] @ kernel[g] + bias[g])
                   for i, g in enumerate(groups)])


@pytest.mark.parametrize("crowded", [False, True])
def test_grouped_evaluation_equals_each_input_on_its_own_group(crowded):
  rng = np.random.RandomState(0)
  num_groups, m = 5, 200
  kernel = rng.normal(size=(num_groups, 7, 4)).astype(np.float32)
  bias = rng.normal(size=(num_groups, 4)).astype(np.float32)
  x = rng.normal(size=(m, 7)).astype(np.float32)
  if crowded:  # 150 of 200 inputs in group 3: far past its capacity of 50
    groups = np.where(np.arange(m) < 150, 3, rng.randint(0, num_groups, m))
  else:  # exactly 40 a group, shuffled
    groups = rng.permutation(np.repeat(np.arange(num_groups), m // num_groups))
  cap = grouped.capacity(m, num_groups, 1.25)
  assert cap == 50
  fn = lambda buffer: jnp.tanh(grouped.stacked_dense(kernel, bias, buffer))
  out, d = jax.jit(lambda x, g: grouped.grouped_apply(
      fn, x, g, num_groups, cap))(x, groups)
  np.testing.assert_allclose(out, dense_reference(kernel, bias, x, groups),
                             atol=1e-5)
  np.testing.assert_array_equal(d.counts, np.bincount(groups, minlength=5))
  count3 = int(np.sum(groups == 3))
  if crowded:
    assert int(d.overflow) == sum(max(int(n) - cap, 0)
                                  for n in np.bincount(groups))
    assert int(d.overflow) >= count3 - cap > 0
    assert int(d.rounds) == -(-count3 // cap) == 4
  else:
    assert int(d.overflow) == 0 and int(d.rounds) == 1
  # Blocks of 16 rows, each of one group: no capacity, same result, and
  # the gradient of the dense reference.
  block_fn = lambda p, buffer: jnp.tanh(grouped.stacked_dense(*p, buffer))
  out, rows = grouped.blocked_apply(block_fn, (kernel, bias), x, groups,
                                    num_groups, 16)
  np.testing.assert_allclose(out, dense_reference(kernel, bias, x, groups),
                             atol=1e-5)
  assert int(rows) == sum(-(-n // 16) * 16 for n in np.bincount(groups))
  grad = lambda f: np.asarray(jax.grad(f)(jnp.asarray(kernel)))
  np.testing.assert_allclose(
      grad(lambda k: jnp.sum(grouped.blocked_apply(
          block_fn, (k, bias), x, groups, num_groups, 16)[0])),
      grad(lambda k: jnp.sum(jnp.tanh(
          jnp.einsum("md,mdo->mo", x, k[groups]) + bias[groups]))),
      atol=1e-4)


@pytest.mark.parametrize("dispatch", ["blocks", "capacity"])
def test_hard_heads_evaluate_each_sample_by_its_cell_head_only(dispatch,
                                                               tmp_path):
  """The render path (blocks; the capacity dispatch with a capacity below
  the crowding) against every head on every sample, the cell's head
  picked; the soft blend approaches it as beta grows."""
  c = tiny_config(tmp_path, derf_heads=4, derf_capacity_factor=0.5,
                  derf_dispatch=dispatch)
  heads = derf.DerfHeads(c, 11, 6)
  rng = np.random.RandomState(1)
  n, s = 24, 8
  points = rng.uniform(-1, 1, (n, s, 3)).astype(np.float32)
  x = np.concatenate([rng.normal(size=(n, s, 63)).astype(np.float32),
                      points], -1)
  view = rng.normal(size=(n, 27)).astype(np.float32)
  sites = jnp.asarray(rng.uniform(-1, 1, (4, 3)), jnp.float32)
  variables = heads.init(jax.random.PRNGKey(0), x, view, sites=sites)
  (rgb, density, onehot), sown = heads.apply(
      variables, x, view, sites=sites, mutable=["intermediates"])
  overflow = int(sown["intermediates"]["overflow"][0])
  assert overflow > 0 if dispatch == "capacity" else overflow == 0
  all_rgb, all_density = derf.heads_forward(
      {k[:-len("_kernel")]: (v, variables["params"][k[:-6] + "bias"])
       for k, v in variables["params"].items() if k.endswith("_kernel")},
      c, x[..., :63].reshape(-1, 63), np.repeat(view, s, axis=0))
  cells = np.asarray(derf.voronoi_cells(points.reshape(-1, 3), sites))
  pick = lambda y: np.asarray(y)[cells, np.arange(n * s)].reshape(n, s, -1)
  np.testing.assert_allclose(rgb, pick(all_rgb), atol=1e-5)
  np.testing.assert_allclose(density, pick(all_density), atol=1e-5)
  np.testing.assert_array_equal(np.argmax(onehot, -1), cells.reshape(n, s))
  def soft(beta):
    sharp = c.copy_and_resolve_references()
    sharp.derf_beta_final = beta  # no progress: the final sharpness
    return derf.DerfHeads(sharp, 11, 6).apply(variables, x, view, sites=sites,
                                              soft=True)

  gaps = [np.abs(np.asarray(soft(b)[0]) - rgb).mean() for b in (1.0, 1e4)]
  assert gaps[1] < 0.1 * gaps[0]
  np.testing.assert_allclose(np.asarray(soft(1.0)[2]).sum(-1), 1.0,
                             atol=1e-5)


@pytest.mark.parametrize("hard_after", [1.0, 0.0])
def test_gradients_reach_the_sites_and_the_voronoi_loss_balances(hard_after,
                                                                 tmp_path):
  """The soft blend: gradients to the sites. Trained on the hard partition
  (derf_hard_after 0): to the heads, through the block dispatch, and
  none to the sites."""
  c = tiny_config(tmp_path, derf_heads=3, derf_balance_mult=1.0,
                  num_fine_samples=0, netdepth=1, derf_hard_after=hard_after,
                  derf_dispatch="capacity")
  c.lock()
  method, model, state = training.setup(c, jax.random.PRNGKey(0))
  n = 16
  origins = jnp.tile(jnp.array([[0.0, -4.0, 0.5]]), (n, 1))
  directions = jax.random.normal(jax.random.PRNGKey(2), (n, 3)) * 0.2 + \
      jnp.array([0.0, 1.0, 0.0])
  rays = Rays.create(origins, directions, 2.0, 6.0)
  rgb = jnp.full((n, 3), 0.5)

  def loss(params):
    outputs = model.apply({"params": params}, rays, jax.random.PRNGKey(3),
                          True, training.progress_of(c, 10))
    terms = method.loss_terms(c, outputs, rays, rgb, params)
    return sum(terms.values()), terms

  (_, terms), grads = jax.value_and_grad(loss, has_aux=True)(state.params)
  assert "voronoi" in terms and float(terms["voronoi"]) >= 0
  g = np.asarray(grads["derf_sites"])
  assert g.shape == (3, 3) and np.all(np.isfinite(g))
  assert (np.abs(g).max() > 0) == (hard_after == 1.0)
  heads = np.asarray(grads["coarse_mlp"]["trunk_0_kernel"])
  assert np.all(np.isfinite(heads)) and np.abs(heads).max() > 0


def test_the_voronoi_loss_is_zero_when_even_and_n_minus_1_for_one_head():
  even = jnp.ones((10, 4))
  assert abs(float(derf.balance(even))) < 1e-6
  one = jnp.zeros((10, 4)).at[:, 2].set(1.0)
  assert abs(float(derf.balance(one)) - 3.0) < 1e-5


def test_heads_keep_the_total_parameters_and_one_head_is_the_nerf_mlp(
    tmp_path):
  c = tiny_config(tmp_path, netwidth=128, netwidth_condition=64, netdepth=4)
  one = derf.head_parameters(c, 128, 64)
  for n in (1, 4, 8, 16):
    c.derf_heads = n
    w, wc = derf.head_widths(c)
    total = n * derf.head_parameters(c, w, wc)
    assert 0.95 * one <= total <= one, (n, w, total)
  c.derf_heads = 1
  assert derf.head_widths(c) == (128, 64)
  # One head has the parameters of the NeRF MLP of that size.
  nerf = config_lib.method_config("nerf")
  config_lib.scene(nerf, "blender", EMBEDDED_LEGO, str(tmp_path / "nerf"))
  nerf.update(dict(TINY, netwidth=128, netwidth_condition=64, netdepth=4,
                   num_fine_samples=0))
  nerf.batch_size = 32
  params = training.setup(nerf, jax.random.PRNGKey(0))[2].params
  assert sum(v.size for v in jax.tree_util.tree_leaves(params)) == one


BAD = [
    ("derf_heads", 0, "config.derf_heads: 0 must be an integer >= 1"),
    ("derf_capacity_factor", 0.0, "config.derf_capacity_factor: 0.0 must "
     "be > 0"),
    ("derf_capacity_factor", -1.0, "config.derf_capacity_factor: -1.0"),
    ("derf_beta_init", 0.0, "config.derf_beta_init: 0.0 must be > 0"),
    ("derf_balance_mult", -1.0, "config.derf_balance_mult: -1.0 must be"),
    ("sh_degree", 2, "config.sh_degree: derf heads"),
    ("derf_dispatch", "ragged", "config.derf_dispatch: unknown 'ragged'"),
    ("derf_hard_after", 1.5, "config.derf_hard_after: 1.5 must be in"),
]


def test_bad_settings_are_one_line_config_errors(tmp_path):
  for field, value, text in BAD:
    c = tiny_config(tmp_path)
    c[field] = value
    with pytest.raises(ConfigError) as e:
      derf.check_config(c)
    assert text in str(e.value) and "\n" not in str(e.value), str(e.value)
  # Checked where the model is built, before any work.
  c = tiny_config(tmp_path, derf_capacity_factor=0.0)
  with pytest.raises(ConfigError, match="config.derf_capacity_factor"):
    training.setup(c, jax.random.PRNGKey(0))
