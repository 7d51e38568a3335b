"""Every config in configs/ loads, trains two steps and renders, shrunk.

The configs are globbed when the tests are collected, so a new config is
covered without an edit here. Each is shrunk by SHRINK (a table keyed by
field name, applied to whichever fields the config has; a field only ever
gets smaller, and 0, which switches a part off, stays 0) and pointed at
the embedded scenes in data/ or, for the scenes that are not embedded, at
a few images of ../shared/data (tests that need it skip with "needs
../shared/data/...", and CI fails on such a skip: tests/conftest.py).
"""

import functools
import glob
import json
import os

import imageio.v3 as iio
import jax
import numpy as np
import pytest

from conftest import REPO_ROOT, needs_shared_data
from jaxnerf.posing import capture
from jaxnerf.data import colmap_model
from jaxnerf.engine import (config as config_lib, evaluator, parallel, trainer,
                            training)
from jaxnerf import methods
from jaxnerf.data.dataset import load_dataset
from jaxnerf.data.loaders import multiscale, nerfstudio

CONFIG_NAMES = sorted(
    os.path.basename(p)[:-3]
    for p in glob.glob(os.path.join(REPO_ROOT, "configs", "*.py"))
    if not os.path.basename(p).startswith("_"))

# Tiny sizes by field name; a config gets those of its fields, each at most
# its own value (0 stays 0: NeRF-U's appearance_dim, NeRF-A's transients).
SHRINK = {
    "batch_size": 64, "chunk": 256,
    # MLP methods (nerf, mipnerf, nerfw, dnerf, barf, nerfpp).
    "num_coarse_samples": 8, "num_fine_samples": 8,
    "num_bg_coarse_samples": 8, "num_bg_fine_samples": 8,
    "netdepth": 2, "netwidth": 32, "netwidth_condition": 16,
    "deform_depth": 2, "deform_width": 16, "deform_skip": 1,
    "appearance_dim": 4, "transient_dim": 4, "transient_depth": 2,
    "transient_width": 16, "test_time_steps": 2, "test_time_batch_size": 16,
    "sparsity_samples": 16,
    # Hash-grid backbone (instant_ngp; barf, dnerf, nerfw on it).
    "hash_levels": 4, "hash_log2_size": 10, "hash_max_resolution": 64,
    "occupancy_resolution": 16, "march_steps": 64, "samples_budget": 2048,
    "render_samples_per_ray": 16, "occupancy_update_every": 1,
    "density_width": 16, "color_width": 16, "field_samples": 8,
    # The SDF backbone's (neus_mlp_demo's feature, neus_capture's
    # background NeRF).
    "geo_features": 8, "bg_width": 16, "bg_layers": 2, "bg_samples": 8,
    "proposal_samples": (8, 8), "proposal_hash_levels": 2,
    "proposal_hash_log2_size": 10, "proposal_hash_max_resolution": 32,
    "proposal_width": 8,
    # FastNeRF's direction branch (fastnerf_demo).
    "fastnerf_dir_width": 8, "fastnerf_components": 4,
    # NSVF's voxels (nsvf_demo): 4 a side, one subdivision to 8.
    "nsvf_initial_resolution": 4, "nsvf_subdivide_steps": (1,),
    "nsvf_embedding_dim": 4, "nsvf_steps_per_voxel": 2,
    # DeRF's heads (derf_demo): two, of the shrunk network's parameters.
    "derf_heads": 2,
    # AutoInt (autoint_demo): one hidden layer of 16, 2 samples a segment.
    "autoint_netdepth": 1, "autoint_netwidth": 16,
    "autoint_samples_per_segment": 2, "autoint_sampler_width": 8,
    # KiloNeRF (kilonerf_demo): 2^3 networks of 8.
    "kilo_resolution": 2, "kilo_width": 8, "kilo_dir_width": 8,
    # Relighting (nrf, nerv, nerd): the material head, shadow rays, NeRV's
    # visibility (0, NRF's, stays 0).
    "reflectance_width": 16, "shadow_samples": 8, "visibility_directions": 8,
    "visibility_rays": 8, "visibility_steps": 8, "visibility_width": 16,
    # Splat backbone (splat): a 16-pixel patch is one tile.
    "splat_count": 256, "splat_init_count": 128, "splat_capacity": 32,
    "splat_tile_groups": 2, "patch_size": 16,
    # RtS (rts_demo): its 20-pixel patches and tiles at the splats' 16, 8
    # root points.
    "render_tile": 16, "root_samples": 8,
    # NerfingMVS (nerfingmvs_*): the small copies have no sparse model.
    "depth_prior_required": 0, "depth_loss_weight": 0.0,
    # GNeRF (gnerf_demo): contiguous patches in the 25-pixel images, small
    # discriminator and inversion network.
    "patch_stride": 1, "gan_disc_width": 4, "gan_inversion_width": 4,
}
STEPS = 2
RENDER_SIZE = 16  # the rendered patch: the centre of the first eval view
TRAIN_IMAGES = 2
BLENDER_WIDTH = 25  # Blender scenes downsample to about this width


