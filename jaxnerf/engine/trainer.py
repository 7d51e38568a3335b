"""The training loop behind train.py: data to device, resume, log, save.

It knows methods only through `jaxnerf.methods.base.Method`.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import time
from typing import Optional

import jax
import numpy as np

from jaxnerf.engine import checkpoints, distill, parallel, training
from jaxnerf.engine import config as config_lib
from jaxnerf import files, methods
from jaxnerf.data import images
from jaxnerf.data.dataset import Dataset, load_dataset
from jaxnerf.errors import CheckpointError, ConfigError, TrainingError
from jaxnerf.methods import base

SCENE_FILE = "scene.json"
# {"<step>": seconds of training behind that step's checkpoint}: what a
# run whose schedules follow the time budget resumes from.
CLOCK_FILE = "clock.json"
CLOCKS = ("steps", "time")
monotonic = time.monotonic  # the Clock's time source


def stack_training_data(dataset: Dataset,
                        pixels: bool) -> training.TrainData:
  """Host arrays [num_images, pixels, ...] of the rays (or, with `pixels`,
  of the pixels); images of mixed sizes flatten to [1, all pixels]."""
  per_image = [dataset.pixels(i) if pixels else dataset.image_rays(i)
               for i in range(len(dataset))]
  flat = lambda x: x.reshape(-1, x.shape[-1])
  width = 0
  if len({im.shape for im in dataset.images}) == 1:
    inputs = jax.tree.map(lambda *xs: np.stack([flat(x) for x in xs]),
                          *per_image)
    rgb = np.stack([flat(im) for im in dataset.images])
    width = dataset.images[0].shape[1]
  else:
    inputs = jax.tree.map(
        lambda *xs: np.concatenate([flat(x) for x in xs])[None], *per_image)
    rgb = np.concatenate([flat(im) for im in dataset.images])[None]
  rgb = rgb.astype(np.float32)
  labels = None
  if dataset.labels is not None:  # [U, P, 1], as the rgb
    labels = np.concatenate([x.reshape(-1) for x in dataset.labels]).astype(
        np.int32).reshape(rgb.shape[:2] + (1,))
  if pixels:
    return training.TrainData(rgb=rgb, pixels=inputs, image_width=width,
                              labels=labels)
  return training.TrainData(rgb=rgb, rays=inputs, image_width=width,
                            labels=labels)


def check_patches(config, data: training.TrainData, mesh) -> None:
  """Raises ConfigError where config.patch_size cannot tile the batch or
  the images."""
  p = config.patch_size
  if not p:
    return
  per_device = p * p * mesh.size
  if config.batch_size % per_device:
    raise ConfigError(
        f"config.patch_size: batch_size {config.batch_size} is not a "
        f"multiple of patch_size^2 x {mesh.size} devices = {per_device}")
  if not data.image_width:
    raise ConfigError("config.patch_size: the training images differ in "
                      "size; patches need one image size")
  height = data.rgb.shape[1] // data.image_width
  if config.render_tile and p % config.render_tile:
    raise ConfigError(f"config.patch_size: {p} is not a multiple of "
                      f"config.render_tile {config.render_tile}")
  if p > min(height, data.image_width):
    raise ConfigError(f"config.patch_size: {p} is larger than the "
                      f"{data.image_width}x{height} training images")
  stride = config.patch_stride
  if (p - 1) * stride + 1 > min(height, data.image_width):
    raise ConfigError(f"config.patch_stride: patches of {p} pixels "
                      f"{stride} apart span {(p - 1) * stride + 1}, more "
                      f"than the {data.image_width}x{height} training images")


def scene_info(dataset: Dataset) -> base.SceneInfo:
  """The SceneInfo of a training split."""
  world = dataset.world_from_scene
  points = dataset.extras.get("points")
  colours = dataset.extras.get("point_colours")
  return base.SceneInfo(
      num_cameras=len(dataset),
      world_from_scene=None if world is None else tuple(
          tuple(float(v) for v in row) for row in np.asarray(world)),
      points=None if points is None or not len(points) else base.ScenePoints(
          xyz=np.asarray(points, np.float32)[:, :3],
          rgb=None if colours is None else np.asarray(colours, np.float32)),
      frustum=base.Frustums(cameras=dataset.cameras),
      training=True)


def resolve_scene_fields(method: base.Method, config, scene: base.SceneInfo):
  """`config` with the method's scene_fields set where they are 0 (a copy;
  `config` itself is left as it is)."""
  if method.scene_fields is None:
    return config
  values = {k: v for k, v in method.scene_fields(config, scene).items()
            if config[k] == 0}
  if not values:
    return config
  config = copy.deepcopy(config)
  for key, value in values.items():
    config[key] = value
  return config


def write_scene_info(train_dir: str, scene: base.SceneInfo) -> None:
  """Records what the model's shapes depend on and the scene's frame
  (world_from_scene), for eval.py and exports; atomically (a killed run
  leaves the previous file or none, never a prefix)."""
  if jax.process_index() == 0:
    info = {"num_cameras": scene.num_cameras}
    if scene.world_from_scene is not None:
      info["world_from_scene"] = [list(r) for r in scene.world_from_scene]
    files.write_json(os.path.join(train_dir, SCENE_FILE), info, indent=1)


def read_scene_info(train_dir: str) -> base.SceneInfo:
  """The SceneInfo train.py recorded in train_dir.

  Raises:
    CheckpointError: a missing, unreadable or malformed scene.json (one
      line naming it).
  """
  path = os.path.join(train_dir, SCENE_FILE)
  if not os.path.isfile(path):
    raise CheckpointError(f"config.train_dir: {path} not found; run train.py "
                          "first")
  try:
    with open(path, "rb") as f:
      info = json.loads(f.read().decode("utf-8"))
  except OSError as e:
    raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
  except UnicodeDecodeError:
    raise CheckpointError(f"{path}: not UTF-8 text; train.py writes it, "
                          "run train.py again") from None
  except json.JSONDecodeError as e:
    raise CheckpointError(f"{path}: malformed JSON ({e.msg} at line "
                          f"{e.lineno} column {e.colno}); train.py writes "
                          "it, run train.py again") from None
  except RecursionError:
    raise CheckpointError(f"{path}: malformed JSON (nested too deeply)") \
        from None
  num = info.get("num_cameras") if isinstance(info, dict) else None
  if isinstance(num, bool) or not isinstance(num, int) or num < 1:
    raise CheckpointError(f"{path}: num_cameras must be a whole number >= 1, "
                          f"got {num!r}")
  world = info.get("world_from_scene")
  if world is not None:
    try:
      matrix = np.asarray(world, np.float64)
    except (TypeError, ValueError):
      matrix = np.zeros(0)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
      raise CheckpointError(f"{path}: world_from_scene must be a 4x4 matrix "
                            "of finite numbers")
    world = tuple(tuple(float(v) for v in row) for row in matrix)
  return base.SceneInfo(num_cameras=num, world_from_scene=world)


# Engine fields train.py reads, and their lowest valid values (a count of 0
# where 0 means "never"; steps used as a modulus are at least 1).
TRAIN_FIELD_MINIMUMS = {"batch_size": 1, "max_steps": 1, "print_every": 1,
                        "save_every": 1, "keep_checkpoints": 1,
                        "render_every": 0, "metrics_every": 0, "chunk": 1,
                        "lr_delay_steps": 0, "max_time_minutes": 0,
                        "grad_max_norm": 0, "patch_size": 0,
                        "patch_stride": 1,
                        "render_tile": 0}
# Fields that must be above zero, and those in [0, 1).
TRAIN_FIELDS_POSITIVE = ("lr_init", "lr_final", "adam_eps")
TRAIN_FIELDS_FRACTION = ("adam_b1", "adam_b2")


def check_fields(config, minimums: dict, positive=(), fraction=()) -> None:
  """Raises ConfigError naming the first field out of range: below its
  minimum, not above zero (`positive`), outside [0, 1) (`fraction`), or
  not finite. Checked before any work (nothing is created before)."""
  def bad(field, value, want):
    raise ConfigError(f"config.{field}: {value!r}; it must be {want}")
  for field, minimum in minimums.items():
    value = config[field]
    if not np.isfinite(value) or value < minimum:
      bad(field, value, f">= {minimum}")
  for field in positive:
    if not (np.isfinite(config[field]) and config[field] > 0):
      bad(field, config[field], "a finite number > 0")
  for field in fraction:
    if not 0 <= config[field] < 1:
      bad(field, config[field], "in [0, 1)")


def check_clock(config) -> None:
  """One-line errors for a schedule_clock train.py cannot follow."""
  if config.schedule_clock not in CLOCKS:
    raise ConfigError(f"config.schedule_clock: unknown "
                      f"{config.schedule_clock!r}; known: {list(CLOCKS)}")
  if config.schedule_clock == "time" and not config.max_time_minutes > 0:
    raise ConfigError("config.schedule_clock: 'time' needs a time budget, "
                      "config.max_time_minutes > 0")


def read_clock(train_dir: str) -> dict[int, float]:
  """{step: seconds of training behind it} of clock.json ({} without one).

  Raises:
    CheckpointError: an unreadable or malformed file (one line).
  """
  path = os.path.join(train_dir, CLOCK_FILE)
  if not os.path.isfile(path):
    return {}
  try:
    with open(path, "rb") as f:
      raw = json.loads(f.read().decode("utf-8"))
    clock = {int(k): float(v) for k, v in raw.items()}
  except OSError as e:
    raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
  except (UnicodeDecodeError, json.JSONDecodeError, AttributeError,
          TypeError, ValueError):
    raise CheckpointError(f"{path}: malformed; train.py writes it as "
                          '{"<step>": seconds}') from None
  if not all(np.isfinite(v) and v >= 0 for v in clock.values()):
    raise CheckpointError(f"{path}: seconds must be finite and >= 0")
  return clock


class Clock:
  """What the schedules follow during train(): the step count (fraction
  None), or with schedule_clock "time" the share of max_time_minutes spent
  in training, summed over resumes through clock.json.

  `now` is the time source (seconds; default `monotonic`, which tests
  replace).
  """

  def __init__(self, config, start_step: int, now=None):
    self.by_time = config.schedule_clock == "time"
    self.budget = 60.0 * config.max_time_minutes
    self.train_dir = config.train_dir
    self.now = now or monotonic
    self.before = 0.0
    if self.by_time and start_step > 0:
      recorded = read_clock(config.train_dir)
      # A run resumed without its record (it began on the step clock)
      # continues from the share of the steps it took.
      self.before = recorded.get(
          start_step, self.budget * start_step / config.max_steps)
    self.t0 = self.now()

  def spent(self) -> float:
    """Seconds of training so far, this process and the ones before."""
    return self.before + self.now() - self.t0

  def fraction(self):
    """None on the step clock; else [] float32 of the budget spent (the
    same on every process: the main one's clock)."""
    if not self.by_time:
      return None
    value = np.float32(min(self.spent() / self.budget, 1.0))
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      value = np.float32(multihost_utils.broadcast_one_to_all(value))
    return value

  def out_of_time(self) -> bool:
    return self.by_time and self.spent() >= self.budget

  def step(self, step_fn, *args):
    """step_fn(*args), given `fraction=` the budget spent on the time clock
    (on the step clock the step takes none)."""
    fraction = self.fraction()
    if fraction is None:
      return step_fn(*args)
    return step_fn(*args, fraction=fraction)

  def record(self, step: int, existing_steps) -> None:
    """Adds `step` to clock.json (kept for the checkpoints that exist),
    before its checkpoint is saved: a checkpoint never lacks its entry."""
    if not self.by_time or jax.process_index() != 0:
      return
    clock = {s: v for s, v in read_clock(self.train_dir).items()
             if s in set(existing_steps)}
    clock[step] = self.spent()
    files.write_json(os.path.join(self.train_dir, CLOCK_FILE),
                     {str(s): v for s, v in sorted(clock.items())}, indent=1)


def schedule_position(config, step: int) -> int:
  """The step the schedules stood at when checkpoint `step` was saved: the
  step itself on the step clock; on the time clock the budget's fraction
  recorded for it times max_steps (a run whose budget is spent renders as
  fully annealed, whatever its step count)."""
  if config.schedule_clock != "time":
    return int(step)
  spent = read_clock(config.train_dir).get(int(step))
  if spent is None or not config.max_time_minutes > 0:
    return int(step)
  fraction = min(spent / (60.0 * config.max_time_minutes), 1.0)
  return int(round(fraction * config.max_steps))


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


def eval_context(model, config, state: training.TrainState,
                 train_cameras: tuple) -> base.EvalContext:
  """The context of a method's eval hooks: the state's host variables and
  `train_cameras` = `training_cameras(training split)`."""
  cameras, true_camtoworlds, names = train_cameras
  return base.EvalContext(
      model=model, variables=parallel.to_host(training.variables_of(state)),
      config=config, step=int(state.step), train_cameras=cameras,
      true_camtoworlds=true_camtoworlds, train_names=names)


def training_cameras(dataset: Dataset) -> tuple:
  """What eval hooks need of the training split (not its images): (cameras,
  true poses [C, 3, 4], names)."""
  return (dataset.cameras, dataset.reference_camtoworlds,
          tuple(dataset.names))


def log_eval_metrics(method: base.Method, context: base.EvalContext,
                     logger: Logger) -> dict:
  """Runs the method's eval_metrics; logs and prints the scalar ones."""
  values = method.eval_metrics(context)
  scalars = {k: float(v) for k, v in values.items()
             if isinstance(v, (int, float, np.floating))}
  logger.scalars(context.step, scalars)
  if jax.process_index() == 0 and scalars:
    print(f"step {context.step:>7d}  " + "  ".join(
        f"{k} {v:.4g}" for k, v in scalars.items()), flush=True)
  return scalars


def render_preview(method: base.Method, config, preview: Dataset, render_fn,
                   state: training.TrainState, mesh, logger: Logger,
                   step: int) -> None:
  """Renders the first view of the eval split into TensorBoard."""
  variables = training.variables_of(state)
  if config.eval_split != "train":
    variables["params"] = training.unseen_camera_params(
        method, variables["params"], len(preview))
  cameras = parallel.put_replicated(preview.cameras.device_arrays(), mesh)
  batch = preview.pixels(0) if method.pixel_batches else preview.image_rays(0)
  out = parallel.render_image(
      functools.partial(render_fn, variables, cameras=cameras,
                        step=state.step), batch, config.chunk, mesh,
      config.render_tile if method.image_space else 0)
  logger.image(step, "test/target", preview.images[0])
  shown = {name: kind for name, kind in method.outputs.items()
           if config.eval_split == "train" or
           name not in method.seen_camera_outputs}
  for name, picture in images.output_images(
      shown, out, preview.ndc, preview.near, preview.far).items():
    if picture.ndim == 2:
      picture = np.repeat(picture[..., None], 3, -1)
    logger.image(step, f"test/{name}", picture)


def latest_step_on_disk(train_dir: str) -> Optional[int]:
  """The newest checkpoint step in train_dir/checkpoints (folders named
  by their step), None without one; creates nothing."""
  try:
    names = os.listdir(os.path.join(train_dir, "checkpoints"))
  except OSError:
    return None
  steps = [int(n) for n in names if n.isdigit()]
  return max(steps) if steps else None


def distilling(method, model, config, mesh, teacher: distill.Teacher,
               train_step, start_step: int, is_main: bool):
  """A step function as the train step's that runs distill.distill_step
  for the steps up to config.distill_steps and `train_step` after (the
  loop's steps counted here from `start_step`: no read of the state)."""
  if is_main:
    print(f"Distilling from {config.teacher_config} (step {teacher.step}) "
          f"for {config.distill_steps} steps: {teacher.cells.size} of "
          f"{teacher.resolution**3} cells occupied", flush=True)
  variables = parallel.put_replicated(teacher.variables, mesh)
  cells = parallel.put_replicated(jax.numpy.asarray(teacher.cells), mesh)
  distill_fn = distill.jit_distill_step(method, model, config, teacher)

  done = [start_step]

  def step(state, data, cameras, base_key, **kwargs):
    done[0] += 1
    if done[0] <= config.distill_steps:
      return distill_fn(state, variables, cells, base_key, **kwargs)
    return train_step(state, data, cameras, base_key, **kwargs)

  return step


def train(config, teacher=None) -> tuple[training.TrainState, list[dict]]:
  """Trains `config` until config.max_steps (or max_time_minutes).

  Args:
    teacher: with config.teacher_config, a function returning the
      distill.Teacher (engine/runs.py's `teacher_loader`), called only if
      distillation steps remain.
  Returns:
    The final state and the stats logged every `print_every` steps.
  """
  is_main = jax.process_index() == 0
  check_fields(config, TRAIN_FIELD_MINIMUMS, TRAIN_FIELDS_POSITIVE,
               TRAIN_FIELDS_FRACTION)
  check_clock(config)
  distill.check_config(config)
  config_lib.read_run_record(config.train_dir)  # not ours: stop before work
  if config.teacher_config and teacher is None:
    raise ConfigError("config.teacher_config: this entry point restores "
                      "no teacher; distill with train.py")
  method = methods.of(config)
  mesh = parallel.make_mesh()
  parallel.check_divisible(config.batch_size, mesh, "batch_size")

  dataset = load_dataset(config, "train")
  scene = scene_info(dataset)
  config = resolve_scene_fields(method, config, scene)
  stacked = stack_training_data(dataset, method.pixel_batches)
  check_patches(config, stacked, mesh)
  data = parallel.shard_training_data(stacked, training.by_image(config),
                                      mesh)
  del stacked
  cameras = None
  if method.pixel_batches:
    cameras = parallel.put_replicated(dataset.cameras.device_arrays(), mesh)
  train_cameras = training_cameras(dataset)
  del dataset
  preview = None
  if config.render_every > 0:
    preview = load_dataset(config, config.eval_split, max_images=1)

  model = training.build_model(method, config, scene)
  init_key, base_key = jax.random.split(jax.random.PRNGKey(config.seed))
  state = training.create_train_state(method, model, config, init_key,
                                      scene.num_cameras)
  state = parallel.put_replicated(state, mesh)
  # A teacher that does not restore is a bad config too: restored before
  # the run's folder exists, unless the run is past its distillation.
  restored_teacher = None
  if (config.distill_steps and
      (latest_step_on_disk(config.train_dir) or 0) < config.distill_steps):
    restored_teacher = teacher()
  # The run's folder appears only once the config, data and model have
  # passed their checks: a bad one leaves nothing behind.
  os.makedirs(config.train_dir, exist_ok=True)
  checkpointer = checkpoints.Checkpointer(config.train_dir,
                                          config.keep_checkpoints)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state, config=config)
    if is_main:
      print(f"Resumed from {checkpointer.directory} at step "
            f"{int(state.step)}", flush=True)
  write_scene_info(config.train_dir, scene)
  start_step = int(state.step)
  if is_main:  # before the first step: --config=<train_dir> rebuilds it
    config_lib.record_run_config(config, start_step)

  step_fn = parallel.jit_train_step(method, model, config, mesh, donate=True)
  if restored_teacher is not None:
    step_fn = distilling(method, model, config, mesh, restored_teacher,
                         step_fn, start_step, is_main)
  render_fn = training.make_render_fn(method, model, config)
  logger = Logger(config.train_dir)

  def save(step):
    if int(state.nonfinite_steps) > 0:
      last = checkpointer.latest_step()
      raise TrainingError(
          f"non-finite loss or gradients at or before step {step}; training "
          f"stopped, the last good checkpoint (step {last}) is kept in "
          f"{checkpointer.directory}")
    clock.record(step, checkpointer.all_steps())
    checkpointer.save(step, state)

  history = []
  metrics_every = config.metrics_every if method.eval_metrics else 0
  if metrics_every and start_step == 0:
    history.append({"step": 0, **log_eval_metrics(
        method, eval_context(model, config, state, train_cameras), logger)})
  clock = Clock(config, start_step)
  t_start = t_log = time.time()
  step_log = start_step
  step = start_step
  for step in range(start_step + 1, config.max_steps + 1):
    state, stats = clock.step(step_fn, state, data, cameras, base_key)
    if clock.by_time:
      # The next fraction is of the time this step really took, not of
      # when it was queued (dispatch runs ahead of the computation).
      state.step.block_until_ready()
    last = step == config.max_steps
    if clock.out_of_time():
      if is_main:
        print(f"Stopping at step {step}: the time budget, max_time_minutes="
              f"{config.max_time_minutes}, is spent (schedules annealed)",
              flush=True)
      last = True
    if step % config.print_every == 0 or last:
      stats = jax.tree.map(float, stats)
      history.append({"step": step, **stats})
      if int(state.nonfinite_steps) > 0:
        save(step)  # raises TrainingError
      now = time.time()
      steps_per_s = (step - step_log) / max(now - t_log, 1e-9)
      eta = (config.max_steps - step) / max(steps_per_s, 1e-9)
      if clock.by_time:
        eta = min(eta, max(clock.budget - clock.spent(), 0.0))
      if is_main:
        print(f"step {step:>7d}/{config.max_steps}  loss {stats['loss']:.5f}"
              f"  psnr {stats['psnr']:6.2f}  lr {stats['lr']:.2e}  "
              f"{steps_per_s * config.batch_size:9.0f} rays/s  "
              f"eta {eta / 60:6.1f} min", flush=True)
      logger.scalars(step, {**stats, "rays_per_sec":
                            steps_per_s * config.batch_size})
      t_log, step_log = now, step
      if (not clock.by_time and config.max_time_minutes > 0 and
          now - t_start > 60 * config.max_time_minutes):
        if is_main:
          print(f"Stopping at step {step}: max_time_minutes="
                f"{config.max_time_minutes} reached", flush=True)
        last = True
    if metrics_every and (step % metrics_every == 0 or last):
      values = log_eval_metrics(
          method, eval_context(model, config, state, train_cameras), logger)
      if history and history[-1]["step"] == step:
        history[-1].update(values)
      else:
        history.append({"step": step, **values})
    if step % config.save_every == 0 or last:
      save(step)
    if preview is not None and step % config.render_every == 0:
      render_preview(method, config, preview, render_fn, state, mesh, logger,
                     step)
    if last:
      break
  if step > start_step and checkpointer.latest_step() != step:
    save(step)
  logger.close()
  checkpointer.close()
  return state, history
