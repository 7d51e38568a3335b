"""FastNeRF: the factorised colour, its cache (the baked grid with a
direction table) against the field, and its config checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.baked import bake as baking, render
from jaxnerf.engine import config as config_lib, training
from jaxnerf.errors import BakedFileError, ConfigError
from jaxnerf.methods import fastnerf
from conftest import EMBEDDED_LEGO
from test_baking import ring_rays

TINY = dict(hash_levels=4, hash_log2_size=10, hash_max_resolution=32,
            occupancy_resolution=8, march_steps=64, samples_budget=2048,
            render_samples_per_ray=16, density_width=16, scene_bound=1.0,
            fastnerf_components=3, fastnerf_dir_width=8,
            fastnerf_dir_degree=2)


def tiny(**fields):
  c = config_lib.method_config("fastnerf")
  c.update(dict(TINY, **fields))
  return c


def test_factorised_colour_by_hand():
  # logits: red 1 * 0.5 + 2 * -1 = -1.5, green 0, blue -1 * 0.5 + 1 * -1.
  coeffs = jnp.asarray([[[1.0, 2.0], [0.0, 0.0], [-1.0, 1.0]]])
  beta = jnp.asarray([[0.5, -1.0]])
  np.testing.assert_allclose(fastnerf.factorised_colour(coeffs, beta),
                             [[1 / (1 + np.exp(1.5)), 0.5,
                               1 / (1 + np.exp(1.5))]], rtol=1e-6)


def test_the_fields_colour_is_the_two_branches_combined():
  field = fastnerf.FastNerfField(config=tiny())
  rng = np.random.RandomState(0)
  points = jnp.asarray(rng.uniform(-0.9, 0.9, (5, 3)), jnp.float32)
  dirs = rng.normal(size=(5, 3))
  dirs = jnp.asarray(dirs / np.linalg.norm(dirs, axis=-1, keepdims=True),
                     jnp.float32)
  variables = field.init(jax.random.PRNGKey(0), points, jnp.arange(5), dirs)
  rgb = field.apply(variables, points, dirs, method="radiance")
  u = np.asarray(field.apply(variables, points,
                             method="position_components"))
  beta = np.asarray(field.apply(variables, dirs, method="direction_weights"))
  assert u.shape == (5, 3, 3) and beta.shape == (5, 3)
  logits = np.einsum("mcd,md->mc", u, beta)
  np.testing.assert_allclose(rgb, 1 / (1 + np.exp(-logits)), rtol=1e-5,
                             atol=1e-6)


def tiny_cache(tmp_path, resolution: int, directions: int):
  """(config, model, variables, the cache) of a tiny FastNeRF at
  initialisation on the embedded lego, baked with every block kept."""
  config = tiny()
  config_lib.scene(config, "blender", EMBEDDED_LEGO, str(tmp_path / "r"))
  _, model, state = training.setup(config, jax.random.PRNGKey(3))
  variables = {"params": state.params, **state.model_state}
  _, rays = ring_rays(num_views=4, size=12)
  scene = baking.bake(model, variables, rays, 1.0, True, "fastnerf", 0,
                      baking.BakeOptions(resolution=resolution, block_size=4,
                                         cull_threshold=0.0, chunk=1024,
                                         direction_resolution=directions),
                      log=lambda s: None)
  return config, model, variables, scene


def test_the_cache_equals_the_field_at_its_grid_points(tmp_path):
  _, model, variables, scene = tiny_cache(tmp_path, 8, 6)
  assert scene.num_blocks > 0 and scene.direction_table.shape == (6, 12, 3)
  grid = render.BakedGrid.from_scene(scene).to_device()
  # The vertices of the kept blocks (inside the box: the far apron of the
  # last block lies on the box's face, outside the half-open lookup).
  points = baking.block_points(np.argwhere(scene.block_index >= 0), 4, 8,
                               1.0).reshape(-1, 3)
  points = jnp.asarray(points[np.all(points < 1.0, -1)])
  apply = lambda method, *x: model.apply(variables, *x, method=method)
  np.testing.assert_allclose(render.density_at(grid, points),
                             apply("density", points), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(render.sh_at(grid, points),
                             apply("position_components", points), rtol=1e-4,
                             atol=1e-5)
  dirs = jnp.asarray(baking.direction_grid(6)[1:-1].reshape(-1, 3))
  np.testing.assert_allclose(render.ray_basis(grid, dirs),
                             apply("direction_weights", dirs), rtol=1e-4,
                             atol=1e-5)
  # Saved and read back: the table as it was, the atlas in float16.
  path = str(tmp_path / "cache.npz")
  baking.save(path, scene)
  back = baking.load(path, "fastnerf")
  np.testing.assert_array_equal(back.direction_table, scene.direction_table)
  np.testing.assert_allclose(back.sh, scene.sh, rtol=1e-3, atol=1e-3)
  # A table that does not fit the atlas: one line naming both shapes.
  np.savez(str(tmp_path / "bad.npz"), meta=np.load(path)["meta"],
           block_index=back.block_index, density=back.density, sh=back.sh,
           direction_table=back.direction_table[..., :2])
  with pytest.raises(BakedFileError, match=r"direction_table \(6, 12, 2\)"):
    baking.load(str(tmp_path / "bad.npz"))


def test_direction_lookup_is_bilinear_in_theta_and_phi():
  """A table linear in the vertex indices (i, j) reads back i, j at a
  direction between vertices; phi wraps around."""
  rows = 5
  i, j = np.meshgrid(np.arange(rows), np.arange(2 * rows), indexing="ij")
  table = jnp.asarray(np.stack([i, j], -1), jnp.float32)
  theta, phi = np.pi * 1.25 / (rows - 1), np.pi * 3.5 / rows - np.pi
  d = jnp.asarray([[np.sin(theta) * np.cos(phi),
                    np.sin(theta) * np.sin(phi), np.cos(theta)]], jnp.float32)
  np.testing.assert_allclose(baking.direction_lookup(table, d), [[1.25, 3.5]],
                             rtol=1e-4)
  # Between the last column (j = 9) and the first (j = 0, the same phi
  # plus 2 pi): 9 and 0 mixed half and half.
  phi = np.pi * 9.5 / rows - np.pi
  d = jnp.asarray([[np.sin(theta) * np.cos(phi),
                    np.sin(theta) * np.sin(phi), np.cos(theta)]], jnp.float32)
  np.testing.assert_allclose(baking.direction_lookup(table, d)[0, 1], 4.5,
                             rtol=1e-4)


@pytest.mark.parametrize("field,value,message", [
    ("fastnerf_components", 0, "config.fastnerf_components: 0 must be an "
     "integer >= 1"),
    ("fastnerf_dir_degree", 5, "config.fastnerf_dir_degree: 5 is above 3"),
])
def test_a_bad_factorisation_is_a_one_line_config_error(field, value,
                                                        message):
  field_module = fastnerf.FastNerfField(config=tiny(**{field: value}))
  points = jnp.zeros((2, 3))
  with pytest.raises(ConfigError) as e:
    field_module.init(jax.random.PRNGKey(0), points, jnp.arange(2), points)
  assert str(e.value) == message


def test_the_web_page_renders_the_cache_as_the_marcher(tmp_path):
  """export.py webgl on a FastNeRF cache: the page (headless Chromium)
  reads the position components and the direction table and draws what
  the JAX marcher renders of the same test view."""
  import browser
  from jaxnerf.core import metrics
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.export import webgl
  config, _, _, scene = tiny_cache(tmp_path, 16, 8)
  # The random field's density raised and its components scaled to unit
  # spread, and direction weights that vary strongly (the direction itself,
  # twice, in the table's three channels), so the view is neither empty
  # nor one colour and its colour depends on the direction.
  scene.density[:] = np.clip(scene.density * 40.0, 0.0, 60.0)
  scene.sh[:] = scene.sh / scene.sh.std()
  scene.direction_table = 2.0 * baking.direction_grid(8)[..., [2, 0, 1]]
  views = {split: load_dataset(config, split) for split in ("train", "test")}
  want = render.make_renderer(scene, 4096).render_image(
      views["test"].image_rays(0))["rgb"]
  assert want.std() > 0.02, want.std()
  out = tmp_path / "web"
  webgl.export(scene, views, str(out))
  pixels = browser.ready_pixels(f"file://{out}/index.html?view=test:0")
  # The density in float16, 8-bit components: as the SH page's tolerance.
  psnr = float(metrics.psnr(pixels, want))
  assert psnr > 35, psnr
