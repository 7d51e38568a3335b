"""Evaluation behind eval.py: render a split, score it, write images.

It knows methods only through `jaxnerf.methods.base.Method`: the outputs a
method declares are written per view, and a method's test-time
optimisation runs on each view before it is scored.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Callable, Optional

import flax.traverse_util
import jax
import numpy as np
import optax

from jaxnerf.core import cameras as cameras_lib, metrics
from jaxnerf.engine import checkpoints, parallel, trainer, training
from jaxnerf import files, methods
from jaxnerf.data import images, labels
from jaxnerf.data.dataset import Dataset, load_dataset
from jaxnerf.errors import CheckpointError, ConfigError
from jaxnerf.methods import base


def check_checkpoints(config) -> str:
  """config.train_dir's checkpoint folder, which must exist (checked before
  any work, and before orbax, which would make it).

  Raises:
    CheckpointError: naming config.train_dir.
  """
  directory = os.path.join(os.path.abspath(config.train_dir), "checkpoints")
  if not os.path.isdir(directory):
    raise CheckpointError(f"config.train_dir: no checkpoint in {directory}; "
                          "run train.py first")
  return directory


def restore_latest(config, mesh):
  """(method, model, restored TrainState) from the latest checkpoint."""
  method = methods.of(config)
  check_checkpoints(config)
  checkpointer = checkpoints.Checkpointer(config.train_dir,
                                          config.keep_checkpoints,
                                          create=False)
  if checkpointer.latest_step() is None:
    raise CheckpointError(f"config.train_dir: no checkpoint in "
                          f"{checkpointer.directory}; run train.py first")
  scene = trainer.read_scene_info(config.train_dir)
  model = training.build_model(method, config, scene)
  state = training.create_train_state(method, model, config,
                                      jax.random.PRNGKey(config.seed),
                                      scene.num_cameras)
  state = checkpointer.restore(parallel.put_replicated(state, mesh),
                              config=config)
  checkpointer.close()
  return method, model, state


def depth_errors(pred_depth: np.ndarray, acc: np.ndarray,
                 gt_depth: np.ndarray) -> dict[str, float]:
  """Errors of the expected depth (depth / acc) where ground truth exists."""
  valid = gt_depth > 0
  if not valid.any():
    return {}
  depth = pred_depth / np.maximum(acc, 1e-6)
  err = depth[valid] - gt_depth[valid]
  return {"depth_mae": float(np.mean(np.abs(err))),
          "depth_rmse": float(np.sqrt(np.mean(err**2)))}


def material_errors(out: dict, extras: dict, i: int) -> dict[str, float]:
  """Errors of a relighting or surface method's albedo and normal maps
  where the data carries ground truth (the generator's scenes:
  extras 'albedo', 'normal' and 'surface', per image) on the surface
  pixels:
    albedo_psnr: PSNR of the linear albedo after a least-squares scale
      per channel (albedo is known only up to the light's scale: NeRFactor
      and NeRV score it so);
    normal_deg: mean angle between the rendered and true normals; a
      rendered `normal` map is the composite of (n + 1) / 2, so the normal
      is the unit vector of 2 normal - acc.
  """
  record = {}
  mask = extras.get("surface", [None] * (i + 1))[i]
  if mask is None or not mask.any():
    return record
  if "albedo" in out and "albedo" in extras:
    pred = np.asarray(out["albedo"], np.float64)[mask]
    true = np.asarray(extras["albedo"][i], np.float64)[mask]
    scale = np.sum(pred * true, 0) / np.maximum(np.sum(pred * pred, 0),
                                                1e-12)
    mse = np.mean((pred * scale - true) ** 2)
    record["albedo_psnr"] = float(-10.0 * np.log10(max(mse, 1e-12)))
  if "normal" in out and "normal" in extras and "acc" in out:
    n = (2.0 * np.asarray(out["normal"], np.float64) -
         np.asarray(out["acc"], np.float64)[..., None])[mask]
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    cos = np.sum(n * np.asarray(extras["normal"][i], np.float64)[mask], -1)
    record["normal_deg"] = float(np.degrees(np.mean(
        np.arccos(np.clip(cos, -1.0, 1.0)))))
  return record


def class_maps(kinds: dict) -> list[str]:
  """The outputs of kind "classes" (class ids), which eval.py scores
  against the views' labels and draws in a palette."""
  return [name for name, kind in kinds.items() if kind == "classes"]


