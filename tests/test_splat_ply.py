"""The 3D Gaussian Splatting PLY (jaxnerf/export/splat_ply.py): the schema
as inria's code writes it, the world frame (Gaussians, rotations and SH
moved exactly: the same image from the moved camera), PLYs written by
other programs, the one-line errors, and `export.py splat` on a tiny
trained splat run."""

import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import plyfile
import pytest
from scipy.spatial.transform import Rotation

from conftest import EMBEDDED_LEGO
from jaxnerf import files
from jaxnerf.errors import DatasetError
from jaxnerf.export import splat_ply
from jaxnerf.render import splatting

W, H, F = 48, 40, 40.0  # image size and focal length (pixels)


def random_params(g=300, degree=3, dead=0, seed=0) -> dict:
  """Splat params of g Gaussians in [-1, 1]^3, colours strongly view
  dependent; the last `dead` slots unused (logit -20, as the backbone's)."""
  rng = np.random.default_rng(seed)
  k = (degree + 1)**2 - 1
  p = {"means": rng.uniform(-1, 1, (g, 3)),
       "log_scales": rng.uniform(-3.5, -2, (g, 3)),
       "quats": rng.normal(size=(g, 4)),
       "opacity_logits": rng.uniform(-1, 3, g),
       "sh_dc": rng.normal(0, 0.5, (g, 1, 3)),
       "sh_rest": rng.normal(0, 0.3, (g, k, 3))}
  p = {name: v.astype(np.float32) for name, v in p.items()}
  p["opacity_logits"][g - dead:] = -20.0
  return p


def camera(rotation=np.eye(3), distance=4.0) -> np.ndarray:
  """[3, 4] camera-to-world (OpenGL) looking at the origin."""
  rotation = np.asarray(rotation, np.float64)
  return np.concatenate([rotation, rotation @ [[0], [0], [distance]]], 1)


@jax.jit
def _render(params, c2w):
  means, covs, opacity, sh, degree = splat_ply.gaussians(params)
  colours = splatting.sh_colours(means, sh, c2w[:, 3], degree)
  return splatting.render_dense(means, covs, opacity, colours, c2w, F, F,
                                W / 2, H / 2, W, H)["rgb"]


def render(params, c2w) -> np.ndarray:
  """[H, W, 3] every Gaussian of params at every pixel (jitted: a few
  times faster than op by op, even compiled once per count)."""
  return np.asarray(_render({k: params[k] for k in splat_ply.NAMES},
                            jnp.asarray(c2w, jnp.float32)))


def expected_names(degree):
  return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] +
          [f"f_rest_{i}" for i in range(3 * ((degree + 1)**2 - 1))] +
          ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1",
           "rot_2", "rot_3"])


# The schema ------------------------------------------------------------------


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_round_trip_in_the_standard_schema(tmp_path, degree):
  p = random_params(40, degree, dead=7)
  # Opacity 1/257 and 1/254, either side of 1/255: the rasteriser never
  # draws the first.
  p["opacity_logits"][:2] = [np.log(1 / 256), np.log(1 / 253)]
  path = str(tmp_path / "s.ply")
  assert splat_ply.write(path, p) == 40 - 7 - 1
  keep = np.arange(40)[1:33]

  with open(path, "rb") as f:
    head = f.read(200)
  assert head.startswith(b"ply\nformat binary_little_endian 1.0\n"
                         b"comment written by jaxnerf\n"
                         b"element vertex 32\nproperty float x\n")
  assert files.signed(path)
  ply = plyfile.PlyData.read(path)
  assert [e.name for e in ply.elements] == ["vertex"]
  v = ply["vertex"]
  assert [q.name for q in v.properties] == expected_names(degree)
  assert all(q.val_dtype == "f4" for q in v.properties)
  np.testing.assert_array_equal(
      np.stack([v["x"], v["y"], v["z"]], -1), p["means"][keep])
  for name in ("nx", "ny", "nz"):
    assert not v[name].any()
  for c in range(3):
    np.testing.assert_array_equal(v[f"f_dc_{c}"], p["sh_dc"][keep, 0, c])
    np.testing.assert_array_equal(v[f"scale_{c}"],
                                  p["log_scales"][keep, c])
    # Channel-major, as inria's features_rest.transpose(1, 2).
    k = (degree + 1)**2 - 1
    for j in range(k):
      np.testing.assert_array_equal(v[f"f_rest_{c * k + j}"],
                                    p["sh_rest"][keep, j, c])
  np.testing.assert_array_equal(v["opacity"], p["opacity_logits"][keep])
  for i in range(4):
    np.testing.assert_array_equal(v[f"rot_{i}"], p["quats"][keep, i])

  back = splat_ply.read(path)
  assert set(back) == set(splat_ply.NAMES)
  for name in splat_ply.NAMES:
    assert back[name].dtype == np.float32
    np.testing.assert_array_equal(back[name], p[name][keep], err_msg=name)