def shrink(config) -> None:
  """SHRINK's fields of `config`, in place (each at most its own value)."""
  for key, tiny in SHRINK.items():
    if key not in config:
      continue
    value = config[key]
    if isinstance(value, tuple):
      config[key] = tuple(min(v, t) for v, t in zip(value, tiny))
    else:
      config[key] = min(value, tiny)


def blender_factor(data_dir: str) -> int:
  """The downsampling that brings the scene's first training image to
  about BLENDER_WIDTH pixels."""
  with open(os.path.join(data_dir, "transforms_train.json")) as f:
    first = json.load(f)["frames"][0]["file_path"]
  path = os.path.join(data_dir, first)
  width = iio.improps(path if os.path.isfile(path) else path + ".png").shape[1]
  return max(1, width // BLENDER_WIDTH)


def nerfstudio_capture(out, cake: str) -> str:
  """A nerfstudio scene (process_data.py's output layout) of every 10th
  frame of the cake capture, from its own COLMAP model (made at rgb/4x
  size): images/ and images_2/ link to rgb/4x and rgb/8x."""
  model = colmap_model.read_model(os.path.join(cake, "colmap", "sparse", "0"))
  images = sorted(model.images.values(), key=lambda im: im.name)[::10]
  camera = model.cameras[images[0].camera_id]
  intrinsics = colmap_model.camera_intrinsics(camera)
  ns = dict(fl_x=intrinsics["fx"], fl_y=intrinsics["fy"],
            cx=intrinsics["cx"], cy=intrinsics["cy"], w=camera.width,
            h=camera.height)
  ns.update(zip(("k1", "k2", "p1", "p2"),
                np.asarray(intrinsics["distortion"]).tolist()))
  os.makedirs(out)
  os.symlink(os.path.join(cake, "rgb", "4x"), os.path.join(out, "images"))
  os.symlink(os.path.join(cake, "rgb", "8x"), os.path.join(out, "images_2"))
  colmap_model.write_ply(os.path.join(out, "sparse_pc.ply"), model.points,
                         np.zeros(model.points.shape, np.uint8))
  nerfstudio.write_transforms(
      os.path.join(out, nerfstudio.FILENAME),
      [f"images/{im.name}" for im in images],
      np.stack([colmap_model.camtoworld_opengl(im) for im in images]), ns,
      ply_file_path="sparse_pc.ply")
  return out


def colmap_scene(out, source: str, factor: int, count: int) -> str:
  """`source`'s COLMAP scene (sparse/0 and images/, linked) with
  images_<factor>/ copies of its first `count` images by name (the loader's
  order: a split of a few images reads no others)."""
  os.makedirs(os.path.join(out, "sparse"))
  os.symlink(os.path.join(source, "sparse", "0"),
             os.path.join(out, "sparse", "0"))
  os.symlink(os.path.join(source, "images"), os.path.join(out, "images"))
  small = os.path.join(out, f"images_{factor}")
  os.makedirs(small)
  model = colmap_model.read_model(os.path.join(source, "sparse", "0"))
  for name in sorted(im.name for im in model.images.values())[:count]:
    image = iio.imread(os.path.join(source, "images", name))
    iio.imwrite(os.path.join(small, name), capture.downscale(image, factor))
  return out


def point_at_data(config, tmp_path) -> None:
  """Sets config.data_dir (and factor) to a small copy of the config's
  scene: the embedded one in data/, else one made from ../shared/data."""
  data_dir = config.data_dir
  embedded = os.path.join(REPO_ROOT, data_dir)
  if data_dir.startswith("data/") and os.path.isdir(embedded):
    config.data_dir = embedded
  elif data_dir == "data/nerf_synthetic/lego":
    config.data_dir = needs_shared_data("nerf_synthetic/lego")
  elif data_dir == "data/nerf_llff_data/fern":
    config.data_dir = needs_shared_data("nerf_llff_data/fern")
    config.factor = 8  # the smallest images there
  elif data_dir == "data/dnerf/lego":
    # D-NeRF's lego; data/dnerf_lego_100 is it at 100x100, in its layout.
    config.data_dir = os.path.join(REPO_ROOT, "data", "dnerf_lego_100")
  elif data_dir == "data/nerf_multiscale/lego":
    # scripts/make_multiscale.py's layout, of the embedded lego.
    config.data_dir = str(tmp_path / "multiscale")
    multiscale.make_multiscale(os.path.join(REPO_ROOT, "data", "lego_100"),
                               config.data_dir, ["train", "test"],
                               max_images=TRAIN_IMAGES)
  elif data_dir == "data/capture":
    config.data_dir = nerfstudio_capture(
        str(tmp_path / "capture"), needs_shared_data("captures/cake"))
    config.factor = 2
  elif data_dir == "data/liberty40":
    config.factor = 16
    config.data_dir = colmap_scene(
        str(tmp_path / "liberty40"),
        needs_shared_data("phototourism/liberty40"), config.factor, 4)
  else:
    pytest.fail(f"config.data_dir {data_dir!r}: no small copy of this scene "
                "known; add one to tests/test_all_configs.py point_at_data")
  if config.dataset_type in ("blender", "dnerf"):
    config.factor = blender_factor(config.data_dir)


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_trains_and_renders(name, tmp_path):
  config = config_lib.load_config(name)
  with config.unlocked():
    shrink(config)
    if config.patch_size:  # one patch a step
      config.batch_size = config.patch_size**2
    point_at_data(config, tmp_path)
    config.train_dir = str(tmp_path / "run")
  method = methods.of(config)
  mesh = parallel.make_mesh()

  dataset = load_dataset(config, "train", max_images=TRAIN_IMAGES)
  scene = trainer.scene_info(dataset)
  config = trainer.resolve_scene_fields(method, config, scene)
  data = parallel.shard_training_data(
      trainer.stack_training_data(dataset, method.pixel_batches),
      training.by_image(config), mesh)
  cameras = (parallel.put_replicated(dataset.cameras.device_arrays(), mesh)
             if method.pixel_batches else None)
  model = training.build_model(method, config, scene)
  state = parallel.put_replicated(training.create_train_state(
      method, model, config, jax.random.PRNGKey(config.seed),
      scene.num_cameras), mesh)
  step = parallel.jit_train_step(method, model, config, mesh)
  losses = []
  for _ in range(STEPS):
    state, stats = step(state, data, cameras, jax.random.PRNGKey(1))
    losses.append(float(stats["loss"]))
  assert int(state.step) == STEPS and int(state.nonfinite_steps) == 0
  assert np.all(np.isfinite(losses)), losses

  view = load_dataset(config, config.eval_split, max_images=1)
  variables = evaluator.variables_for_views(
      method, config, parallel.to_host(training.variables_of(state)), 1,
      scene.num_cameras)
  view_cameras = (parallel.put_replicated(view.cameras.device_arrays(), mesh)
                  if method.pixel_batches else None)
  inputs = view.pixels(0) if method.pixel_batches else view.image_rays(0)
  h, w = (min(RENDER_SIZE, n) for n in view.images[0].shape[:2])
  top, left = (view.images[0].shape[0] - h) // 2, (
      view.images[0].shape[1] - w) // 2
  patch = jax.tree.map(lambda x: x[top:top + h, left:left + w], inputs)
  render = functools.partial(
      training.make_render_fn(method, model, config),
      parallel.put_replicated(variables, mesh), cameras=view_cameras,
      step=state.step)
  out = parallel.render_image(render, patch, config.chunk, mesh,
                              config.render_tile if method.image_space else 0)
  assert set(out) == set(method.outputs)
  assert out["rgb"].shape == (h, w, 3)
  for key, value in out.items():
    assert value.shape[:2] == (h, w), key
    assert np.all(np.isfinite(value)), key