def semantic_scores(counts: dict) -> dict:
  """metrics.json's entries of the class maps' confusion matrices
  {output: [K, K]} summed over the views: `miou` and `class_iou` (per
  class, null where a class was neither labelled nor predicted) of each
  (suffixed `_<output>` after the first)."""
  result = {}
  for j, (name, matrix) in enumerate(counts.items()):
    miou, per_class = labels.iou(matrix)
    suffix = f"_{name}" if j else ""
    result[f"miou{suffix}"] = miou
    result[f"class_iou{suffix}"] = per_class
  return result


def input_label_scores(config) -> dict:
  """Where training corrupts its labels (the config's label_* fields):
  the labels training saw scored against the clean ones on their labelled
  pixels, `train_labels_miou` and `train_labels_coverage` (the share of
  pixels with a label), the baseline of a class map's mIoU."""
  train = load_dataset(config, "train")
  if train.true_labels is None:
    return {}
  counts, labelled, pixels = 0, 0, 0
  for given, true in zip(train.labels, train.true_labels):
    has = given != labels.NO_LABEL
    counts = counts + labels.confusion(np.where(has, true, labels.NO_LABEL),
                                       np.maximum(given, 0),
                                       config.num_classes)
    labelled, pixels = labelled + int(has.sum()), pixels + has.size
  return {"train_labels_miou": labels.iou(counts)[0],
          "train_labels_coverage": labelled / max(pixels, 1)}


def _mean_of(records: list[dict]) -> dict[str, float]:
  keys = [k for k in records[0] if isinstance(records[0][k], float)]
  return {k: float(np.mean([r[k] for r in records if k in r])) for k in keys}


def make_test_time_optimizer(method: base.Method, model, config, step: int):
  """The method's test-time optimisation of one view (see base.TestTime).

  The per-camera rows take `<prefix>steps` Adam steps on the test-time loss
  (`TestTime.loss`, by default the method's loss terms) over random pixels
  of the `fit` region; everything else stays frozen.

  Returns:
    optimize(variables, inputs, rgb, cameras, key) -> variables, where
    `variables` are host variables whose per-camera leaves hold the view's
    starting rows (`training.unseen_camera_params`), `inputs` the view's
    Rays or Pixels [H, W] and `rgb` its image [H, W, 3].
  """
  spec = method.test_time
  field = lambda name: config[spec.prefix + name]
  optimizer = optax.adam(field("lr"))
  progress = base.Progress.at(step, config.max_steps)
  per_camera = {g.name for g in method.param_groups if g.per_camera}
  loss_terms = spec.loss or method.loss_terms

  @functools.partial(jax.jit, static_argnums=7)
  def run(trainable, frozen, others, fit_inputs, fit_rgb, cameras, key,
          fit_width: int):
    def loss(trainable, key):
      key_pixels, key_render = jax.random.split(key)
      if method.image_space and config.render_tile:
        # A rasteriser renders whole tiles: random ones of the fit region,
        # in a render's layout (tile-major, each tile row-major).
        _, idx = training.draw_indices(
            key_pixels, field("batch_size"), 1, fit_rgb.shape[0], True,
            config.render_tile, fit_width)
      else:
        idx = jax.random.randint(key_pixels, (field("batch_size"),), 0,
                                 fit_rgb.shape[0])
      batch = jax.tree.map(lambda x: x[idx], fit_inputs)
      params = flax.traverse_util.unflatten_dict({**frozen, **trainable})
      rays, outputs = training.render(model, {**others, "params": params},
                                      batch, cameras, key_render,
                                      config.randomized and
                                      not method.image_space, progress)
      terms = loss_terms(config, outputs, rays, fit_rgb[idx], params)
      return sum(terms.values())

    def body(i, carry):
      trainable, opt_state = carry
      grads = jax.grad(loss)(trainable, jax.random.fold_in(key, i))
      updates, opt_state = optimizer.update(grads, opt_state, trainable)
      return optax.apply_updates(trainable, updates), opt_state

    return jax.lax.fori_loop(0, field("steps"), body,
                             (trainable, optimizer.init(trainable)))[0]

  def optimize(variables, inputs, rgb, cameras, key):
    cols = base.region_columns(spec.fit, rgb.shape[1])
    fit = lambda x: np.asarray(x)[:, cols].reshape(-1, x.shape[-1])
    params = flax.traverse_util.flatten_dict(variables["params"])
    labels = flax.traverse_util.flatten_dict(
        training.group_labels(method.param_groups, variables["params"]))
    trainable = {k: v for k, v in params.items() if labels[k] in per_camera}
    frozen = {k: v for k, v in params.items() if k not in trainable}
    others = {k: v for k, v in variables.items() if k != "params"}
    trainable = run(trainable, frozen, others, jax.tree.map(fit, inputs),
                    fit(rgb), cameras, key, cols.stop - cols.start)
    params.update(jax.tree.map(np.asarray, trainable))
    return {**variables, "params": flax.traverse_util.unflatten_dict(params)}

  return optimize


