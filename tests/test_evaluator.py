"""jaxnerf/engine/evaluator.py's choices that need no rendering: which
per-camera rows a view gets, the checks of the fields that pick training cameras, and
the blend of two cameras' rows along the render path."""

import numpy as np
import pytest

from jaxnerf.engine import config as config_lib, evaluator
from jaxnerf import methods
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base, nerfw


def nerfw_config(**fields):
  c = config_lib.method_config("nerfw")
  c.update(fields)
  return c


@pytest.mark.parametrize("fields,match", [
    (dict(eval_rows_of=7), r"config.eval_rows_of: 7 is not a training "
     r"camera; the run has 7 \(0 to 6\)"),
    (dict(eval_rows_of=-2), "config.eval_rows_of: -2 is not a training"),
    (dict(path_rows_from=0, path_rows_to=9), "config.path_rows_to: 9"),
    (dict(path_rows_to=2), "set both"),
    (dict(render_path_time=1.5), r"render_path_time: 1.5 is outside"),
])
def test_picked_camera_rows_are_checked_on_the_host(fields, match):
  with pytest.raises(ConfigError, match=match):
    evaluator.check_camera_rows(nerfw_config(**fields), nerfw.METHOD, 7)
  # In range: no error.
  evaluator.check_camera_rows(
      nerfw_config(eval_rows_of=6, path_rows_from=0, path_rows_to=6),
      nerfw.METHOD, 7)


def test_path_rows_blend_linearly_from_one_camera_to_the_other():
  c = nerfw_config(path_rows_from=2, path_rows_to=0)
  w = evaluator.path_weights(c, 5, 3)
  np.testing.assert_allclose(w, [[0, 0, 1], [0.25, 0, 0.75], [0.5, 0, 0.5],
                                 [0.75, 0, 0.25], [1, 0, 0]])
  assert evaluator.path_weights(nerfw_config(), 5, 3) is None


def test_test_time_fit_runs_only_for_unseen_views_with_their_own_rows():
  assert evaluator.runs_test_time(nerfw.METHOD, nerfw_config())
  assert not evaluator.runs_test_time(nerfw.METHOD,
                                      nerfw_config(eval_split="train"))
  assert not evaluator.runs_test_time(nerfw.METHOD,
                                      nerfw_config(eval_rows_of=3))
  assert not evaluator.runs_test_time(methods.get("nerf"), nerfw_config())


def test_seen_camera_outputs_must_be_declared_outputs():
  with pytest.raises(ValueError, match="seen_camera_outputs names 'beta'"):
    base.Method(name="x", fields=dict, build_model=None, loss_terms=None,
                seen_camera_outputs=("beta",))


def test_material_errors_by_hand():
  """Albedo is scored after a least-squares scale per channel (half the
  true albedo scores as perfect); normals by their mean angle, decoded
  from the composite of (n + 1) / 2 with the opacity."""
  rng = np.random.default_rng(0)
  albedo = rng.uniform(0.1, 0.9, (4, 5, 3))
  surface = np.ones((4, 5), bool)
  surface[0] = False
  up = np.zeros((4, 5, 3))
  up[..., 2] = 1.0
  tilt = np.radians(10.0)
  tilted = np.stack([np.zeros((4, 5)), np.full((4, 5), np.sin(tilt)),
                     np.full((4, 5), np.cos(tilt))], -1)
  acc = np.full((4, 5), 0.8)  # a composite: sum of weights (n + 1) / 2
  out = {"albedo": 0.5 * albedo, "normal": acc[..., None] * (tilted + 1) / 2,
         "acc": acc}
  extras = {"albedo": [albedo], "normal": [up], "surface": [surface]}
  record = evaluator.material_errors(out, extras, 0)
  assert record["albedo_psnr"] > 100.0
  assert record["normal_deg"] == pytest.approx(10.0, abs=1e-6)
  noisy = dict(out, albedo=albedo + 0.1 * (np.arange(3) == 0))
  # Channel 0 off by 0.1 (a scale takes part of it): at most 0.01 / 3.
  assert 10 * np.log10(3 / 0.01) < evaluator.material_errors(
      noisy, extras, 0)[
      "albedo_psnr"] < 60.0
  assert evaluator.material_errors(out, {}, 0) == {}
