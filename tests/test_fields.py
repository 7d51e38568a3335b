"""Fields: NeRF's MLP and the hash-grid field."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnerf.fields import networks
from jaxnerf.methods.backbones import hashgrid


def test_mlp_shapes_and_skip():
  mlp = networks.MLP(netdepth=8, netwidth=32, skip_layer=4)
  x = jnp.ones((5, 7, 63))
  params = mlp.init(jax.random.PRNGKey(0), x, jnp.ones((5, 27)))
  rgb, density = mlp.apply(params, x, jnp.ones((5, 27)))
  assert rgb.shape == (5, 7, 3) and density.shape == (5, 7, 1)
  # The layer after the skip sees width + input channels.
  kernel = params["params"]["Dense_5"]["kernel"]
  assert kernel.shape == (32 + 63, 32)


def _hashgrid_config(**overrides):
  c = hashgrid.config_fields()
  c.update(dict(hash_levels=4, hash_log2_size=10, hash_max_resolution=64,
                **overrides))
  return ml_collections.FrozenConfigDict(c)


def test_hashgrid_radiance_is_the_per_ray_colour_at_one_point_per_ray():
  """radiance(points, dirs) equals __call__ with one point on each ray."""
  for mode in networks.HASHGRID_COLOR_MODES:
    field = networks.HashGridField(config=_hashgrid_config(color_mode=mode))
    k = jax.random.split(jax.random.PRNGKey(0), 2)
    points = jax.random.uniform(k[0], (6, 3), minval=-1, maxval=1)
    dirs = jax.random.normal(k[1], (6, 3))
    dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
    v = field.init(jax.random.PRNGKey(1), points, jnp.arange(6), dirs)
    density, rgb = field.apply(v, points, jnp.arange(6), dirs)
    np.testing.assert_allclose(field.apply(v, points, dirs,
                                           method="radiance"), rgb)
    assert density.shape == (6,) and np.all(density > 0)
    # The view direction changes the colour only.
    density2, rgb2 = field.apply(v, points, jnp.arange(6), -dirs)
    np.testing.assert_array_equal(density, density2)