def check_camera_rows(config, method: base.Method, num_cameras: int) -> None:
  """Checks the fields that pick training cameras' per-camera rows
  (`eval_rows_of`, `path_rows_from`, `path_rows_to`) and the render times,
  on the host: inside a jitted render an index past the table would be
  clamped silently.

  Raises:
    ConfigError: naming the field.
  """
  picked = {name: config[name] for name in
            ("eval_rows_of", "path_rows_from", "path_rows_to")
            if config[name] != -1}
  if picked and not training.transferable_groups(method):
    raise ConfigError(
        f"config.{next(iter(picked))}: method {config.method!r} has no "
        "per-image rows to transfer (no transferable per-camera parameter "
        "group)")
  for name, index in picked.items():
    if not 0 <= index < num_cameras:
      raise ConfigError(
          f"config.{name}: {index} is not a training camera; the run has "
          f"{num_cameras} (0 to {num_cameras - 1}), -1 is off")
  if (config.path_rows_from == -1) != (config.path_rows_to == -1):
    raise ConfigError("config.path_rows_from / path_rows_to: set both (the "
                      "two training cameras whose rows the path blends) or "
                      "neither")
  if not 0.0 <= config.render_path_time <= 1.0:
    raise ConfigError(f"config.render_path_time: {config.render_path_time} "
                      "is outside [0, 1]")


def one_hot_rows(index: int, count: int, num_cameras: int) -> np.ndarray:
  """[count, num_cameras] weights that pick training camera `index`."""
  weights = np.zeros((count, num_cameras), np.float32)
  weights[:, index] = 1.0
  return weights


def runs_test_time(method: base.Method, config) -> bool:
  """Whether eval.py fits each view's per-camera rows before scoring: not
  for training views (their rows are trained) nor when the rows are
  another camera's (`eval_rows_of`)."""
  return (method.test_time is not None and config.eval_split != "train" and
          config.eval_rows_of == -1)


def variables_for_views(method: base.Method, config, variables: dict,
                   num_views: int, num_cameras: int) -> dict:
  """Host variables to render `num_views` views of config.eval_split: the
  trained per-camera rows for the training split, else those of unseen
  cameras; with `eval_rows_of`, the transferable rows of that camera."""
  params = variables["params"]
  if config.eval_rows_of != -1:
    params = training.mixed_camera_params(
        method, params, one_hot_rows(config.eval_rows_of, num_views,
                                     num_cameras),
        keep_others=config.eval_split == "train")
  elif config.eval_split != "train":
    params = training.unseen_camera_params(method, params, num_views)
  return {**variables, "params": params}


