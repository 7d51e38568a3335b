"""A run folder's recorded config (config.json, engine/config.py's
`record_run_config`): `--config=<train_dir>` rebuilds the run's model with
none of its overrides repeated."""

import copy
import json
import os
import shutil

import ml_collections
import pytest

from conftest import EMBEDDED_LEGO
from test_train_eval import TINY
from jaxnerf.engine import config as config_lib
from jaxnerf.errors import ConfigError


def _config_names():
  return sorted(f[:-3] for f in os.listdir(config_lib.CONFIGS_DIR)
                if f.endswith(".py") and not f.startswith("_"))


def _one_line(capsys, code, *fragments):
  err = capsys.readouterr().err
  assert code == 1, err
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), err
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def test_every_config_comes_back_equal_from_its_run_folder(tmp_path):
  for name in _config_names():
    config = config_lib.load_config(name)
    with config.unlocked():
      config.train_dir = str(tmp_path / name)
    os.makedirs(config.train_dir)
    config_lib.record_run_config(config, 0)
    loaded = config_lib.load_config(config.train_dir)
    assert loaded == config, name
    for key in config:  # tuples stay tuples, floats floats
      assert type(loaded[key]) is type(config[key]), (name, key)


def test_none_nested_and_linked_fields_round_trip():
  template = ml_collections.ConfigDict(
      {"a": None, "n": {"x": (1, 2), "y": 1.0}, "r": 3})
  template.linked = template.get_ref("r")
  config = copy.deepcopy(template)
  config.a, config.n.x, config.n.y, config.r = "set", (4, 5), 2.5, 7
  config.lock()
  loaded = config_lib.from_record(config_lib.to_record(config), template)
  assert loaded == config and loaded.n.x == (4, 5) and loaded.linked == 7
  loaded.r = 9  # still one field under two names
  assert loaded.linked == 9
  with pytest.raises(ConfigError, match="field n.y"):
    config_lib.from_record({"n": {"y": "text"}}, template, "here")


def test_a_run_folder_takes_typed_overrides_and_keeps_its_method(tmp_path):
  run = tmp_path / "a"
  run.mkdir()
  config = config_lib.load_config("instant_ngp_demo")
  with config.unlocked():
    config.train_dir, config.hash_levels = str(run), 8
  config_lib.record_run_config(config, 0)
  moved = str(tmp_path / "moved")
  shutil.move(str(run), moved)
  loaded, rest = config_lib.parse_flags(
      ["eval.py", f"--config={moved}", "--config.lr_init=0.5", "--port=1"])
  assert loaded.hash_levels == 8 and loaded.lr_init == 0.5
  assert loaded.train_dir == moved and rest == ["eval.py", "--port=1"]
  for flag, fragment in (("--config.method=nerf", "method is fixed"),
                         ("--config.hash_levels=x", "hash_levels"),
                         ("--config.hash_levls=8", "hash_levls")):
    with pytest.raises(ConfigError, match=fragment):
      config_lib.parse_flags(["eval.py", f"--config={moved}", flag])
  with pytest.raises(ConfigError, match="folder without config.json"):
    config_lib.parse_flags(["eval.py", f"--config={tmp_path}"])


def test_a_foreign_config_json_is_never_replaced(tmp_path, capsys):
  from jaxnerf.commands import eval as eval_command, train
  for text in ("not json", '{"config": {}}'):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "config.json").write_text(text)
    code = train.main(["train.py", *TINY, f"--config.train_dir={run}",
                       "--config.max_steps=1"])
    _one_line(capsys, code, str(run / "config.json"), "not a config")
    assert (run / "config.json").read_text() == text
    assert os.listdir(run) == ["config.json"]
    code = eval_command.main(["eval.py", f"--config={run}"])
    _one_line(capsys, code, str(run / "config.json"))


def test_train_resume_and_eval_from_the_run_folder(tmp_path, capsys):
  """Overrides given once, to train.py: the resume and eval.py name only
  the folder; the .py config without them is a one-line error naming the
  fields as the run recorded them."""
  from jaxnerf.commands import eval as eval_command, train
  run = str(tmp_path / "run")
  assert train.main(["train.py", *TINY, f"--config.train_dir={run}",
                     "--config.max_steps=2"]) == 0
  assert train.main(["train.py", f"--config={run}",
                     "--config.max_steps=3"]) == 0
  assert "Resumed from" in capsys.readouterr().out
  with open(os.path.join(run, "config.json")) as f:
    record = json.load(f)
  assert record["config"]["max_steps"] == 3 and record["since_step"] == 2
  [earlier] = record["earlier"]  # the first record, kept
  assert earlier["config"]["max_steps"] == 2
  assert (earlier["since_step"], earlier["until_step"]) == (0, 2)
  assert earlier["config"]["netdepth"] == 2
  # The same config again (the folder named otherwise) adds nothing.
  config_lib.record_run_config(config_lib.load_config(run + os.sep), 3)
  with open(os.path.join(run, "config.json")) as f:
    assert json.load(f) == record

  assert eval_command.main(["eval.py", f"--config={run}",
                            "--config.test_view_limit=1",
                            "--config.save_video=false"]) == 0
  assert os.path.isfile(os.path.join(run, "eval_test_3", "metrics.json"))
  code = eval_command.main(["eval.py", "--config=demo",
                            f"--config.data_dir={EMBEDDED_LEGO}",
                            f"--config.train_dir={run}"])
  _one_line(capsys, code, "netdepth=2", "netwidth=32", f"--config={run}")


def test_a_teacher_from_its_run_folder(tmp_path):
  from jaxnerf.engine import runs
  teacher = tmp_path / "teacher"
  (teacher / "checkpoints").mkdir(parents=True)
  config = config_lib.load_config("demo")
  with config.unlocked():
    config.train_dir, config.netdepth = str(teacher), 2
  config_lib.record_run_config(config, 0)
  student = config_lib.load_config("kilonerf_demo")
  with student.unlocked():
    student.teacher_config = str(teacher)
  found = runs.teacher_config(student)
  assert found.train_dir == str(teacher) and found.netdepth == 2
  with student.unlocked():
    student.teacher_config = str(tmp_path)
  with pytest.raises(ConfigError, match="config.teacher_config: .*folder "
                     "without config.json"):
    runs.teacher_config(student)


def test_the_restore_hint_names_recorded_fields(tmp_path):
  config = config_lib.load_config("demo")
  with config.unlocked():
    config.train_dir = str(tmp_path)
  assert "overrides" in config_lib.restore_hint(config)  # no record: as before
  recorded = copy.deepcopy(config)
  with recorded.unlocked():
    recorded.netwidth = 16
  config_lib.record_run_config(recorded, 0)
  hint = config_lib.restore_hint(config)
  assert "netwidth=16" in hint and f"--config={tmp_path}" in hint
  assert "train_dir" not in hint.split("(")[0]
  other = config_lib.load_config("instant_ngp_demo")  # another method
  with other.unlocked():
    other.train_dir = str(tmp_path)
  assert "trained with method=nerf, backbone=mlp (" in (
      config_lib.restore_hint(other))
