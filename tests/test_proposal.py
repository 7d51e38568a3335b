"""Proposal-network sampling: the envelope, the interlevel loss, resampling."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.render import proposal


def test_envelope_sums_the_overlapping_proposal_weights():
  prop_edges = jnp.asarray([[0.0, 1.0, 2.0, 3.0]])
  prop_weights = jnp.asarray([[0.2, 0.5, 0.3]])
  # [0.5, 1.5] overlaps proposal intervals 0 and 1; [1.5, 1.8] only 1;
  # [2.5, 3.0] only 2.
  t_edges = jnp.asarray([[0.5, 1.5, 1.8, 2.5, 3.0]])
  np.testing.assert_allclose(
      proposal.envelope(t_edges, prop_edges, prop_weights),
      [[0.7, 0.5, 0.8, 0.3]], rtol=1e-6)


def test_interlevel_loss_hand_value_and_gradient():
  prop_edges = jnp.asarray([[0.0, 1.0, 2.0]])
  t_edges = jnp.asarray([[0.2, 0.8, 1.2, 1.8]])
  weights = jnp.asarray([[0.6, 0.0, 0.3]])
  # A proposal that bounds every interval costs nothing.
  covering = jnp.asarray([[0.6, 0.4]])
  np.testing.assert_allclose(
      proposal.interlevel_loss(t_edges, weights, prop_edges, covering), [0.0],
      atol=1e-12)
  # Proposal weight 0.1 under the first interval (weight 0.6):
  # (0.6 - 0.1)^2 / 0.6; the middle interval [0.8, 1.2] straddles both
  # proposal intervals (bound 0.5 >= 0); the last is covered (0.4 >= 0.3).
  short = jnp.asarray([[0.1, 0.4]])
  loss = proposal.interlevel_loss(t_edges, weights, prop_edges, short,
                                  eps=1e-12)
  np.testing.assert_allclose(loss, [0.25 / 0.6], rtol=1e-6)
  # Only the proposal learns: d/d(prop weight 0) = -2 (0.5) / 0.6.
  grads = jax.grad(lambda w, p: proposal.interlevel_loss(
      t_edges, w, prop_edges, p, eps=1e-12)[0], argnums=(0, 1))(weights, short)
  np.testing.assert_array_equal(grads[0], 0.0)
  np.testing.assert_allclose(grads[1], [[-1.0 / 0.6, 0.0]], rtol=1e-6)


def test_propose_concentrates_samples_at_the_surface():
  n = 3
  origins = jnp.zeros((n, 3))
  directions = jnp.tile(jnp.asarray([[0.0, 0.0, 1.0]]), (n, 1))
  t_min, t_max = jnp.full((n,), 1.0), jnp.full((n,), 5.0)
  # A wall at z = 3.
  wall = lambda points: jnp.where(jnp.abs(points[..., 2] - 3.0) < 0.1,
                                  50.0, 0.0)
  edges, levels = proposal.propose(
      jax.random.PRNGKey(0), [wall, wall], origins, directions, t_min, t_max,
      (32, 16, 8), True, 1e-3)
  assert edges.shape == (n, 9)
  assert [e.shape for e, _ in levels] == [(n, 33), (n, 17)]
  assert np.all(np.diff(edges, axis=-1) >= 0)
  assert np.all((edges >= 1.0) & (edges <= 5.0))
  # Most of the real field's intervals lie at the wall, not evenly spread.
  mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
  assert np.mean(np.abs(mids - 3.0) < 0.3) > 0.5
  # The even first level spreads its 32 intervals over [1, 5].
  np.testing.assert_allclose(levels[0][0][0], np.linspace(1, 5, 33),
                             rtol=1e-6)


def test_disparity_spacing_corners_and_round_trip():
  spacing = proposal.disparity_spacing(2.0)
  t = jnp.asarray([[0.0, 1.0, 2.0, 4.0, 8.0, 1e8]])
  # Even (s = t / 4) up to one unit (t = 2), then 1 - 1 / (2 t / 2).
  np.testing.assert_allclose(spacing.to_s(t),
                             [[0.0, 0.25, 0.5, 0.75, 0.875, 1.0]], atol=1e-7)
  np.testing.assert_allclose(spacing.from_s(spacing.to_s(t[:, :5])),
                             t[:, :5], rtol=1e-6)


def test_propose_draws_the_first_intervals_evenly_in_the_spacing():
  origins = jnp.zeros((1, 3))
  directions = jnp.asarray([[0.0, 0.0, 1.0]])
  empty = lambda points: jnp.zeros(points.shape[:-1])
  spacing = proposal.disparity_spacing(2.0)
  _, levels = proposal.propose(None, [empty], origins, directions,
                               jnp.zeros((1,)), jnp.full((1,), 6.0), (4, 2),
                               False, 0.01, spacing)
  # s from 0 to 1 - 1 / 6 in 4 steps of 5 / 24: t = 4 s below s = 1/2,
  # 2 / (2 - 2 s) above.
  np.testing.assert_allclose(levels[0][0], [[0.0, 5 / 6, 5 / 3, 8 / 3, 6.0]],
                             rtol=1e-6)
