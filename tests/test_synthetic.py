"""The scene generator (jaxnerf/synthetic): its numpy planning here, and a
16 x 16 dataset rendered by Blender (the generator's own environment,
.venv-blender, which .ci/run installs from requirements-blender.txt)
checked output by output: shapes and ranges, depth against a ray cast of
the exported mesh, flow against reprojection, the environment map against
its formula, and determinism."""

import json
import math
import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np
import plyfile
import pytest

from conftest import REPO_ROOT
from jaxnerf.data.dataset import load_dataset
from jaxnerf.engine.config import base_config
from jaxnerf.errors import DatasetError
from jaxnerf.render import brdf
from jaxnerf.synthetic import ground_truth, lights, paths, plans, scenes
from raycast import first_hits

SCRIPT = os.path.join(REPO_ROOT, "scripts", "render_synthetic.py")
BLENDER_PYTHON = os.environ.get(
    "JAXNERF_BLENDER_PYTHON",
    os.path.join(REPO_ROOT, ".venv-blender", "bin", "python"))


# -- planning (numpy) --------------------------------------------------------


def test_look_at_puts_the_target_at_the_image_centre():
  c2w = paths.look_at((3.0, -2.0, 1.5), (0.2, 0.1, 0.3), roll=0.3)
  np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3),
                             atol=1e-12)
  assert np.linalg.det(c2w[:3, :3]) == pytest.approx(1.0)
  xy, z = paths.project(np.array([0.2, 0.1, 0.3]), c2w, 40, 30, 0.7)
  np.testing.assert_allclose(xy, [20.0, 15.0], atol=1e-9)
  assert z == pytest.approx(np.linalg.norm([2.8, -2.1, 1.2]))
  with pytest.raises(ValueError, match="parallel to up"):
    paths.look_at((0, 0, 4), (0, 0, 0))


def test_pixel_rays_project_back_to_their_pixels_at_their_depth():
  c2w = paths.look_at((0.5, -4.0, 2.0), (0.0, 0.0, 0.0))
  origins, dirs = paths.pixel_rays(c2w, 8, 6, 0.69)
  xy, z = paths.project(origins + 2.5 * dirs, c2w, 8, 6, 0.69)
  grid = np.stack(np.meshgrid(np.arange(8) + 0.5, np.arange(6) + 0.5), -1)
  np.testing.assert_allclose(xy, grid, atol=1e-9)
  np.testing.assert_allclose(z, 2.5)  # a distance t along a ray is camera z


def test_hemisphere_views_stay_above_their_elevation_and_look_inwards():
  c2w = paths.hemisphere(200, 4.0, np.random.default_rng(1), 10.0)
  eyes = c2w[:, :3, 3]
  np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), 4.0)
  assert np.degrees(np.arcsin(eyes[:, 2] / 4.0)).min() >= 10.0 - 1e-9
  # The camera looks along -z: towards the origin.
  np.testing.assert_allclose(-c2w[:, :3, 2], -eyes / 4.0, atol=1e-12)


def test_a_handheld_path_moves_in_small_steps():
  c2w = paths.handheld(120, np.random.default_rng(0), 4.0, 30.0)
  steps = np.linalg.norm(np.diff(c2w[:, :3, 3], axis=0), axis=1)
  # A full turn at radius about 4 in 119 steps: about 0.21 units a step.
  assert steps.max() < 0.4 and steps.min() > 0.05
  turn = [math.degrees(math.acos(np.clip((np.trace(a[:3, :3].T @ b[:3, :3])
                                          - 1) / 2, -1, 1)))
          for a, b in zip(c2w[:-1], c2w[1:])]
  assert max(turn) < 8.0


