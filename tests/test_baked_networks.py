"""A baked scene rendered by KiloNeRF's tiny networks (bake.py keeps them;
baked/render.py's TinyNetworks): which networks a bake keeps (by hand),
the fused evaluation against the model's own field, the one-call marcher
against the one-pass reference and the model composited directly, the
file round trip and its checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.baked import bake as baking, render
from jaxnerf.core import cameras
from jaxnerf.errors import BakedFileError
from jaxnerf.methods import kilonerf
from jaxnerf.render import compositing
from test_baking import ring_rays
from test_kilonerf import tiny


def test_kept_networks_by_hand():
  index = np.full((4, 4, 4), -1, np.int32)
  index[1, 2, 3] = 0
  # Two network cells a side: block (1, 2, 3) lies in cell (0, 1, 1),
  # numbered x fastest as kilo.cells_and_local does: 0 + 2 (1 + 2 1) = 6.
  keep = baking.kept_networks(index, 8, 1.0, 2)
  assert np.flatnonzero(keep).tolist() == [6]
  # Three a side: block x = 1 spans [0.25, 0.5) of the axis, cells 0 and
  # 1 along x; y = 2 spans [0.5, 0.75): cell 1 (1.5 .. 2.25) and 2; z = 3
  # spans [0.75, 1): cell 2.
  keep = baking.kept_networks(index, 8, 1.0, 3).reshape(3, 3, 3, order="F")
  assert sorted(map(tuple, np.argwhere(keep))) == [
      (0, 1, 2), (0, 2, 2), (1, 1, 2), (1, 2, 2)]


def octant_model():
  """A tiny KiloNeRF (2^3 networks over [-1, 1]^3) whose network 0 (x, y,
  z < 0) holds a dense medium with a view-dependent colour and whose others
  are empty; the occupancy grid all occupied (as at initialisation)."""
  c = tiny(occupancy_resolution=8)
  model = kilonerf.METHOD.build_model(c, None)
  variables = model.init(jax.random.PRNGKey(1), jnp.zeros((4, 3)),
                         method="density")
  params = jax.tree.map(
      lambda x: x + 0.3 * jax.random.normal(jax.random.PRNGKey(2), x.shape),
      variables["params"])
  bias = params["field"]["head_bias"]
  params["field"]["head_bias"] = bias.at[:, 0].set(
      jnp.where(jnp.arange(8) == 0, 3.0, -30.0))
  return c, model, {**variables, "params": params}


@pytest.fixture(scope="module")
def baked():
  c, model, variables = octant_model()
  cams, rays = ring_rays(num_views=8, size=24)
  scene = baking.bake(model, variables, rays, 1.0, True, "kilonerf", 7,
                      baking.BakeOptions(resolution=16, block_size=4,
                                         chunk=4096), log=lambda s: None)
  return c, model, variables, cams, scene


def test_a_bake_keeps_the_networks_of_its_blocks(baked):
  c, model, variables, _, scene = baked
  assert scene.sh.shape[-1] == 0 and scene.sh_degree == -1
  # Only the octant's blocks survive culling, so only network 0.
  lo, hi = scene.occupied_bounds()
  assert (hi <= 0).all() and (lo < -0.5).all()
  assert scene.network_index.tolist() == [0] + [-1] * 7
  assert scene.network_spec == dict(resolution=2, layers=c.kilo_layers,
                                    pos_freqs=2, dir_freqs=1, bound=1.0)
  field = variables["params"]["field"]
  for name, (kernel, bias) in scene.networks.items():
    np.testing.assert_array_equal(kernel, field[f"{name}_kernel"][:1])
    np.testing.assert_array_equal(bias, field[f"{name}_bias"][:1])


def test_the_networks_shade_as_the_models_field(baked):
  _, model, variables, _, scene = baked
  nets = render.TinyNetworks.of(scene)
  rng = np.random.default_rng(0)
  points = jnp.asarray(rng.uniform(-1, 0, (300, 3)), jnp.float32)
  dirs = rng.normal(size=(300, 3)).astype(np.float32)
  dirs = jnp.asarray(dirs / np.linalg.norm(dirs, axis=-1, keepdims=True))
  wanted = jnp.asarray(rng.random(300) < 0.7)
  sigma, rgb = jax.jit(nets.replace(block=5).shade)(points, dirs, wanted)
  want_sigma, want_rgb = jax.jit(lambda p, d: (
      model.apply(variables, p, method="rendered_density"),
      model.apply(variables, p, d, method="radiance")))(points, dirs)
  np.testing.assert_allclose(sigma, np.where(wanted, want_sigma, 0),
                             rtol=1e-5)
  np.testing.assert_allclose(np.asarray(rgb)[np.asarray(wanted)],
                             np.asarray(want_rgb)[np.asarray(wanted)],
                             atol=1e-6)
  # A point in a cell with no kept network gets nothing.
  sigma, _ = jax.jit(nets.shade)(jnp.full((1, 3), 0.5), dirs[:1],
                                 jnp.ones(1, bool))
  assert float(sigma[0]) == 0.0


def test_the_marcher_renders_the_networks(baked):
  _, model, variables, cams, scene = baked
  grid = render.BakedGrid.from_scene(scene).to_device()
  view = cameras.image_rays(cams, 3)
  # Chunks of 256 rays in tiles of 64 rays and 128 samples: many tiles a
  # round, the last chunk padded.
  fast = render.Renderer(grid, chunk=256, ray_tile=64,
                         density_tile=128).render_image(view)
  assert fast["acc"].max() > 0.9 and fast["acc"].min() < 1e-3
  # The one-pass reference: every sample of the occupied steps, no early
  # termination; and the model's own density (masked by the occupancy
  # grid's live cells) and colour composited at the same samples.
  flat = jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, x.shape[-1])),
                      view)
  mask = jax.jit(render.coarse_mask, static_argnums=2)(
      grid, flat, render.num_coarse_steps(grid))
  samples = jax.jit(render.fine_samples, static_argnums=3)(
      grid, flat, mask, int(mask.sum()))
  slow = jax.jit(render.render_packed)(grid, flat, samples)
  np.testing.assert_allclose(fast["acc"].reshape(-1), slow["acc"],
                             atol=render.COLOUR_EPS)
  np.testing.assert_allclose(fast["rgb"].reshape(-1, 3), slow["rgb"],
                             atol=2 * render.COLOUR_EPS)

  @jax.jit
  def composited(samples):
    ids = jnp.minimum(samples.ray_ids, 575)
    points = flat.origins[ids] + samples.t[:, None] * flat.directions[ids]
    base, _, inside = render.locate(grid, points)
    live = samples.valid & inside & render.live_cells(grid)[base]
    sigma = jnp.where(live, model.apply(variables, points,
                                        method="rendered_density"), 0.0)
    rgb = model.apply(variables, points, flat.viewdirs[ids],
                      method="radiance")
    weights = compositing.packed_compositing_weights(
        sigma, jnp.full_like(sigma, grid.step), samples.ray_ids)
    return compositing.packed_composite(weights, rgb, samples.t,
                                        samples.ray_ids, 576, True)

  direct = composited(samples)
  for key in ("rgb", "acc"):
    np.testing.assert_allclose(slow[key], direct[key], atol=1e-5)
  with pytest.raises(ValueError, match="tiny networks"):
    render.Renderer(grid, deferred=0.01).render_image(view)


def test_the_file_keeps_the_networks(baked, tmp_path):
  *_, cams, scene = baked
  path = str(tmp_path / "baked.npz")
  baking.save(path, scene)
  back = baking.load(path, "kilonerf")
  assert back.network_spec == scene.network_spec
  np.testing.assert_array_equal(back.network_index, scene.network_index)
  for name, pair in scene.networks.items():
    for a, b in zip(back.networks[name], pair):
      np.testing.assert_array_equal(a, b)
  view = cameras.image_rays(cams, 3)
  images = [render.make_renderer(s, 1024).render_image(view)["rgb"]
            for s in (scene, back)]
  # The file's density is float16: it is only the networks' occupancy.
  np.testing.assert_allclose(images[1], images[0], atol=1e-5)
  # A network index past the networks kept, or an empty colour with no
  # networks, is not a scene.
  with np.load(path) as f:
    arrays = dict(f)
  arrays["network_index"] = np.full_like(arrays["network_index"], 3)
  np.savez(str(tmp_path / "bad.npz"), **arrays)
  with pytest.raises(BakedFileError, match="bad.npz: .*tiny networks"):
    baking.load(str(tmp_path / "bad.npz"))
  with pytest.raises(BakedFileError, match="inconsistent shapes"):
    baking.check_arrays("x.npz", scene.block_index, scene.density,
                        scene.sh)
  # Layers whose shapes pair up but do not chain (trunk_0 one output
  # short for trunk_1), or a spec whose encodings are not the first
  # layer's input: not a scene, at load rather than at the first render.
  with np.load(path) as f:
    arrays = dict(f)
  arrays["network/trunk_0_kernel"] = arrays["network/trunk_0_kernel"][..., 1:]
  arrays["network/trunk_0_bias"] = arrays["network/trunk_0_bias"][..., 1:]
  np.savez(str(tmp_path / "unchained.npz"), **arrays)
  with pytest.raises(BakedFileError, match="unchained.npz: .*tiny networks"):
    baking.load(str(tmp_path / "unchained.npz"))
  with pytest.raises(BakedFileError, match="tiny networks"):
    baking.check_networks("x.npz", scene.networks, scene.network_index,
                          {**scene.network_spec,
                           "pos_freqs": scene.network_spec["pos_freqs"] + 1})


def test_the_web_page_refuses_the_networks_in_one_line(baked, tmp_path,
                                                       capsys):
  from jaxnerf.commands import export
  *_, scene = baked
  path = str(tmp_path / "baked.npz")
  baking.save(path, scene)
  code = export.main(["export.py", "--config=kilonerf_demo",
                      f"--config.train_dir={tmp_path}",
                      f"--config.baked_file={path}", "webgl",
                      f"--out={tmp_path / 'web'}"])
  err = capsys.readouterr().err
  assert code == 1 and err.count("\n") == 1, err
  assert path in err and "tiny networks" in err, err
  assert not (tmp_path / "web").exists()
