"""Chamfer distance, depth back-projection, surface samples, the mesh
report and bench/mesh_scores.py (issue #36)."""

import json
import os

import numpy as np
import pytest

from jaxnerf.core import geometry_metrics as gm


def grid_points(n=12):
  """[n^3, 3] a regular grid in [-0.5, 0.5]^3."""
  a = np.linspace(-0.5, 0.5, n)
  return np.stack(np.meshgrid(a, a, a, indexing="ij"), -1).reshape(-1, 3)


def test_chamfer_of_identical_sets_is_zero():
  p = grid_points()
  assert gm.chamfer(p, p) == {"accuracy": 0.0, "completeness": 0.0,
                              "chamfer": 0.0}


def test_chamfer_of_a_shifted_set_is_the_shift():
  # Shifted by less than half the grid spacing (1/11), every point's
  # nearest neighbour is its own shifted copy.
  p = grid_points()
  shift = np.array([0.03, 0.0, 0.02])
  result = gm.chamfer(p + shift, p)
  np.testing.assert_allclose(
      [result["accuracy"], result["completeness"], result["chamfer"]],
      [np.linalg.norm(shift)] * 3, rtol=1e-9)


def test_chamfer_is_asymmetric_and_crops_to_the_box():
  # A half of the truth is missing: completeness suffers, accuracy not.
  # The missing x are h/2 + k h (k = 0..5, h = 1/11), (k + 1) h from the
  # nearest kept x = -h/2: half the points at a mean 3.5 h.
  p = grid_points()
  half = p[p[:, 0] <= 0]
  result = gm.chamfer(half, p)
  assert result["accuracy"] == 0.0
  np.testing.assert_allclose(result["completeness"], 0.5 * 3.5 / 11)
  # A far outlier counts, unless the box leaves it out.
  noisy = np.concatenate([p, [[3.0, 0.0, 0.0]]])
  assert gm.chamfer(noisy, p)["accuracy"] > 2.0 / len(noisy)
  assert gm.chamfer(noisy, p, bound=1.0)["accuracy"] == 0.0
  with pytest.raises(ValueError, match="no predicted point inside"):
    gm.chamfer(p + 5.0, p, bound=1.0)


def test_depth_points_back_project_a_plane():
  # A camera at z = 2 looking down -z at the plane z = 0: every pixel's
  # camera-z depth is 2, and the points land on the plane; depth 0 drops.
  h = w = 5
  y, x = np.mgrid[:h, :w] + 0.5
  dirs = np.stack([(x - w / 2) / 4, -(y - h / 2) / 4, -np.ones((h, w))], -1)
  origins = np.broadcast_to([0.0, 0.0, 2.0], (h, w, 3))
  depth = np.full((h, w), 2.0)
  depth[0, 0] = 0.0
  points = gm.depth_points(origins, dirs, depth)
  assert points.shape == (h * w - 1, 3)
  np.testing.assert_allclose(points[:, 2], 0.0, atol=1e-12)
  # The last pixel's ray: (2 / 4, -2 / 4, -1) per unit depth, times 2.
  np.testing.assert_allclose(points[-1, :2], [1.0, -1.0])


def test_seen_points_are_those_not_hidden_behind_the_true_surface():
  # One camera at z = 2 looking down -z (4x4 pixels, focal 4), the true
  # surface at depth 1 (z = 1) except one background pixel.
  c2w = np.array([[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2]]])
  depth = np.ones((4, 4))
  depth[0, 0] = 0.0  # pixel (u 0, v 0): up-left, no surface
  k = lambda x: np.array([x], np.float64)
  points = np.array([[0.1, 0.1, 1.5],     # in front of the surface
                     [0.1, 0.1, 0.98],    # behind it, within tolerance
                     [0.1, 0.1, 0.5],     # hidden behind it
                     [-0.6, 0.6, 0.0],    # behind, on the background pixel
                     [5.0, 0.0, 0.0],     # outside the image
                     [0.0, 0.0, 3.0]])    # behind the camera
  seen = gm.seen(points, c2w, k(4.0), k(4.0), k(2.0), k(2.0), [depth], 0.05)
  np.testing.assert_array_equal(seen, [1, 1, 0, 1, 0, 0])
  # Accuracy on the judged points only; completeness on all of them.
  true = np.array([[0.0, 0.0, 0.0]])
  result = gm.chamfer(np.array([[0.0, 0, 0], [9.0, 0, 0]]), true,
                      judged=np.array([True, False]))
  assert result["accuracy"] == 0.0 and result["completeness"] == 0.0


