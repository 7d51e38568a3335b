"""trainer: the time clock that drives the schedules by the time budget
(schedule_clock "time"), its record in clock.json and its resume."""

import json

import jax
import numpy as np
import pytest

from jaxnerf.engine import trainer, training
from jaxnerf.errors import CheckpointError, ConfigError


class FakeTime:
  """A time source that advances `tick` seconds at each reading."""

  def __init__(self, tick=1.0):
    self.t, self.tick = 0.0, tick

  def __call__(self):
    self.t += self.tick
    return self.t


def _timed(config, minutes, max_steps=1000):
  with config.unlocked():
    config.schedule_clock = "time"
    config.max_time_minutes = minutes
    config.max_steps = max_steps
    config.print_every = 1
    config.save_every = 1000
  return config


def test_clock_fraction_budget_and_record(tiny_config, tmp_path):
  c = _timed(tiny_config, 1.0)  # 60 s
  (tmp_path / "run").mkdir()
  clock = trainer.Clock(c, 0, now=FakeTime(10.0))  # t0 = 10
  assert clock.fraction() == pytest.approx(10 / 60)  # read at 20
  assert not clock.out_of_time()  # 20 s spent
  clock.record(7, existing_steps=[])  # 30 s
  assert trainer.read_clock(c.train_dir) == {7: 30.0}
  clock.record(9, existing_steps=[7])
  assert trainer.read_clock(c.train_dir) == {7: 30.0, 9: 40.0}
  assert not clock.out_of_time()  # 50 s
  assert clock.out_of_time()  # 60 s: the budget
  assert clock.fraction() == 1.0  # 70 s, clipped
  # Only the checkpoints that exist keep their entries.
  clock.record(11, existing_steps=[9])
  assert sorted(trainer.read_clock(c.train_dir)) == [9, 11]
  # A resumed run starts from the record of its checkpoint.
  resumed = trainer.Clock(c, 9, now=FakeTime(1.0))
  assert resumed.spent() == pytest.approx(41.0)
  # Without one: the share of the steps it took.
  assert trainer.Clock(c, 500, now=FakeTime(0.0)).spent() == \
      pytest.approx(30.0)
  # On the step clock nothing is recorded and the fraction is None.
  with c.unlocked():
    c.schedule_clock = "steps"
  steps = trainer.Clock(c, 0, now=FakeTime())
  assert steps.fraction() is None and not steps.out_of_time()


def test_clock_fields_and_file_errors(tiny_config, tmp_path):
  c = tiny_config
  with c.unlocked():
    c.schedule_clock = "wall"
  with pytest.raises(ConfigError, match="config.schedule_clock: unknown"):
    trainer.check_clock(c)
  with c.unlocked():
    c.schedule_clock, c.max_time_minutes = "time", 0.0
  with pytest.raises(ConfigError, match="max_time_minutes > 0"):
    trainer.check_clock(c)
  (tmp_path / "run").mkdir()
  for text in ('{"3": "x"}', "[1, 2]", '{"3": 1', '{"3": -1}'):
    (tmp_path / "run" / trainer.CLOCK_FILE).write_text(text)
    with pytest.raises(CheckpointError, match="clock.json"):
      trainer.read_clock(c.train_dir)


def test_time_clocked_run_anneals_and_resumes(tiny_config, monkeypatch):
  c = _timed(tiny_config, 12 / 60)  # a 12 s budget
  monkeypatch.setattr(trainer, "monotonic", FakeTime(1.0))
  _, history = trainer.train(c)
  steps = [h["step"] for h in history]
  last = history[-1]
  # Each step reads the clock three times (fraction, budget, eta): the
  # 12 s are spent after 4 steps, far before max_steps.
  assert last["step"] < c.max_steps and last["step"] == steps[-1]
  lrs = [h["lr"] for h in history]
  assert lrs[0] == pytest.approx(c.lr_init * (c.lr_final / c.lr_init)**(
      1 / 12), rel=1e-5)
  assert all(a > b for a, b in zip(lrs, lrs[1:]))  # annealing
  recorded = trainer.read_clock(c.train_dir)
  assert recorded[last["step"]] >= 12.0
  # The checkpoint's schedules stood at the end of the budget.
  assert trainer.schedule_position(c, last["step"]) == c.max_steps
  # A longer budget resumes from the recorded time, not from zero.
  c = _timed(c, 24 / 60)
  monkeypatch.setattr(trainer, "monotonic", FakeTime(1.0))
  _, more = trainer.train(c)
  spent = recorded[last["step"]]
  first = more[0]
  assert first["step"] == last["step"] + 1
  assert first["lr"] == pytest.approx(training.learning_rate(
      (spent + 1) / 24 * c.max_steps, c.lr_init, c.lr_final, c.max_steps),
      rel=1e-5)
  with open(f"{c.train_dir}/{trainer.CLOCK_FILE}") as f:
    assert max(float(v) for v in json.load(f).values()) >= 24.0
  assert np.isfinite(more[-1]["loss"])


def test_restoring_into_other_shapes_is_a_one_line_error(tmp_path):
  """A config whose model has other shapes than the run's checkpoint (a
  shape field given to train.py but not to eval.py): CheckpointError
  naming the folder, not orbax's traceback."""
  from jaxnerf.engine import checkpoints
  from jaxnerf.errors import CheckpointError
  saver = checkpoints.Checkpointer(str(tmp_path))
  saver.save(1, {"means": np.zeros((500, 3), np.float32)})
  with pytest.raises(CheckpointError, match="does not fit this config's "
                     "model") as e:
    saver.restore({"means": jax.numpy.zeros((20000, 3))})
  assert str(tmp_path) in str(e.value) and "\n" not in str(e.value)
  saver.close()