def render_views(method: base.Method, model, config,
                 state: training.TrainState, dataset: Dataset, mesh,
                 cameras: Optional[cameras_lib.Cameras] = None,
                 num_cameras: Optional[int] = None):
  """Renders every view of `dataset` with the state's model.

  Views outside the training split get the per-camera rows of unseen
  cameras (`training.unseen_camera_params`), or with `eval_rows_of` a
  training camera's transferable rows; a method's test-time optimisation
  runs on each view first (`runs_test_time`).

  Args:
    cameras: the views' cameras (host) if not the dataset's (a method's
      `eval_cameras`); methods that cast rays use them.
  Yields:
    (view index, dict of host maps [H, W, ...] of the declared outputs).
  """
  variables = variables_for_views(
      method, config, parallel.to_host(training.variables_of(state)),
      len(dataset), num_cameras if num_cameras is not None else
      trainer.read_scene_info(config.train_dir).num_cameras)
  host_cameras = dataset.cameras if cameras is None else cameras
  cameras = (parallel.put_replicated(host_cameras.device_arrays(), mesh)
             if method.pixel_batches else None)
  render_fn = training.make_render_fn(method, model, config)
  position = trainer.schedule_position(config, state.step)
  optimize = (make_test_time_optimizer(method, model, config, position)
              if runs_test_time(method, config) else None)
  for i, gt in enumerate(dataset.images):
    inputs = dataset.pixels(i) if method.pixel_batches else \
        dataset.image_rays(i)
    view_variables = variables
    if optimize is not None:
      view_variables = optimize(
          variables, inputs, gt, host_cameras.device_arrays(),
          jax.random.fold_in(jax.random.PRNGKey(config.seed), i))
    render = functools.partial(
        render_fn, parallel.put_replicated(view_variables, mesh),
        cameras=cameras, step=position)
    yield i, parallel.render_image(
        render, inputs, config.chunk, mesh,
        config.render_tile if method.image_space else 0)


@dataclasses.dataclass
class ViewRenderer:
  """What evaluate(), the viewer and exports render with: the trained field
  or a baked scene.

  outputs: the maps written per view and their kinds; step: the training
  step; score_region: the image region scored; suffix: of the output
  folder;
  views(dataset) yields (index, host maps [H, W, ...]) per view;
  render_rays(host Rays [H, W]) -> host maps (an unseen camera's rows), or
  None where the model renders cameras, not rays (image-space methods);
  render_camera(host Cameras, i) -> host maps [H, W] of camera i (an
  unseen camera's rows);
  render_path(dataset, out_dir, is_main) writes the render-path videos;
  metrics() -> entries metrics.json adds beside the images' scores.
  """

  outputs: dict
  step: int
  score_region: str
  suffix: str
  views: Callable
  render_rays: Optional[Callable]
  render_camera: Callable
  render_path: Callable
  metrics: Callable


def field_renderer(config, mesh) -> ViewRenderer:
  """Renders with the latest checkpoint's model (with the method's
  per-camera rows, eval cameras and test-time optimisation)."""
  method, model, state = restore_latest(config, mesh)
  check_camera_rows(config, method,
                    trainer.read_scene_info(config.train_dir).num_cameras)
  # Maps of what a training image alone holds (transient objects) mean
  # nothing for other views.
  written = {name: kind for name, kind in method.outputs.items()
             if config.eval_split == "train" or
             name not in method.seen_camera_outputs}

  @functools.cache
  def context():
    return trainer.eval_context(
        model, config, state,
        trainer.training_cameras(load_dataset(config, "train")))

  def views(dataset):
    eval_cameras = None
    if method.eval_cameras and config.eval_split != "train":
      eval_cameras = method.eval_cameras(context(), dataset.cameras)
    return render_views(method, model, config, state, dataset, mesh,
                        eval_cameras)

  variables = parallel.to_host(training.variables_of(state))
  render = functools.partial(
      training.make_render_fn(method, model, config),
      parallel.put_replicated({**variables, "params":
                               training.unseen_camera_params(
                                   method, variables["params"], 1)}, mesh),
      step=trainer.schedule_position(config, state.step))
  return ViewRenderer(
      outputs=written, step=int(state.step),
      score_region=(method.test_time.score if runs_test_time(method, config)
                    else "all"),
      suffix="", views=views,
      render_rays=None if method.image_space else (
          lambda rays: parallel.render_image(
              functools.partial(render, cameras=None), rays, config.chunk,
              mesh)),
      render_camera=lambda cams, i: render_camera(method, config, mesh,
                                                  render, cams, i),
      render_path=lambda dataset, out_dir, is_main: render_path_videos(
          config, method, model, state, dataset, mesh, out_dir, is_main),
      metrics=lambda: (method.eval_metrics(context()) if method.eval_metrics
                       else {}))


