"""NeuS (issue #36): the opacity of an SDF, the Eikonal term, the SDF
backbone's geometric init, the zero level set's mesh and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.render import compositing, neus


def plane_along_ray(t0, cos, num=401):
  """Interval edges [num + 1], midpoints, lengths [num] on t in [0, 4] of
  a ray meeting a plane at t0 with <n, d> = cos < 0, and the plane's SDF
  at the midpoints, f = cos (t - t0)."""
  edges = np.linspace(0.0, 4.0, num + 1)
  mids = 0.5 * (edges[1:] + edges[:-1])
  delta = np.diff(edges)
  f_mid = cos * (mids - t0)
  return edges, mids, delta, f_mid


def test_neus_weights_are_unbiased_at_a_planar_crossing():
  """Hand-derived: along a ray through a plane, f(t) = c (t - t0) with the
  slope c = <n, d> < 0 exactly linear, so with the slope annealed (ratio
  1) the interval ends' SDF is exact and alpha_i = 1 - Phi(f_{i+1}) /
  Phi(f_i), T_i = prod_{j<i} (1 - alpha_j) = Phi(f_i) / Phi(f_0), and

    w_i = (Phi(f_i) - Phi(f_{i+1})) / Phi(f_0),

  the logistic density's mass over the interval: symmetric about t0, its
  maximum at the zero crossing (NeuS's Theorem 1)."""
  cos, s, t0 = -0.6, 40.0, 2.0
  edges, mids, delta, f_mid = plane_along_ray(t0, cos)
  alpha = neus.sdf_alpha(jnp.asarray(f_mid), jnp.full(f_mid.shape, cos),
                         jnp.asarray(delta), s, 1.0)
  w = np.asarray(neus.alpha_weights(alpha[None]))[0]
  phi = 1.0 / (1.0 + np.exp(-s * cos * (edges - t0)))
  np.testing.assert_allclose(w, (phi[:-1] - phi[1:]) / phi[0], atol=2e-4)
  assert edges[np.argmax(w)] <= t0 <= edges[np.argmax(w) + 1]
  # Unbiased: the expected depth is the crossing (the weights' mean): the
  # closed form's exactly; the code's within its ALPHA_EPS (1e-5 of
  # opacity in each of the 200 intervals before the plane, at mean t 1,
  # pulls the mean by about 0.002).
  exact = (phi[:-1] - phi[1:]) / phi[0]
  np.testing.assert_allclose(np.sum(exact * mids) / np.sum(exact), t0,
                             atol=1e-9)
  np.testing.assert_allclose(np.sum(w * mids) / np.sum(w), t0, atol=3e-3)
  # The naive solution (density = the logistic density of f, as a NeRF
  # density) peaks before the surface: the bias NeuS removes.
  density = s * phi[:-1] * (1.0 - phi[:-1])
  naive = np.asarray(compositing.weights_from_deltas(
      jnp.asarray(density[None]), jnp.asarray(delta[None])))[0]
  assert mids[np.argmax(naive)] < t0 - 0.02


def test_the_soft_slope_still_sees_a_surface_being_left():
  """Before annealing (ratio 0), an interval whose SDF rises (a ray leaving
  the surface, cos > 0) still gets some opacity (the official code's
  -(1 - cos) / 2 slope); annealed, none."""
  f, delta, s = jnp.asarray([0.0]), jnp.asarray([0.1]), 40.0
  soft = neus.sdf_alpha(f, jnp.asarray([0.5]), delta, s, 0.0)
  hard = neus.sdf_alpha(f, jnp.asarray([0.5]), delta, s, 1.0)
  assert float(soft[0]) > 0.3 and float(hard[0]) < 1e-4
  assert float(neus.cos_anneal_ratio(0.05, 0.1)) == pytest.approx(0.5)
  assert float(neus.cos_anneal_ratio(None, 0.1)) == 1.0
  assert float(neus.inv_s(jnp.asarray(0.3), 10.0)) == pytest.approx(
      np.exp(3.0), rel=1e-6)


def sphere_sdf(radius):
  return lambda p: (jnp.linalg.norm(p, axis=-1) - radius,
                    jnp.zeros(p.shape[:-1] + (2,)))


def test_eikonal_of_an_exact_sdf_is_zero():
  points = jax.random.uniform(jax.random.PRNGKey(0), (500, 3), minval=-1.5,
                              maxval=1.5)
  f, grad, feats = neus.with_gradient(sphere_sdf(0.7), points)
  assert feats.shape == (500, 2)
  np.testing.assert_allclose(neus.eikonal(grad), 0.0, atol=1e-6)
  np.testing.assert_allclose(grad, points / jnp.linalg.norm(
      points, axis=-1, keepdims=True), atol=1e-6)
  # Twice an SDF is no SDF: |grad| = 2, the term is 1.
  double = lambda p: (2.0 * sphere_sdf(0.7)(p)[0], sphere_sdf(0.7)(p)[1])
  np.testing.assert_allclose(
      neus.eikonal(neus.with_gradient(double, points)[1]), 1.0, atol=1e-5)


def tiny_neus(tmp_path, name="neus_demo", **fields):
  """Config `name` (an SDF-backbone demo) shrunk to a tiny grid and MLPs,
  2 steps on the embedded lego."""
  from conftest import EMBEDDED_LEGO
  from jaxnerf.engine import config as config_lib
  c = config_lib.load_config(name)
  with c.unlocked():
    c.data_dir = EMBEDDED_LEGO
    c.train_dir = str(tmp_path / "run")
    c.update(dict(hash_levels=4, hash_log2_size=10, hash_max_resolution=32,
                  density_width=16, color_width=16, field_samples=8,
                  importance_samples=4, batch_size=64, chunk=512,
                  max_steps=2, save_every=2, schedule_clock="steps",
                  max_time_minutes=0.0), **fields)
  return c


def test_the_sdf_backbone_starts_from_an_exact_sphere(tmp_path):
  """Geometric init: f = |x| - sdf_init_radius exactly (the MLP's last
  layer is zero), so the Eikonal term starts at 0 and the density of the
  field interface crosses s / 2 on that sphere."""
  from jaxnerf import methods
  from jaxnerf.methods import base
  c = tiny_neus(tmp_path)
  model = methods.of(c).build_model(c, base.SceneInfo())
  points = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
  # The field's methods alone (no render): jitted, each compiles once.
  variables = jax.jit(lambda k: model.init(
      {"params": k}, points, method="sdf"))(jax.random.PRNGKey(0))
  f = jax.jit(lambda v, p: model.apply(v, p, method="sdf"))(variables,
                                                            points)
  np.testing.assert_allclose(f, jnp.linalg.norm(points, axis=-1) -
                             c.sdf_init_radius, atol=1e-6)
  s = float(neus.inv_s(c.init_variance, c.variance_scale))
  on = jnp.asarray([[c.sdf_init_radius, 0.0, 0.0]])
  density = jax.jit(lambda v, p: model.apply(v, p, method="density"))
  np.testing.assert_allclose(density(variables, on), [s / 2], rtol=1e-5)
  # The gradient at the origin (a vertex of every even marching-cubes
  # grid) is finite: |x|'s own is NaN there.
  grad = jax.jit(jax.grad(lambda p: model.apply(variables, p[None],
                                                method="sdf")[0]))
  assert np.all(np.isfinite(grad(jnp.zeros(3))))


def test_marching_cubes_of_a_sphere_sdf_gives_its_radius():
  from jaxnerf.export import geometry
  radius = 0.6
  sdf = jax.jit(lambda p: -(jnp.linalg.norm(p, axis=-1) - radius))
  verts, faces = geometry.extract_mesh(sdf, 1.0, 48, 0.0)
  r = np.linalg.norm(verts, axis=-1)
  # Linear interpolation along grid edges of 2 / 48: within a tenth of it.
  np.testing.assert_allclose(r, radius, atol=0.2 * 2 / 48)
  assert abs(r.mean() - radius) < 0.002
  report = geometry.mesh_report(verts, faces)
  assert report["components"] == 1 and report["watertight"]
  assert report["largest_share"] == 1.0
  # Faces point out (marching cubes on -f, as on a density): the volume
  # trimesh measures is positive.
  import trimesh
  volume = trimesh.Trimesh(verts, faces, process=False).volume
  np.testing.assert_allclose(volume, 4 / 3 * np.pi * radius**3, rtol=0.02)


def test_neus_trains_and_exports_its_zero_level_set(tmp_path, capsys):
  """Two steps from the sphere, then export.py mesh: the zero level set is
  about the init sphere, one watertight component; a level never crossed
  is a one-line error."""
  import trimesh
  from jaxnerf.commands import export
  from jaxnerf.engine import trainer
  c = tiny_neus(tmp_path)
  trainer.train(c)
  run = str(tmp_path / "run")
  common = ["export.py", "mesh", "--config=neus_demo",
            f"--config.train_dir={run}", "--config.hash_levels=4",
            "--config.hash_log2_size=10", "--config.hash_max_resolution=32",
            "--config.density_width=16", "--config.color_width=16",
            "--resolution=32"]
  capsys.readouterr()
  assert export.main(common + [f"--out={tmp_path / 'm'}"]) == 0
  out = capsys.readouterr().out
  assert "mesh (signed distance 0):" in out and "1 components" in out
  assert "watertight" in out and "not watertight" not in out
  mesh = trimesh.load(tmp_path / "m.ply", force="mesh", process=False)
  r = np.linalg.norm(mesh.vertices, axis=-1)
  assert abs(np.median(r) - c.sdf_init_radius) < 0.1
  assert export.main(common + ["--threshold=5", f"--out={tmp_path / 'n'}"]
                     ) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: --threshold 5: the signed distance never "
                        "crosses it") and err.count("\n") == 1, err