def test_frames_between_path_frames_lie_on_the_path_between_them():
  """A path evaluated at `between`'s times (Semantic-NeRF's held-out
  Replica frames: every 5th frame trains, the one 2 after it tests)."""
  path = paths.handheld_path(np.random.default_rng(0), 4.0, 30.0)
  t = paths.between(100, 20)
  np.testing.assert_allclose(t * 99, np.arange(20) * 5 + 2.5)
  frames, held = path(np.linspace(0.0, 1.0, 100)), path(t)
  np.testing.assert_array_equal(frames, paths.handheld(
      100, np.random.default_rng(0), 4.0, 30.0))
  before, after = frames[2::5, :3, 3], frames[3::5, :3, 3]
  eyes = held[:, :3, 3]
  gap = np.linalg.norm(after - before, axis=1)
  # Halfway in time on a smooth path: nearly the chord's midpoint, and
  # nearer to each neighbour than they are to each other.
  np.testing.assert_array_less(
      np.linalg.norm(eyes - 0.5 * (before + after), axis=1), 0.05 * gap)
  for side in (before, after):
    np.testing.assert_array_less(np.linalg.norm(eyes - side, axis=1), gap)
  # The held-out frames look the way the path looks: between the
  # neighbours' viewing directions.
  np.testing.assert_array_less(
      0.99, np.einsum("ij,ij->i", held[:, :3, 2], frames[2::5, :3, 2]))


def test_the_tabletop_val_split_leaves_the_committed_views_as_they_were():
  """The val split draws nothing from the seed, so the committed
  data/tabletop_100's train and test views are the plan's (to a few
  ulps: the set was drawn on another machine's libm)."""
  plan = plans.plan("tabletop")
  assert {k: len(v) for k, v in plan["splits"].items()} == {
      "train": 100, "test": 20, "val": 20}
  folder = os.path.join(REPO_ROOT, "data", "tabletop_100")
  for split in ("train", "test", "val"):
    with open(os.path.join(folder, f"transforms_{split}.json")) as f:
      committed = [v["transform_matrix"] for v in json.load(f)["frames"]]
    np.testing.assert_allclose(
        committed, [v["transform_matrix"] for v in plan["splits"][split]],
        rtol=0, atol=1e-12, err_msg=split)


def test_flow_of_a_sideways_step_over_a_plane_is_the_parallax():
  """A camera 4 above the ground looking down steps 0.1 along +x: every
  ground point moves f * 0.1 / 4 pixels to the left in the image."""
  a = paths.look_at((0.0, 0.0, 4.0), (0.0, 0.0, 0.0), up=(0, 1, 0))
  b = a.copy()
  b[0, 3] += 0.1
  depth = np.full((6, 8), 4.0)
  depth[0, 0] = 0.0  # no surface: no flow
  flow = paths.flow(depth, np.ones((6, 8), np.uint8), a, b, 0.69)
  f = paths.focal(8, 0.69)
  np.testing.assert_allclose(flow[1:, :, 0], -f * 0.1 / 4.0, atol=1e-9)
  np.testing.assert_allclose(flow[..., 1], 0.0, atol=1e-9)
  assert (flow[0, 0] == 0).all()
  # An object moving with the camera stays put in the image.
  move = np.eye(4)
  move[0, 3] = 0.1
  still = paths.flow(depth, np.full((6, 8), 2, np.uint8), a, b, 0.69,
                     {2: move})
  np.testing.assert_allclose(still, 0.0, atol=1e-9)


def test_sh_of_a_constant_environment_is_its_dc_term():
  """The integral of c Y_00 = c / (2 sqrt(pi)) over the sphere is
  c sqrt(4 pi); every other coefficient integrates to 0."""
  env = np.ones((64, 128, 3)) * np.array([0.5, 1.0, 2.0])
  sh = lights.sh_project(env)
  np.testing.assert_allclose(sh[0], np.array([0.5, 1.0, 2.0]) *
                             math.sqrt(4 * math.pi), rtol=1e-4)
  # (The midpoint rule leaves 3 z^2 - 1 a residue of order 1 / H^2.)
  np.testing.assert_allclose(sh[1:], 0.0, atol=2e-3)
  assert lights.equirect_solid_angles(32, 64).sum() == pytest.approx(
      4 * math.pi)
  # A function in the span of the basis comes back from its projection.
  dirs = lights.equirect_directions(64, 128)
  env = (1.0 + 0.5 * dirs[..., 2] + 0.3 * dirs[..., 0] * dirs[..., 1]
         )[..., None]
  back = lights.sh_radiance(lights.sh_project(env), dirs)
  np.testing.assert_allclose(back, env, atol=2e-3)


def test_light_records_are_checked_by_field():
  assert lights.check(lights.point((1, 2, 3), 10.0), "light")["power"] == 10
  for record, message in [
      ({"type": "spot"}, "light.type: unknown light type 'spot'"),
      ({"type": "point", "power": 1.0}, "needs field 'position'"),
      ({"type": "environment", "kind": "hdri", "strength": 1.0},
       "light.kind: unknown environment 'hdri'"),
      ({"type": "point", "power": 1.0, "position": [1, 2]},
       "light.position: expected [x, y, z]"),
      ("sun", "a light must be an object")]:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
      lights.check(record, "light")


