"""Checkpoints: a thin layer over orbax's CheckpointManager.

Orbax writes each checkpoint to a temporary folder and renames it when
complete, so a run killed mid-save leaves the previous checkpoints intact
(tests/test_train_eval.py kills a run and resumes it); the run's other
metadata, scene.json, is written atomically by trainer.write_scene_info.
"""

from __future__ import annotations

import os
from typing import Optional

import orbax.checkpoint as ocp

from jaxnerf.engine import config as config_lib
from jaxnerf.errors import CheckpointError


class Checkpointer:
  """Saves and restores TrainStates under `<train_dir>/checkpoints`."""

  def __init__(self, train_dir: str, max_to_keep: int = 3,
               create: bool = True):
    """create=False: a reader's (eval.py, exports), which must not make the
    folder of a run that does not exist."""
    self.directory = os.path.join(os.path.abspath(train_dir), "checkpoints")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=create,
        enable_async_checkpointing=False)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    """The steps of the checkpoints on disk."""
    return list(self.manager.all_steps())

  def save(self, step: int, state) -> None:
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self.manager.wait_until_finished()

  def restore(self, template, step: Optional[int] = None, config=None):
    """Restores into the structure (and shardings) of `template`, the
    model of `config` (the run's config as given: where it does not fit,
    the error names the fields it differs from the run's record in)."""
    step = self.latest_step() if step is None else step
    try:
      return self.manager.restore(step,
                                  args=ocp.args.StandardRestore(template))
    except ValueError as e:
      # Orbax's message for a template of other shapes or structure: a
      # config that builds another model than the run's (a field that
      # sets a shape, e.g. splat_count, given to train.py only).
      first = str(e).strip().splitlines()[0] if str(e).strip() else ""
      hint = config_lib.restore_hint(config)
      raise CheckpointError(
          f"{self.directory}: checkpoint {step} does not fit this config's "
          f"model ({first[:200]}); {hint}") from None

  def close(self) -> None:
    self.manager.close()