def test_an_sdf_config_on_ndc_data_is_a_one_line_error(tmp_path, capsys):
  from conftest import REPO_ROOT
  from jaxnerf.commands import train
  assert train.main(["train.py", "--config=neus_demo",
                     "--config.dataset_type=llff",
                     f"--config.data_dir={REPO_ROOT}/data/fern_small",
                     "--config.factor=16", "--config.max_steps=1",
                     f"--config.train_dir={tmp_path / 'run'}"]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: config.llff_ndc: method neus renders a "
                        "signed distance field") and err.count("\n") == 1, err


def test_mesh_scores_without_truth_reports_and_draws_the_mesh(
    tmp_path, capsys, monkeypatch):
  """bench/mesh_scores.py --truth=none (a capture: no depth maps): the
  mesh's report and picture, no Chamfer, no data read (the data_dir does
  not exist)."""
  import importlib
  import json
  import os
  import trimesh
  from conftest import REPO_ROOT
  monkeypatch.syspath_prepend(os.path.join(REPO_ROOT, "bench"))
  mesh_scores = importlib.import_module("mesh_scores")
  mesh = tmp_path / "mesh.ply"
  trimesh.creation.icosphere(subdivisions=2).export(mesh)
  picture = tmp_path / "mesh.png"
  capsys.readouterr()
  assert mesh_scores.main([
      "mesh_scores.py", "--config=blender",
      f"--config.data_dir={tmp_path / 'absent'}",
      f"--config.train_dir={tmp_path / 'run'}", f"--mesh={mesh}",
      "--truth=none", f"--picture={picture}"]) == 0
  scores = json.loads(capsys.readouterr().out)
  assert scores["components"] == 1 and scores["watertight"]
  assert scores["vertices"] == 162 and "depth" not in scores
  import imageio.v3 as iio
  assert iio.imread(picture).min() < 200  # not blank