BAKED_FILE = "baked.npz"  # bake.py's output in train_dir


def baked_renderer(config) -> ViewRenderer:
  """Renders the baked scene of `config.baked_file` (default
  train_dir/baked.npz): no MLP (jaxnerf/baked/render.py)."""
  from jaxnerf.baked import bake, render as baked_render
  path = config.baked_file or os.path.join(config.train_dir, BAKED_FILE)
  scene = bake.load(path, config.method)
  renderer = baked_render.make_renderer(scene)
  outputs = dict(base.STANDARD_OUTPUTS)

  def views(dataset):
    for i in range(len(dataset)):
      yield i, renderer.render_image(dataset.image_rays(i))

  def render_path(dataset, out_dir, is_main):
    path_rays = cameras_lib.generate_render_path(dataset,
                                                 config.render_path_frames)
    frames = {}
    for i in range(path_rays.shape[0]):
      add_frame(frames, outputs, dataset, renderer.render_image(
          jax.tree.map(lambda x, i=i: x[i], path_rays)))
    if is_main:
      write_videos(out_dir, "path", frames)

  return ViewRenderer(outputs=outputs, step=scene.step, score_region="all",
                      suffix="_" + os.path.splitext(os.path.basename(path))[0],
                      views=views, render_rays=renderer.render_image,
                      render_camera=lambda cams, i: renderer.render_image(
                          cameras_lib.image_rays(cams, i)),
                      render_path=render_path, metrics=dict)