def test_dead_slots_do_not_change_the_image(tmp_path):
  p = random_params(200, dead=60, seed=3)
  path = str(tmp_path / "s.ply")
  assert splat_ply.write(path, p) == 140
  c2w = camera(Rotation.from_euler("xy", [0.4, -0.3]).as_matrix())
  # Equal up to float32 summation order (another count of Gaussians).
  np.testing.assert_allclose(render(splat_ply.read(path), c2w),
                             render(p, c2w), atol=1e-6)


# The world frame -------------------------------------------------------------


def similarity(scale, rotation, shift) -> np.ndarray:
  m = np.eye(4)
  m[:3, :3] = scale * np.asarray(rotation)
  m[:3, 3] = shift
  return m


@pytest.mark.parametrize("mirror", [False, True], ids=["rotation",
                                                       "reflection"])
def test_world_frame_renders_the_same_from_the_moved_camera(tmp_path,
                                                            mirror):
  p = random_params(300, seed=1)
  rotation = Rotation.from_rotvec([0.7, -1.1, 0.4]).as_matrix()
  if mirror:  # a left-handed capture frame: still a similarity
    rotation = rotation @ np.diag([1.0, 1.0, -1.0])
  world = similarity(2.5, rotation, [0.3, -2.0, 5.0])
  path = str(tmp_path / "world.ply")
  assert splat_ply.write(path, p, world) == 300
  moved = splat_ply.read(path)

  c2w = camera(Rotation.from_euler("xyz", [0.3, -0.5, 0.2]).as_matrix())
  c2w_world = np.concatenate(
      [rotation @ c2w[:, :3], (world[:3, :3] @ c2w[:, 3] + world[:3, 3])
       [:, None]], 1)
  before = render(p, c2w)
  after = render(moved, c2w_world)
  assert (before.sum(-1) > 0.05).mean() > 0.3  # the cloud fills the view
  np.testing.assert_allclose(after, before, atol=2e-5)
  # The SH bands must turn with the scene: left as they were, the colours
  # seen from the moved camera are wrong (the test sees such a bug).
  unturned = dict(moved, sh_rest=p["sh_rest"])
  assert np.abs(render(unturned, c2w_world) - before).max() > 0.2
  np.testing.assert_allclose(
      moved["means"], 2.5 * p["means"] @ rotation.T + [0.3, -2.0, 5.0],
      atol=1e-5)
  np.testing.assert_allclose(moved["log_scales"], p["log_scales"] +
                             np.log(2.5), atol=1e-6)

  # Back into the scene frame: the numbers trained.
  back = splat_ply.params_from_ply(path, world)
  for name in splat_ply.NAMES:
    if name == "quats":  # the same rotation, maybe of opposite sign
      dots = np.sum(back[name] * p[name], -1) / np.linalg.norm(
          p[name], axis=-1)**2
      np.testing.assert_allclose(np.abs(dots), 1.0, atol=1e-5)
    else:
      np.testing.assert_allclose(back[name], p[name], atol=2e-5,
                                 err_msg=name)


def test_sh_rotations_are_orthogonal_and_exact():
  rotation = Rotation.from_rotvec([0.2, 0.9, -0.5]).as_matrix()
  mats = splat_ply.sh_rotations(rotation, 3)
  assert [m.shape for m in mats] == [(3, 3), (5, 5), (7, 7)]
  for m in mats:
    np.testing.assert_allclose(m @ m.T, np.eye(len(m)), atol=1e-9)
  # Band 1 is the rotation itself in the basis (-y, z, -x).
  perm = np.array([[0, -1, 0], [0, 0, 1], [-1, 0, 0]])
  np.testing.assert_allclose(mats[0], perm @ rotation @ perm.T, atol=1e-9)
  for m in splat_ply.sh_rotations(np.eye(3), 3):
    np.testing.assert_allclose(m, np.eye(len(m)), atol=1e-9)
  with pytest.raises(ValueError, match="not orthogonal"):
    splat_ply.sh_rotations(np.diag([1.0, 2.0, 1.0]), 2)


