"""grouped.stable_group_order: the stable argsort of group ids, by one sort
of packed keys where group and index fit an int32, else by argsort."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.fields import grouped


@pytest.mark.parametrize("m, num_groups", [(1, 1), (1000, 7), (4097, 300),
                                           (300, 2**24)])
def test_stable_group_order_is_the_stable_argsort(m, num_groups):
  rng = np.random.default_rng(m)
  # Few distinct groups, so ties are many and stability shows.
  groups = rng.choice(rng.integers(0, num_groups, 5), m).astype(np.int32)
  order = grouped.stable_group_order(jnp.asarray(groups), num_groups)
  np.testing.assert_array_equal(order, np.argsort(groups, kind="stable"))
