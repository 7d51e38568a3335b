"""The training loop behind train.py: data to device, resume, log, save."""

from __future__ import annotations

import functools
import os
import time

import jax
import numpy as np

from jaxnerf import checkpoints, models, parallel, training
from jaxnerf.datasets import Dataset, load_dataset
from jaxnerf.errors import TrainingError
from jaxnerf.rays import Rays


def stack_training_data(dataset: Dataset) -> training.TrainData:
  """Host arrays [num_images, pixels, ...]; mixed sizes flatten to [1, all]."""
  same_size = len({im.shape for im in dataset.images}) == 1
  flat = lambda x: x.reshape(-1, x.shape[-1])
  if same_size:
    rays = jax.tree.map(lambda *xs: np.stack([flat(x) for x in xs]),
                        *dataset.rays)
    rgb = np.stack([flat(im) for im in dataset.images])
  else:
    rays = jax.tree.map(lambda *xs: np.concatenate([flat(x) for x in xs])[None],
                        *dataset.rays)
    rgb = np.concatenate([flat(im) for im in dataset.images])[None]
  return training.TrainData(rays=rays, rgb=rgb.astype(np.float32))


def make_render_fn(model, mesh):
  """Jitted deterministic rendering of a ray chunk: the last level's maps."""

  @jax.jit
  def render(variables, rays: Rays):
    out = model.apply(variables, rays, jax.random.PRNGKey(0),
                      randomized=False)[-1]
    return {k: out[k] for k in ("rgb", "depth", "disp", "acc")}

  return render


def variables_of(state: training.TrainState) -> dict:
  return {"params": state.params, **state.model_state}


class Logger:
  """Progress lines on stdout and TensorBoard scalars/images (process 0)."""

  def __init__(self, train_dir: str):
    self.writer = None
    if jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self.writer = SummaryWriter(os.path.join(train_dir, "summaries"))

  def scalars(self, step: int, values: dict) -> None:
    if self.writer:
      for k, v in values.items():
        self.writer.add_scalar(f"train/{k}", v, step)

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    if self.writer:
      self.writer.add_image(tag, np.clip(image, 0, 1), step,
                            dataformats="HWC")

  def close(self) -> None:
    if self.writer:
      self.writer.close()


def train(config) -> tuple[training.TrainState, list[dict]]:
  """Trains `config` until config.max_steps (or max_time_minutes).

  Returns:
    The final state and the stats logged every `print_every` steps.
  """
  is_main = jax.process_index() == 0
  os.makedirs(config.train_dir, exist_ok=True)
  mesh = parallel.make_mesh()
  num_shards = parallel.num_data_shards(config, mesh)

  dataset = load_dataset(config, "train")
  data = parallel.shard_training_data(stack_training_data(dataset),
                                      num_shards, config.image_batching, mesh)
  del dataset
  preview = None
  if config.render_every > 0:
    preview = load_dataset(config, config.eval_split, max_images=1)

  model = models.construct_model(config)
  optimizer = training.make_optimizer(config)
  init_key, base_key = jax.random.split(jax.random.PRNGKey(config.seed))
  state = training.create_train_state(model, optimizer, init_key)
  state = parallel.put_replicated(state, mesh)
  checkpointer = checkpoints.Checkpointer(config.train_dir,
                                          config.keep_checkpoints)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    if is_main:
      print(f"Resumed from {checkpointer.directory} at step "
            f"{int(state.step)}", flush=True)
  start_step = int(state.step)

  step_fn = jax.jit(
      functools.partial(training.train_step, model, config, optimizer,
                        batch_sharding=parallel.batch_sharded(mesh),
                        sampler=parallel.make_sampler(
                            mesh, config.batch_size, num_shards,
                            config.image_batching)),
      donate_argnums=(0,))
  render_fn = make_render_fn(model, mesh)
  logger = Logger(config.train_dir)

  def save(step):
    if int(state.nonfinite_steps) > 0:
      last = checkpointer.latest_step()
      raise TrainingError(
          f"non-finite loss or gradients at or before step {step}; training "
          f"stopped, the last good checkpoint (step {last}) is kept in "
          f"{checkpointer.directory}")
    checkpointer.save(step, state)

  t_start = t_log = time.time()
  step_log = start_step
  step = start_step
  history = []
  for step in range(start_step + 1, config.max_steps + 1):
    state, stats = step_fn(state, data, base_key)
    last = step == config.max_steps
    if step % config.print_every == 0 or last:
      stats = jax.tree.map(float, stats)
      history.append({"step": step, **stats})
      if int(state.nonfinite_steps) > 0:
        save(step)  # raises TrainingError
      now = time.time()
      steps_per_s = (step - step_log) / max(now - t_log, 1e-9)
      eta = (config.max_steps - step) / max(steps_per_s, 1e-9)
      if is_main:
        print(f"step {step:>7d}/{config.max_steps}  loss {stats['loss']:.5f}"
              f"  psnr {stats['psnr']:6.2f}  lr {stats['lr']:.2e}  "
              f"{steps_per_s * config.batch_size:9.0f} rays/s  "
              f"eta {eta / 60:6.1f} min", flush=True)
      logger.scalars(step, {**stats, "rays_per_sec":
                            steps_per_s * config.batch_size})
      t_log, step_log = now, step
      if (config.max_time_minutes > 0 and
          now - t_start > 60 * config.max_time_minutes):
        if is_main:
          print(f"Stopping at step {step}: max_time_minutes="
                f"{config.max_time_minutes} reached", flush=True)
        break
    if step % config.save_every == 0 or last:
      save(step)
    if preview is not None and step % config.render_every == 0:
      out = parallel.render_image(
          functools.partial(render_fn, variables_of(state)), preview.rays[0],
          config.chunk, mesh)
      logger.image(step, "test/rgb", out["rgb"])
      logger.image(step, "test/target", preview.images[0])
      logger.image(step, "test/acc", np.repeat(out["acc"][..., None], 3, -1))
  if step > start_step and checkpointer.latest_step() != step:
    save(step)
  logger.close()
  checkpointer.close()
  return state, history