def test_a_matrix_that_is_not_a_similarity_is_refused(tmp_path):
  from jaxnerf.errors import CheckpointError
  shear = np.eye(4)
  shear[0, 1] = 0.3
  with pytest.raises(CheckpointError, match="world_from_scene: not a "
                     "similarity"):
    splat_ply.write(str(tmp_path / "s.ply"), random_params(5), shear)
  assert not os.listdir(tmp_path)


# Other programs' files -------------------------------------------------------


def inria_ply(path, g=50, seed=4):
  """A PLY as inria's save_ply writes it (plain numpy, not our writer):
  degree 3, normals, float32 little-endian. Returns the numbers as inria's
  load_ply reads them: xyz, features_dc [G, 1, 3], features_rest
  [G, 15, 3], opacity, scale, rot."""
  rng = np.random.default_rng(seed)
  xyz = rng.uniform(-1, 1, (g, 3))
  dc = rng.normal(0, 0.5, (g, 3, 1))  # inria's [G, 3, 1] before saving
  rest = rng.normal(0, 0.3, (g, 3, 15))
  opacity = rng.uniform(-1, 3, (g, 1))
  scale = rng.uniform(-3.5, -2, (g, 3))
  rot = rng.normal(size=(g, 4))
  names = (["x", "y", "z", "nx", "ny", "nz"] +
           [f"f_dc_{i}" for i in range(3)] +
           [f"f_rest_{i}" for i in range(45)] + ["opacity"] +
           [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)])
  table = np.concatenate([xyz, np.zeros((g, 3)), dc.reshape(g, -1),
                          rest.reshape(g, -1), opacity, scale, rot], 1)
  records = np.empty(g, dtype=[(n, "<f4") for n in names])
  for i, n in enumerate(names):
    records[n] = table[:, i]
  header = "".join(["ply\n", "format binary_little_endian 1.0\n",
                    f"element vertex {g}\n"] +
                   [f"property float {n}\n" for n in names] +
                   ["end_header\n"])
  with open(path, "wb") as f:
    f.write(header.encode() + records.tobytes())

  def f32(x):
    return np.asarray(x, np.float32)

  return {"means": f32(xyz), "sh_dc": f32(dc).transpose(0, 2, 1),
          "sh_rest": f32(rest).transpose(0, 2, 1),
          "opacity_logits": f32(opacity[:, 0]), "log_scales": f32(scale),
          "quats": f32(rot)}


def test_an_inria_ply_loads_and_renders_as_its_numbers(tmp_path):
  path = str(tmp_path / "point_cloud.ply")
  numbers = inria_ply(path)
  loaded = splat_ply.params_from_ply(path)
  for name in splat_ply.NAMES:
    np.testing.assert_array_equal(loaded[name], numbers[name], err_msg=name)
  c2w = camera(Rotation.from_euler("yz", [0.6, 0.1]).as_matrix(), 3.0)
  image = render(loaded, c2w)
  assert (image.sum(-1) > 0.05).mean() > 0.2
  np.testing.assert_allclose(image, render(numbers, c2w), atol=1e-6)
  # Padded to a model of degree 3 it is the same; a lower one is refused.
  assert splat_ply.params_from_ply(path, sh_degree=3)["sh_rest"].shape == (
      50, 15, 3)
  with pytest.raises(DatasetError, match="SH degree 3, above the model's 1"):
    splat_ply.params_from_ply(path, sh_degree=1)