def test_plans_are_a_function_of_the_seed():
  for name in plans.NAMES:
    a = plans.plan(name, seed=3, views=4)
    assert json.dumps(a) == json.dumps(plans.plan(name, seed=3, views=4))
    assert json.dumps(a) != json.dumps(plans.plan(name, seed=4, views=4))
    for split in a["splits"].values():
      for view in split:
        for k, record in enumerate(view["lights"]):
          lights.check(record, f"{name} light {k}")
  full = plans.plan("relight")
  assert {k: len(v) for k, v in full["splits"].items()} == {
      "train": 100, "val": 10, "test": 30}
  assert {r["type"] for v in full["splits"]["train"] for r in v["lights"]
          } == {"collocated"}
  assert {r["type"] for v in full["splits"]["test"] for r in v["lights"]
          } == {"point", "environment"}
  with pytest.raises(ValueError, match="unknown dataset 'lego'"):
    plans.plan("lego")


def test_moving_shapes_have_labels_of_their_own():
  scene = scenes.tabletop(np.random.default_rng(0), count=5, moving=2)
  labels = [s["index"] for s in scene["shapes"]]
  assert len(set(labels)) == len(labels)
  assert sum("motion" in s for s in scene["shapes"]) == 2
  with pytest.raises(ValueError, match="unknown primitive 'teapot'"):
    scenes.shape("x", "teapot", 1, scenes.material(np.random.default_rng()))


def test_ground_truth_files_round_trip_and_are_checked(tmp_path):
  maps = {"depth": np.ones((4, 5)), "normal": np.zeros((4, 5, 3)),
          "albedo": np.zeros((4, 5, 3)), "roughness": np.zeros((4, 5)),
          "metallic": np.zeros((4, 5)), "index": np.ones((4, 5))}
  path = str(tmp_path / "gt.npz")
  ground_truth.write(path, maps)
  back = ground_truth.read(path, 4, 5)
  assert back["depth"].dtype == np.float32 and back["index"].dtype == np.uint8
  with pytest.raises(ValueError, match="'depth' is"):
    ground_truth.read(path, 5, 5)
  del maps["albedo"]
  ground_truth.write(path, maps)
  with pytest.raises(ValueError, match="no 'albedo' map"):
    ground_truth.read(path)


# -- the command line ------------------------------------------------------


def run(args, python=sys.executable, timeout=120):
  return subprocess.run([python, SCRIPT] + args, capture_output=True,
                        text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("args,message", [
    (["--dataset", "lego"], "--dataset: unknown 'lego'"),
    (["--size", "4"], "--size: must be at least 8"),
    (["--samples", "0"], "--samples: must be at least 1"),
    (["--out", "{existing}"], "exists; give a new folder"),
    (["--out", "{missing}/x"], "does not exist"),
    (["--splits", "train,val"], "--splits: tiny has the splits train, "
                                "test, not val"),
])
def test_bad_flags_are_one_line_errors(tmp_path, args, message):
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "keep.txt").write_text("mine")
  base = {"--dataset": "tiny", "--out": str(tmp_path / "new")}
  flags = dict(base, **dict(zip(args[::2], args[1::2])))
  flags = {k: v.format(existing=tmp_path / "mine",
                       missing=tmp_path / "nowhere") for k, v in
           flags.items()}
  r = run([x for kv in flags.items() for x in kv])
  assert r.returncode == 1, r.stderr
  [line] = r.stderr.strip().splitlines()
  assert line.startswith("error: ") and message in line, line
  assert (tmp_path / "mine" / "keep.txt").read_text() == "mine"
  assert not (tmp_path / "new").exists()


def test_without_blender_the_script_says_which_environment(tmp_path):
  r = run(["--dataset", "tiny", "--out", str(tmp_path / "new")])
  assert r.returncode == 1
  [line] = r.stderr.strip().splitlines()
  assert "bpy" in line and "requirements-blender.txt" in line, line


# -- a rendered dataset ------------------------------------------------------