def evaluate(config) -> dict:
  """Renders `config.eval_split` with the latest checkpoint (or, with
  `config.render_baked`, the baked scene).

  Writes the output maps as PNGs (`<view>_<output>.png`), metrics.json and
  videos to `<train_dir>/eval_<split>_<step>[_<baked file name>]/`.
  Returns the metrics dict.
  """
  is_main = jax.process_index() == 0
  trainer.check_fields(config, {"chunk": 1, "test_view_limit": 0,
                                "render_path_frames": 1,
                                "render_time_frames": 0})
  mesh = parallel.make_mesh()
  limit = config.test_view_limit or None
  renderer = (baked_renderer(config) if config.render_baked else
              field_renderer(config, mesh))
  dataset = load_dataset(config, config.eval_split, max_images=limit)
  step = renderer.step
  out_dir = os.path.join(config.train_dir,
                         f"eval_{config.eval_split}_{step}{renderer.suffix}")
  os.makedirs(out_dir, exist_ok=True)
  lpips_fn = metrics.get_lpips() if config.compute_lpips else None
  ssim_fn = jax.jit(metrics.ssim)
  score_region = renderer.score_region
  extra = renderer.metrics()

  records, frames, counts = [], {}, {}
  t0 = time.time()
  for i, out in renderer.views(dataset):
    gt = dataset.images[i]
    rgb = np.clip(out["rgb"], 0, 1)
    cols = base.region_columns(score_region, gt.shape[1])
    record = {"name": dataset.names[i],
              "psnr": float(metrics.psnr(rgb[:, cols], gt[:, cols])),
              "ssim": float(ssim_fn(rgb[:, cols], gt[:, cols]))}
    if lpips_fn is not None:
      record["lpips"] = float(lpips_fn(rgb[:, cols], gt[:, cols]))
    if dataset.depths is not None and "depth" in out and "acc" in out:
      record.update(depth_errors(out["depth"], out["acc"], dataset.depths[i]))
    record.update(material_errors(out, dataset.extras, i))
    truth = (dataset.true_labels or dataset.labels or [None] * (i + 1))[i]
    for name in class_maps(renderer.outputs):
      if truth is not None and name in out:
        matrix = labels.confusion(truth, out[name], config.num_classes)
        counts[name] = counts.get(name, 0) + matrix
        record[f"{name}_accuracy"] = float(np.trace(matrix) / max(
            matrix.sum(), 1))
    if "scale" in dataset.extras:
      record["scale"] = int(dataset.extras["scale"][i])
    records.append(record)
    pictures = images.output_images(renderer.outputs, out, dataset.ndc,
                                    dataset.near, dataset.far)
    pictures.update({name: labels.picture(out[name])
                     for name in class_maps(renderer.outputs) if name in out})
    if is_main:
      for name, picture in pictures.items():
        images.save_image(os.path.join(out_dir,
                                       f"{dataset.names[i]}_{name}.png"),
                          picture)
    if rgb.shape == dataset.images[0].shape:
      for name, picture in pictures.items():
        frames.setdefault(name, []).append(picture)
    print(f"[{i + 1}/{len(dataset)}] {dataset.names[i]}  psnr "
          f"{record['psnr']:.2f}  ssim {record['ssim']:.4f}", flush=True)
  seconds_per_image = (time.time() - t0) / len(dataset)

  result = {"step": step, "split": config.eval_split,
            "data_dir": os.path.abspath(config.data_dir),
            "score_region": score_region,
            "eval_rows_of": config.eval_rows_of,
            "mean": _mean_of(records), "images": records,
            "seconds_per_image": seconds_per_image}
  clash = sorted(set(extra) & set(result))
  if clash:
    raise ValueError(f"method {config.method}: eval_metrics returned "
                     f"{clash}, which metrics.json already has")
  result.update(extra)
  result.update(semantic_scores(counts))
  if counts:
    result.update(input_label_scores(config))
  if "scale" in dataset.extras:
    scales = sorted({r["scale"] for r in records})
    result["per_scale"] = {
        str(s): _mean_of([r for r in records if r["scale"] == s])
        for s in scales}
  if is_main:
    files.write_json(os.path.join(out_dir, "metrics.json"), result, indent=2)
    if config.save_video:
      for name in ("rgb", "depth"):
        if frames.get(name):
          images.write_video(os.path.join(out_dir, f"video_{name}.mp4"),
                             frames[name], fps=10)
  if config.render_path:
    renderer.render_path(dataset, out_dir, is_main)
  mean = result["mean"]
  print(f"step {step}: mean psnr {mean['psnr']:.2f}  ssim {mean['ssim']:.4f}"
        + (f"  lpips {mean['lpips']:.4f}" if "lpips" in mean else "")
        + (f"  depth_mae {mean['depth_mae']:.4f}" if "depth_mae" in mean
           else "")
        + (f"  miou {result['miou']:.4f}" if "miou" in result else "")
        + (f" (training labels {result['train_labels_miou']:.4f})"
           if "train_labels_miou" in result else "")
        + "".join(f"  {k} {v:.4g}" for k, v in extra.items()
                  if isinstance(v, (int, float)))
        + f"  ({seconds_per_image:.2f} s/image) -> {out_dir}", flush=True)
  return result


def path_weights(config, num_frames: int, num_cameras: int):
  """[num_frames, num_cameras] blends of two training cameras' rows along
  the path (path_rows_from -> path_rows_to), or None when not asked."""
  if config.path_rows_from == -1:
    return None
  s = np.linspace(0.0, 1.0, num_frames, dtype=np.float32)[:, None]
  return ((1 - s) * one_hot_rows(config.path_rows_from, 1, num_cameras) +
          s * one_hot_rows(config.path_rows_to, 1, num_cameras))