def test_ascii_any_order_extra_properties_and_a_padded_degree(tmp_path):
  path = str(tmp_path / "a.ply")
  names = ["rot_3", "opacity", "red", "z", "y", "x", "scale_2", "scale_0",
           "scale_1", "rot_0", "rot_2", "rot_1", "f_dc_2", "f_dc_0",
           "f_dc_1"] + [f"f_rest_{i}" for i in (8, 0, 1, 2, 3, 4, 5, 6, 7)]
  rows = np.arange(2 * len(names), dtype=np.float64).reshape(2, -1) / 10
  records = np.empty(2, dtype=[(n, "f8" if n != "red" else "u1")
                               for n in names])
  for i, n in enumerate(names):
    records[n] = rows[:, i] if n != "red" else 7
  plyfile.PlyData([plyfile.PlyElement.describe(records, "vertex")],
                  text=True).write(path)

  def col(name):
    return rows[:, names.index(name)].astype(np.float32)

  p = splat_ply.params_from_ply(path, sh_degree=2)
  np.testing.assert_array_equal(p["means"], np.stack(
      [col("x"), col("y"), col("z")], -1))
  np.testing.assert_array_equal(p["quats"][:, 3], col("rot_3"))
  np.testing.assert_array_equal(p["opacity_logits"], col("opacity"))
  assert p["sh_rest"].shape == (2, 8, 3)
  # f_rest_{c * 3 + k} is band coefficient k of channel c.
  np.testing.assert_array_equal(p["sh_rest"][:, 2, 1], col("f_rest_5"))
  np.testing.assert_array_equal(p["sh_rest"][:, 0, 2], col("f_rest_6"))
  assert not p["sh_rest"][:, 3:].any()


# Errors ----------------------------------------------------------------------


def ply_text(names, values=None, element="vertex", extra=""):
  values = values or ["0.5"] * len(names)
  return ("ply\nformat ascii 1.0\n" + f"element {element} 1\n" +
          "".join(f"property float {n}\n" for n in names) + extra +
          "end_header\n" + " ".join(values) + "\n")