def blender_python() -> str:
  if not os.path.isfile(BLENDER_PYTHON):
    pytest.fail(f"{BLENDER_PYTHON} is missing: the generator's environment "
                "(python -m venv .venv-blender && .venv-blender/bin/pip "
                "install -r requirements-blender.txt; .ci/run makes it)")
  return BLENDER_PYTHON


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """Two renders of the tiny dataset (16 x 16) from the same command."""
  python = blender_python()
  folders = []
  for k in range(2):
    out = str(tmp_path_factory.mktemp("synthetic") / f"tiny_{k}")
    r = run(["--dataset", "tiny", "--out", out, "--threads", "2"], python,
            timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    folders.append(out)
  return folders


def frames(folder):
  for split in ("train", "test"):
    with open(os.path.join(folder, f"transforms_{split}.json")) as f:
      meta = json.load(f)
    for frame in meta["frames"]:
      yield split, meta["camera_angle_x"], frame


def read_mesh(folder):
  ply = plyfile.PlyData.read(os.path.join(folder, "mesh.ply"))
  verts = np.stack([ply["vertex"][k] for k in "xyz"], -1)
  faces = np.stack(ply["face"]["vertex_indices"])
  return verts, faces, np.asarray(ply["face"]["index"]), ply.comments


def test_every_output_has_its_shape_and_range(tiny):
  folder = tiny[0]
  with open(os.path.join(folder, "scene.json")) as f:
    record = json.load(f)
  labels = {s["index"] for s in record["scene"]["shapes"]}
  assert record["cost"]["views"] == 6 and record["dataset"] == "tiny"
  seen = set()
  for split, _, frame in frames(folder):
    rgba = iio.imread(os.path.join(folder, frame["file_path"] + ".png"))
    assert rgba.shape == (16, 16, 4) and rgba.dtype == np.uint8
    gt = ground_truth.read(os.path.join(folder, frame["ground_truth"]),
                           16, 16)
    hit = gt["index"] > 0
    assert set(np.unique(gt["index"])) <= labels | {0}
    assert hit.any()
    assert (gt["depth"][hit] > 0.5).all() and (gt["depth"][~hit] == 0).all()
    np.testing.assert_allclose(
        np.linalg.norm(gt["normal"][hit].astype(np.float64), axis=-1), 1.0,
        atol=3e-3)
    for name in ("albedo", "roughness", "metallic"):
      value = gt[name].astype(np.float64)
      assert value.min() >= 0.0 and value.max() <= 1.0, name
    # The image's coverage and the ground truth's hits agree inside.
    assert (rgba[..., 3][hit] > 0).mean() > 0.95
    assert ("flow" in gt) == (split == "train")
    if "flow" in gt:
      assert np.isfinite(gt["flow"]).all()
    assert ("time" in frame) and 0.0 <= frame["time"] <= 1.0
    for k, light in enumerate(frame["lights"]):
      lights.check(light, f"{split} {frame['file_path']} light {k}")
      seen.add(light["type"])
      if light["type"] == "collocated":
        np.testing.assert_allclose(light["position"],
                                   np.array(frame["transform_matrix"])
                                   [:3, 3])
  assert seen == {"collocated", "point", "environment"}
  verts, faces, face_labels, comments = read_mesh(folder)
  assert faces.shape[1] == 3 and faces.max() < len(verts)
  assert set(np.unique(face_labels)) == labels
  assert any("written by jaxnerf" in c for c in comments)


def test_depth_and_labels_equal_a_ray_cast_of_the_mesh(tiny):
  """The mesh is the scene at time 0: at the path's first frame every
  pixel, at other times the pixels of what does not move."""
  folder = tiny[0]
  verts, faces, face_labels, _ = read_mesh(folder)
  with open(os.path.join(folder, "scene.json")) as f:
    moving = {s["index"] for s in json.load(f)["scene"]["shapes"]
              if "motion" in s}
  checked = 0
  for _, angle, frame in frames(folder):
    gt = ground_truth.read(os.path.join(folder, frame["ground_truth"]))
    origins, dirs = paths.pixel_rays(np.array(frame["transform_matrix"]),
                                     16, 16, angle)
    t, tri = first_hits(verts, faces, origins.reshape(-1, 3),
                        dirs.reshape(-1, 3))
    label = np.where(np.isfinite(t), face_labels[tri], 0).reshape(16, 16)
    t = np.where(np.isfinite(t), t, 0.0).reshape(16, 16)
    still = np.isin(label, list(moving), invert=True) & np.isin(
        gt["index"], list(moving), invert=True)
    if frame["time"] == 0.0:
      still[:] = True
    np.testing.assert_array_equal(gt["index"][still], label[still])
    np.testing.assert_allclose(gt["depth"][still], t[still], atol=1e-4)
    checked += still.sum()
  assert checked > 6 * 256 * 0.7


def test_flow_is_the_reprojection_and_both_directions_agree(tiny):
  folder = tiny[0]
  train = [f for s, _, f in frames(folder) if s == "train"]
  with open(os.path.join(folder, "transforms_train.json")) as f:
    angle = json.load(f)["camera_angle_x"]
  grid = np.stack(np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5), -1)
  for a, b in zip(train[:-1], train[1:]):
    ga, gb = (ground_truth.read(os.path.join(folder, f["ground_truth"]))
              for f in (a, b))
    ca, cb = (np.array(f["transform_matrix"]) for f in (a, b))
    ground = ga["index"] == 1  # the ground plane does not move
    flow = paths.flow(ga["depth"], ga["index"], ca, cb, angle)
    np.testing.assert_allclose(ga["flow"][..., :2][ground], flow[ground],
                               atol=0.01)
    # Blender's own vector pass gives the way back: for the ground,
    # frame b's pixels reprojected into a.
    back = paths.flow(gb["depth"], gb["index"], cb, ca, angle)
    np.testing.assert_allclose(gb["flow"][..., 2:][gb["index"] == 1],
                               back[gb["index"] == 1], atol=0.01)
    # Moving objects: there and back again lands where it started (to
    # the nearest-pixel lookup of the way back).
    target = grid + ga["flow"][..., :2].astype(np.float64)
    cell = np.floor(target).astype(int)
    inside = ((cell >= 0) & (cell < 16)).all(-1) & (ga["index"] > 1)
    cell = cell[inside]
    same = gb["index"][cell[:, 1], cell[:, 0]] == ga["index"][inside]
    returned = gb["flow"][cell[:, 1], cell[:, 0], 2:][same]
    err = np.abs(ga["flow"][..., :2][inside][same] + returned)
    assert same.sum() >= 5 and np.median(err) < 0.15, (same.sum(),
                                                      np.median(err))


