"""Distillation from a teacher (jaxnerf/engine/distill.py): the loss by
hand, where points are drawn, the teacher's occupied cells on an analytic
ball, a student fitting an analytic teacher, and train.py's whole path
(distill, then the images; resume; one-line errors)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.commands import train as train_cmd
from jaxnerf.engine import config as config_lib
from jaxnerf.engine import distill, runs, training
from jaxnerf.errors import CheckpointError, ConfigError

LEGO = os.path.join(os.path.dirname(__file__), "..", "data", "lego_100")


def test_loss_by_hand():
  sigma_s, sigma_t = jnp.array([0.0, 10.0]), jnp.array([100.0, 10.0])
  rgb_s = jnp.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
  rgb_t = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.5, 1.0]])
  loss, mse = distill.distill_loss(sigma_s, rgb_s, sigma_t, rgb_t, 0.01)
  # alpha: 0 vs 1 - e^-1 on the first point, equal on the second; colour
  # errors 1 and 0.25.
  a = 1 - np.exp(-1.0)
  np.testing.assert_allclose(loss, (a**2 + 1 + 0.25) / 2 / 4, rtol=1e-6)
  np.testing.assert_allclose(mse, (1 + 0.25) / 2 / 3, rtol=1e-6)


def test_points_drawn_in_the_cells_then_the_box():
  cells = jnp.array([0, 63], jnp.int32)  # the two opposite corners of 4^3
  points, dirs = distill.draw_points(jax.random.PRNGKey(0), cells, 4, 2.0,
                                     1000, 0.75)
  near, box = np.asarray(points[:750]), np.asarray(points[750:])
  low = np.all((near >= -2) & (near < -1), axis=-1)
  high = np.all((near >= 1) & (near < 2), axis=-1)
  assert np.all(low | high) and 250 < low.sum() < 500
  assert np.all(np.abs(box) <= 2) and np.mean(np.all(np.abs(box) < 1, -1)) < 0.3
  np.testing.assert_allclose(np.linalg.norm(dirs, axis=-1), 1, atol=1e-5)


def test_occupied_cells_of_a_ball_are_its_cells_and_their_neighbours():
  radius, res, bound = 0.5, 8, 2.0
  density = lambda p: jnp.where(jnp.linalg.norm(p, axis=-1) < radius,
                                1000.0, 0.0)
  cells = distill.occupied_cells(density, res, bound, 0.01, 0.01,
                                 points_per_cell=64)
  ijk = np.stack([cells % res, cells // res % res, cells // res**2], -1)
  # Cells of 0.5 units: the ball fills the 2^3 cells around the centre
  # (indices 3 and 4 on each axis); dilated by one cell, the 4^3 of
  # indices 2 to 5.
  assert len(cells) == 4**3
  for axis in range(3):
    assert set(ijk[:, axis]) == {2, 3, 4, 5}


def analytic_teacher():
  """A ball of density 50 (radius 0.6) coloured by position."""
  density = lambda v, p: jnp.where(jnp.linalg.norm(p, axis=-1) < 0.6,
                                   50.0, 0.0)
  radiance = lambda v, p, d: jnp.clip(0.5 + 0.5 * p, 0, 1)
  cells = distill.occupied_cells(lambda p: density(None, p), 8, 1.0, 0.05,
                                 0.01)
  return distill.Teacher(density=density, radiance=radiance, variables={},
                         cells=cells, resolution=8, bound=1.0, step=0)


def test_a_student_fits_an_analytic_teacher():
  c = config_lib.method_config("kilonerf")
  c.update(dict(kilo_resolution=2, kilo_width=16, kilo_dir_width=8,
                kilo_pos_freqs=2, kilo_dir_freqs=1, scene_bound=1.0,
                occupancy_resolution=8, distill_batch=1024,
                distill_alpha_step=0.05, lr_init=1e-2, lr_final=1e-2,
                max_steps=200))
  teacher = analytic_teacher()
  method, model, state = training.setup(c, jax.random.PRNGKey(0))
  step = distill.jit_distill_step(method, model, c, teacher)
  cells = jnp.asarray(teacher.cells)
  losses = []
  for _ in range(150):
    state, stats = step(state, {}, cells, jax.random.PRNGKey(1))
    losses.append(float(stats["loss"]))
  assert int(state.step) == 150
  assert np.mean(losses[-10:]) < 0.25 * np.mean(losses[:3])
  # The fitted field: dense inside the ball, empty far outside.
  variables = {"params": state.params, **state.model_state}
  sigma = model.apply(variables, jnp.array([[0.0, 0.0, 0.0],
                                            [0.9, 0.9, 0.9]]),
                      method="density")
  alpha = 1 - np.exp(-np.asarray(sigma) * 0.05)
  assert alpha[0] > 0.7 and alpha[1] < 0.1


def write_config(path, body):
  with open(path, "w") as f:
    f.write("from jaxnerf.engine import config as config_lib\n\n"
            "def get_config():\n  return " + body + "\n")
  return str(path)


TINY_GRID = ("hash_levels=4, hash_log2_size=10, hash_max_resolution=32, "
             "density_width=16, color_width=16, batch_size=128, "
             "render_every=0, print_every=1, save_every=100")


@pytest.mark.skipif(not os.path.isdir(LEGO), reason="no embedded lego")
def test_train_py_distills_then_trains_and_resumes(tmp_path, capsys):
  teacher = write_config(tmp_path / "teacher.py", (
      f"config_lib.new('instant_ngp', 'blender', {LEGO!r}, "
      f"{str(tmp_path / 'teacher')!r}, max_steps=2, {TINY_GRID})"))
  assert train_cmd.main(["train.py", f"--config={teacher}"]) == 0
  student = [
      "--config=kilonerf_demo", f"--config.data_dir={LEGO}",
      f"--config.train_dir={tmp_path / 'student'}",
      f"--config.teacher_config={teacher}", "--config.distill_steps=3",
      "--config.distill_batch=512", "--config.distill_occupancy_resolution=8",
      "--config.kilo_resolution=2", "--config.kilo_width=8",
      "--config.kilo_dir_width=8", "--config.batch_size=128",
      "--config.samples_budget=4096", "--config.print_every=1",
      "--config.max_time_minutes=0", "--config.save_every=3"]
  # A teacher config that does not build the teacher run's model: one
  # line, and no student folder.
  assert train_cmd.main(["train.py"] + student + [
      "--config.teacher_config=instant_ngp_demo",
      f"--config.teacher_dir={tmp_path / 'teacher'}"]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: config.teacher_config (instant_ngp_demo)")
  assert "does not fit" in err and len(err.strip().splitlines()) == 1
  assert not os.path.exists(tmp_path / "student")
  assert train_cmd.main(["train.py"] + student + ["--config.max_steps=3"]) == 0
  out = capsys.readouterr().out
  assert "Distilling from" in out and "(step 2) for 3 steps" in out
  # Resumed past the distillation: no teacher restored, photometric steps.
  assert train_cmd.main(["train.py"] + student + ["--config.max_steps=5"]) == 0
  out = capsys.readouterr().out
  assert "Resumed" in out and "Distilling" not in out
  assert "step       5/5" in out


def test_bad_teacher_settings_are_one_line_errors(tmp_path):
  c = config_lib.load_config("kilonerf_demo")
  c.teacher_config = ""
  with pytest.raises(ConfigError, match="config.distill_steps"):
    distill.check_config(c)
  c.teacher_config = "kilonerf_demo"
  c.distill_steps = c.max_steps + 1
  with pytest.raises(ConfigError, match="config.distill_steps"):
    distill.check_config(c)
  c.distill_steps = 10
  c.distill_occupied_share = 1.5
  with pytest.raises(ConfigError, match="config.distill_occupied_share"):
    distill.check_config(c)
  argv = ["--config=kilonerf_demo", f"--config.train_dir={tmp_path / 's'}",
          f"--config.teacher_dir={tmp_path / 'nothing'}"]
  assert train_cmd.main(["train.py"] + argv) == 1
  assert not os.path.exists(tmp_path / "s")
  argv[-1] = "--config.teacher_config=no_such_config"
  assert train_cmd.main(["train.py"] + argv) == 1
  with pytest.raises(CheckpointError, match="^config.teacher_dir: no chec"):
    c = config_lib.load_config("kilonerf_demo")
    c.teacher_dir = str(tmp_path / "nothing")
    runs.teacher_config(c)