GOOD = splat_ply.property_names(0)
ERRORS = {
    "not_ply": ("hello\n", "not a PLY file"),
    "binary_junk": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
                    "not a PLY file"),
    "no_vertex": (ply_text(GOOD, element="face"), "no 'vertex' element"),
    "missing": (ply_text([n for n in GOOD if n != "scale_1"]),
                "no property 'scale_1'"),
    "rest_count": (ply_text(GOOD + [f"f_rest_{i}" for i in range(10)]),
                   "10 f_rest properties; SH degrees 0..3 have 0, 9, 24, "
                   "45"),
    "rest_gap": (ply_text(GOOD + [f"f_rest_{i}" for i in range(1, 10)]),
                 "no property 'f_rest_0'"),
    "nan": (ply_text(GOOD, ["nan" if n == "opacity" else "0.5"
                            for n in GOOD]),
            "property 'opacity' has non-finite values (vertex 0"),
    "inf": (ply_text(GOOD, ["-inf" if n == "f_dc_2" else "0.5"
                            for n in GOOD]),
            "property 'f_dc_2' has non-finite values"),
    "zero_rotation": (ply_text(GOOD, ["0" if n.startswith("rot") else "1"
                                      for n in GOOD]),
                      "rot_0..rot_3 are all 0 at vertex 0"),
    "truncated": (ply_text(GOOD).replace("element vertex 1",
                                         "element vertex 3"),
                  "malformed PLY data"),
    "negative_count": (ply_text(GOOD).replace("element vertex 1",
                                              "element vertex -2"),
                       "malformed PLY header"),
    "list": ("ply\nformat ascii 1.0\nelement vertex 1\n"
             "property list uchar float x\n" +
             "".join(f"property float {n}\n" for n in GOOD[1:]) +
             "end_header\n2 1 1 " + " ".join(["1"] * (len(GOOD) - 1)) +
             "\n", "property 'x' is a list"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_files_are_one_line_dataset_errors(tmp_path, case):
  text, says = ERRORS[case]
  path = tmp_path / f"{case}.ply"
  path.write_bytes(text if isinstance(text, bytes) else text.encode())
  with pytest.raises(DatasetError) as e:
    splat_ply.read(str(path))
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith(f"{path}: "), message
  assert says in message, message


def test_a_missing_file_and_a_folder(tmp_path):
  for path, says in ((tmp_path / "nope.ply", "cannot read"),
                     (tmp_path, "cannot read")):
    with pytest.raises(DatasetError, match=f"^{path}: {says}"):
      splat_ply.read(str(path))


# export.py splat ------------------------------------------------------------

SHRINK = ["--config.splat_count=500", "--config.splat_init_count=500",
          "--config.patch_size=32", "--config.batch_size=1024",
          "--config.splat_capacity=256", "--config.splat_tile_groups=2"]


def command(name, train_dir, *args):
  module = importlib.import_module(f"jaxnerf.commands.{name}")
  return module.main([f"{name}.py", "--config=splat_demo",
                      f"--config.data_dir={EMBEDDED_LEGO}",
                      f"--config.train_dir={train_dir}", *SHRINK, *args])


def test_export_splat_end_to_end(tmp_path, capsys):
  from jaxnerf.engine import config as config_lib, runs
  train_dir = tmp_path / "run"
  assert command("train", train_dir, "--config.max_steps=2",
                 "--config.print_every=1") == 0
  assert command("export", train_dir, "splat") == 0
  out = capsys.readouterr().out
  path = train_dir / "splats.ply"
  assert f"-> {path}" in out and "of 500 slots" in out

  config = config_lib.load_config("splat_demo")
  with config.unlocked():
    config.update(train_dir=str(train_dir), data_dir=EMBEDDED_LEGO,
                  splat_count=500, splat_init_count=500)
  params = splat_ply.splat_params(runs.restore_field(config).variables[
      "params"])
  keep = splat_ply.in_use(params)
  assert keep.sum() > 400  # all 500 were initialised in use
  ply = plyfile.PlyData.read(str(path))
  assert [q.name for q in ply["vertex"].properties] == expected_names(3)
  assert ply.comments == [files.SIGNATURE]
  back = splat_ply.read(str(path))
  # The embedded lego is not normalised: the world frame is the scene's.
  for name in splat_ply.NAMES:
    np.testing.assert_array_equal(back[name], params[name][keep])

  # Another file at --out is never replaced; our own is.
  theirs = tmp_path / "theirs.ply"
  theirs.write_text("ply\nsomeone's\n")
  assert command("export", train_dir, "splat", f"--out={theirs}",
                 "--frame=scene") == 1
  err = capsys.readouterr().err
  assert err.splitlines() == [
      f"error: --out: {theirs} exists and was not written by "
      "jaxnerf; it is left alone: move it or choose another --out"]
  assert theirs.read_text() == "ply\nsomeone's\n"
  mine = tmp_path / "mine.ply"
  os.replace(path, mine)
  assert command("export", train_dir, "splat", f"--out={mine}",
                 "--frame=scene") == 0
  assert splat_ply.read(str(mine))["means"].shape == (int(keep.sum()), 3)


def dead_params():
  p = random_params(6)
  p["opacity_logits"][:] = -20.0
  return p


def nan_params():
  p = random_params(6)
  p["quats"][3, 1] = np.nan
  return p


BAD_RUNS = {
    "another_method": (lambda: {"hash_grid": np.zeros(4),
                                "means": np.zeros((3, 3))},
                       "--config.method: 'splat' is not a Gaussian-splat "
                       "method (the run's parameters are not Gaussians' "
                       "means, log_scales, quats, opacity_logits, sh_dc, "
                       "sh_rest); export.py splat exports a splat run (e.g. "
                       "--config=splat_demo)"),
    "all_unused": (dead_params, "config.train_dir: no Gaussian of the "
                   "checkpoint of step 5 is in use (opacity >= 1/255); "
                   "nothing written"),
    "non_finite": (nan_params, "config.train_dir: the checkpoint of step 5 "
                   "has non-finite quats; nothing written"),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_export_splat_of_a_run_it_cannot_export(tmp_path, capsys,
                                                monkeypatch, case):
  """The restored parameters decide (a field method's have no Gaussians);
  the restore is faked: no training."""
  from jaxnerf.engine import runs
  make, says = BAD_RUNS[case]
  (tmp_path / "run").mkdir()
  files.write_json(str(tmp_path / "run" / "scene.json"), {"num_cameras": 1})
  field = runs.Field(method=None, model=None, step=5,
                     variables={"params": make()})
  monkeypatch.setattr(runs, "restore_field", lambda config: field)
  assert command("export", tmp_path / "run", "splat") == 1
  err = capsys.readouterr().err
  assert err.splitlines() == ["error: " + says], err
  assert os.listdir(tmp_path / "run") == ["scene.json"]