def test_environment_maps_are_their_formula_and_carry_their_sh(tiny):
  folder = tiny[0]
  [record] = [light for _, _, f in frames(folder)
              for light in f["lights"] if light["type"] == "environment"]
  with np.load(os.path.join(folder, record["map"])) as data:
    radiance, sh = data["map"].astype(np.float64), data["sh"]
  dirs = lights.equirect_directions(*radiance.shape[:2])
  f = (dirs[..., 2:] + 1.0) / 2.0
  ground, horizon, zenith = (np.array(record[k]) for k in
                             ("ground", "horizon", "zenith"))
  ramp = np.where(f < 0.5, ground + (horizon - ground) * f / 0.5,
                  horizon + (zenith - horizon) * (f - 0.5) / 0.5)
  spot = record["spot"]
  az, el = np.radians(spot["azimuth_deg"]), np.radians(spot["elevation_deg"])
  axis = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                   np.sin(el)])
  disc = (dirs @ axis > np.cos(np.radians(spot["size_deg"]) / 2))[..., None]
  want = record["strength"] * (ramp + disc * spot["strength"] *
                               np.array(spot["color"]))
  assert disc.sum() >= 4  # the spot sits where the map's columns say
  np.testing.assert_allclose(radiance, want, rtol=2e-3, atol=2e-3)
  np.testing.assert_allclose(sh, lights.sh_project(radiance), rtol=1e-2,
                             atol=1e-2)
  np.testing.assert_allclose(record["sh"], sh, rtol=1e-6)


def test_the_same_command_renders_the_same_files(tiny):
  a, b = tiny
  for _, _, frame in frames(a):
    for name in (frame["file_path"] + ".png", frame["ground_truth"]):
      path_a, path_b = os.path.join(a, name), os.path.join(b, name)
      if name.endswith(".png"):
        np.testing.assert_array_equal(iio.imread(path_a), iio.imread(path_b))
      else:
        ga, gb = ground_truth.read(path_a), ground_truth.read(path_b)
        for key in ga:
          np.testing.assert_array_equal(ga[key], gb[key], err_msg=key)
  assert read_mesh(a)[0].tobytes() == read_mesh(b)[0].tobytes()