def test_surface_samples_lie_on_a_unit_sphere():
  import trimesh
  sphere = trimesh.creation.icosphere(subdivisions=4)
  points = gm.sample_surface(sphere.vertices, sphere.faces, 2000, seed=1)
  assert points.shape == (2000, 3)
  r = np.linalg.norm(points, axis=-1)
  assert 0.99 < r.min() and r.max() <= 1.0 + 1e-9
  again = gm.sample_surface(sphere.vertices, sphere.faces, 2000, seed=1)
  np.testing.assert_array_equal(points, again)
  # Area-weighted: as many in the upper as in the lower half, within 5 %.
  assert abs(np.mean(points[:, 2] > 0) - 0.5) < 0.05


def test_quantisation_floor_of_the_lego_depth_pngs():
  # 8-bit depth over 8 units: a step of 8 / 255; uniform rounding error.
  floor = gm.quantisation_floor(8.0 / 255.0)
  rng = np.random.default_rng(0)
  d = rng.uniform(2.0, 6.0, 200_000)
  step = 8.0 / 255.0
  err = np.round(d / step) * step - d
  np.testing.assert_allclose(np.mean(np.abs(err)), floor["depth_mae"],
                             rtol=0.01)
  np.testing.assert_allclose(np.sqrt(np.mean(err**2)), floor["depth_rmse"],
                             rtol=0.01)


def test_mesh_report_counts_components_and_watertightness():
  import trimesh
  from jaxnerf.export import geometry
  a = trimesh.creation.icosphere(subdivisions=2)
  b = trimesh.creation.icosphere(subdivisions=1)
  b.vertices += [3.0, 0.0, 0.0]
  both = trimesh.util.concatenate([a, b])
  report = geometry.mesh_report(np.asarray(both.vertices),
                                np.asarray(both.faces))
  assert report["vertices"] == len(a.vertices) + len(b.vertices)
  assert report["components"] == 2 and report["watertight"]
  np.testing.assert_allclose(report["largest_share"],
                             len(a.vertices) / report["vertices"])
  open_mesh = geometry.mesh_report(np.asarray(a.vertices),
                                   np.asarray(a.faces[1:]))
  assert open_mesh["components"] == 1 and not open_mesh["watertight"]