def render_camera(method: base.Method, config, mesh, render: Callable,
                  cameras: cameras_lib.Cameras, i: int) -> dict[str, np.ndarray]:
  """Host maps [H, W] of camera i of host `cameras`: its rays, or (an
  image-space method) its pixels in tiles.

  Args:
    render: make_render_fn's function with variables and step bound.
  """
  if method.image_space:
    return parallel.render_image(
        functools.partial(render, cameras=parallel.put_replicated(
            cameras.device_arrays(), mesh)),
        cameras_lib.pixel_grid(int(cameras.width[i]), int(cameras.height[i]),
                               i), config.chunk, mesh, config.render_tile)
  return parallel.render_image(functools.partial(render, cameras=None),
                               cameras_lib.image_rays(cameras, i),
                               config.chunk, mesh)


def render_path_videos(config, method: base.Method, model,
                       state: training.TrainState, dataset: Dataset, mesh,
                       out_dir: str, is_main: bool) -> None:
  """Writes path_<output>.mp4: the circle (Blender) or spiral (LLFF) path at
  time `render_path_time`, with the per-camera rows of an unseen camera,
  of `eval_rows_of`, or blending `path_rows_from` into `path_rows_to`; and
  with `render_time_frames`, time_<output>.mp4: the first eval view's
  camera over time 0 -> 1.

  Rays are cast on the host (an image-space method renders the cameras).
  """
  variables = parallel.to_host(training.variables_of(state))
  num_cameras = trainer.read_scene_info(config.train_dir).num_cameras
  render_fn = training.make_render_fn(method, model, config)

  def renderer(frame_variables):
    return functools.partial(
        render_fn, parallel.put_replicated(frame_variables, mesh),
        step=trainer.schedule_position(config, state.step))

  path = cameras_lib.render_path_cameras(dataset, config.render_path_frames)
  path = path.replace(time=np.full_like(path.time, config.render_path_time))
  weights = path_weights(config, len(path), num_cameras)
  fixed = None
  if weights is None:
    fixed = renderer({**variables, "params": (
        training.mixed_camera_params(
            method, variables["params"],
            one_hot_rows(config.eval_rows_of, 1, num_cameras))
        if config.eval_rows_of != -1 else
        training.unseen_camera_params(method, variables["params"], 1))})
  frames = {}
  for i in range(len(path)):
    render = fixed or renderer({**variables, "params":
                                training.mixed_camera_params(
                                    method, variables["params"],
                                    weights[i:i + 1])})
    add_frame(frames, method.outputs, dataset,
              render_camera(method, config, mesh, render, path, i))
  if is_main:
    write_videos(out_dir, "path", frames)

  if config.render_time_frames > 0:
    render = renderer(variables_for_views(method, config, variables,
                                     len(dataset), num_cameras))
    frames = {}
    for time in np.linspace(0.0, 1.0, config.render_time_frames):
      timed = dataset.cameras.replace(
          time=np.full_like(dataset.cameras.time, time))
      add_frame(frames, method.outputs, dataset,
                render_camera(method, config, mesh, render, timed, 0))
    if is_main:
      write_videos(out_dir, "time", frames)


def add_frame(frames: dict, outputs: dict, dataset: Dataset,
              out: dict) -> None:
  """Appends the pictures (of `outputs`) of one rendered frame to `frames`
  by output."""
  for name, picture in images.output_images(
      outputs, out, dataset.ndc, dataset.near, dataset.far).items():
    frames.setdefault(name, []).append(picture)


def write_videos(out_dir: str, prefix: str, frames: dict) -> None:
  for name in ("rgb", "depth"):
    if frames.get(name):
      images.write_video(os.path.join(out_dir, f"{prefix}_{name}.mp4"),
                         frames[name])