def test_the_blender_loader_reads_the_float_depth(tiny, tmp_path):
  config = base_config()
  config.dataset_type, config.data_dir = "blender", tiny[0]
  data = load_dataset(config, "test")
  for depth, (_, _, frame) in zip(data.depths,
                                  [f for f in frames(tiny[0])
                                   if f[0] == "test"]):
    want = ground_truth.read(os.path.join(tiny[0], frame["ground_truth"]))
    np.testing.assert_array_equal(depth, want["depth"])
  # A broken ground-truth file is a one-line error naming it.
  broken = str(tmp_path / "broken")
  shutil.copytree(tiny[0], broken)
  with open(os.path.join(broken, "test", "r_0_gt.npz"), "wb") as f:
    f.write(b"not an npz")
  config.data_dir = broken
  with pytest.raises(DatasetError, match="r_0_gt.npz: not a readable"):
    load_dataset(config, "test")


def test_the_blender_loader_gives_the_material_maps(tiny):
  config = base_config()
  config.dataset_type, config.data_dir = "blender", tiny[0]
  data = load_dataset(config, "test")
  _, _, frame = [f for f in frames(tiny[0]) if f[0] == "test"][0]
  want = ground_truth.read(os.path.join(tiny[0], frame["ground_truth"]))
  np.testing.assert_array_equal(data.extras["surface"][0], want["index"] > 0)
  np.testing.assert_allclose(data.extras["albedo"][0], want["albedo"],
                             rtol=1e-3)
  np.testing.assert_allclose(np.linalg.norm(
      data.extras["normal"][0][want["index"] > 0], axis=-1), 1.0, atol=1e-5)
  config.factor = 2
  half = load_dataset(config, "test")
  assert half.extras["albedo"][0].shape == (8, 8, 3)
  # A half-resolution pixel is surface only where its whole block is.
  block = (want["index"] > 0).reshape(8, 2, 8, 2).all(axis=(1, 3))
  np.testing.assert_array_equal(half.extras["surface"][0], block)


def test_blender_renders_what_our_brdf_and_light_record_predict(tiny):
  """The relighting methods' model of the data: a flash-lit pixel's linear
  radiance is the BRDF (jaxnerf/render/brdf.py) of its true albedo,
  roughness and normal under the light record's intensity P / (4 pi) over
  the squared distance. On the first path frame's ground pixels inside
  flat patches of texture (the image is filtered, the maps are not), the
  median ratio of Cycles' Principled BSDF to it is within 5 %."""
  folder = tiny[0]
  _, angle, frame = next(frames(folder))
  gt = ground_truth.read(os.path.join(folder, frame["ground_truth"]))
  rgba = iio.imread(os.path.join(folder, frame["file_path"] + ".png")) / 255
  [light] = frame["lights"]
  assert light["type"] == "collocated"
  origins, dirs = paths.pixel_rays(np.array(frame["transform_matrix"]), 16,
                                   16, angle)
  to_eye = -dirs * gt["depth"][..., None]
  dist = np.linalg.norm(to_eye, axis=-1)
  v = to_eye / np.maximum(dist, 1e-9)[..., None]
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  predicted = np.asarray(brdf.reflected(
      f32(gt["normal"]), f32(v), f32(v), f32(gt["albedo"]),
      f32(gt["roughness"]), f32(gt["metallic"]))) * (
          light["power"] / (4 * math.pi) / np.maximum(dist, 1e-9)[..., None]
          ** 2)
  srgb = rgba[..., :3]
  linear = np.where(srgb <= 0.04045, srgb / 12.92,
                    ((srgb + 0.055) / 1.055) ** 2.4)
  albedo = gt["albedo"].astype(np.float64)
  flat = np.zeros((16, 16), bool)
  flat[1:-1, 1:-1] = np.all([np.abs(albedo[1:-1, 1:-1] - albedo[
      1 + dy:15 + dy, 1 + dx:15 + dx]).max(-1) < 0.02 for dy, dx in
                             ((0, 1), (0, -1), (1, 0), (-1, 0))], 0)
  mask = (gt["index"] == 1) & (rgba[..., 3] > 0.99) & flat & (
      linear.max(-1) < 0.95)
  assert mask.sum() >= 10
  ratio = np.median(linear[mask] / predicted[mask])
  assert abs(ratio - 1.0) < 0.05, ratio