def test_mesh_scores_of_the_exact_sphere(tmp_path, capsys, monkeypatch):
  """bench/mesh_scores.py on a scene of a sphere: two views' depth of a
  unit sphere and its exact mesh; a mesh of the sphere scores near 0, the
  same mesh moved scores the move."""
  import importlib
  import trimesh
  from conftest import REPO_ROOT
  # Bench scripts import each other (mesh_scores draws with bake_lego's).
  monkeypatch.syspath_prepend(os.path.join(REPO_ROOT, "bench"))
  mesh_scores = importlib.import_module("mesh_scores")
  data = tmp_path / "scene"
  (data / "test").mkdir(parents=True)
  sphere = trimesh.creation.icosphere(subdivisions=5)
  sphere.export(data / "mesh.ply")
  write_sphere_views(data, 64)
  mesh = tmp_path / "mesh.ply"
  sphere.export(mesh)
  args = ["mesh_scores.py", "--config=blender", f"--config.data_dir={data}",
          f"--config.train_dir={tmp_path / 'run'}", "--config.near=0.5",
          "--points=20000", f"--mesh={mesh}"]
  assert mesh_scores.main(args + [f"--out={tmp_path / 's.json'}"]) == 0
  scores = json.loads((tmp_path / "s.json").read_text())
  assert scores["components"] == 1 and scores["watertight"]
  # The depth points lie on the sphere: completeness is about half the
  # spacing of 20000 samples over its area 4 pi (0.025); the views see
  # only part of it, so accuracy charges the unseen part.
  assert scores["depth"]["completeness"] < 0.02
  assert scores["depth"]["accuracy"] > 0.1
  # Judged where the views could see it, the exact mesh is near the depth
  # points (spaced 0.045 apart at the sphere on 64-pixel views).
  assert scores["depth_seen"]["accuracy"] < 0.05
  assert 0.2 < scores["seen_share"] < 0.8
  assert scores["depth"]["truth_points"] > 1000
  assert scores["exact_mesh"]["chamfer"] < 0.01
  moved = tmp_path / "moved.ply"
  sphere.apply_translation([0.0, 0.0, 0.1]).export(moved)
  capsys.readouterr()
  picture = tmp_path / "moved.png"
  assert mesh_scores.main(args[:-1] + [f"--mesh={moved}",
                                       f"--picture={picture}"]) == 0
  scores = json.loads(capsys.readouterr().out)
  assert 0.04 < scores["exact_mesh"]["chamfer"] < 0.1
  import imageio.v3 as iio
  drawn = iio.imread(picture)
  assert drawn.shape == (480, 480, 3) and drawn.min() < 200  # not blank
  # A picture is never drawn over an existing file (PNGs carry no mark).
  assert mesh_scores.main(args[:-1] + [f"--mesh={moved}",
                                       f"--picture={picture}"]) == 1
  assert "--picture:" in capsys.readouterr().err
  # Bad input: one line, exit 1, nothing written.
  assert mesh_scores.main(args[:-1] + [f"--mesh={tmp_path / 'none.ply'}"]
                          ) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: --mesh:") and err.count("\n") == 1


def write_sphere_views(data, size):
  """A Blender-layout test split of two views of the unit sphere from
  z = 4 and x = 4, float depth in a ground-truth npz (the generator's
  layout: camera-z depth)."""
  import imageio.v3 as iio
  from jaxnerf.synthetic import ground_truth
  focal = size / 2 / np.tan(0.35)
  frames = []
  looks = {"front": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4.0]]),
           "side": np.array([[0, 0, 1, 4.0], [0, 1, 0, 0], [-1, 0, 0, 0]])}
  for name, c2w in looks.items():
    y, x = np.mgrid[:size, :size] + 0.5
    d_cam = np.stack([(x - size / 2) / focal, -(y - size / 2) / focal,
                      -np.ones((size, size))], -1)
    d = d_cam @ c2w[:, :3].T
    o = c2w[:, 3]
    # |o + t d| = 1: t^2 |d|^2 + 2 t <o, d> + |o|^2 - 1 = 0.
    a, b, c = np.sum(d * d, -1), 2 * d @ o, o @ o - 1.0
    disc = b * b - 4 * a * c
    t = np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), 0)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 3] = 255
    iio.imwrite(data / "test" / f"{name}.png", rgba)
    zeros, zeros3 = np.zeros((size, size)), np.zeros((size, size, 3))
    ground_truth.write(str(data / "test" / f"{name}_truth.npz"),
                       {"depth": t, "normal": zeros3, "albedo": zeros3,
                        "roughness": zeros, "metallic": zeros,
                        "index": (t > 0).astype(np.uint8)})
    frames.append({"file_path": f"./test/{name}",
                   "ground_truth": f"test/{name}_truth.npz",
                   "transform_matrix": np.vstack([c2w, [0, 0, 0, 1]]
                                                 ).tolist()})
  meta = {"camera_angle_x": 0.7, "frames": frames}
  for split in ("train", "test"):
    (data / f"transforms_{split}.json").write_text(json.dumps(meta))
