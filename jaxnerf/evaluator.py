"""Evaluation behind eval.py: render a split, score it, write images.

It knows methods only through `jaxnerf.methods.base.Method`: the outputs a
method declares are written per view, and a method's test-time
optimisation runs on each view before it is scored.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Callable

import flax.traverse_util
import jax
import numpy as np
import optax

from jaxnerf import (cameras as cameras_lib, checkpoints, images, methods,
                     metrics, parallel, trainer, training)
from jaxnerf.datasets import Dataset, load_dataset
from jaxnerf.errors import CheckpointError
from jaxnerf.methods import base


def restore_latest(config, mesh):
  """(method, model, restored TrainState) from the latest checkpoint."""
  method = methods.get(config.method)
  checkpointer = checkpoints.Checkpointer(config.train_dir,
                                          config.keep_checkpoints)
  if checkpointer.latest_step() is None:
    raise CheckpointError(f"config.train_dir: no checkpoint in "
                          f"{checkpointer.directory}; run train.py first")
  scene = trainer.read_scene_info(config.train_dir)
  model = training.build_model(method, config, scene)
  state = training.create_train_state(method, model, config,
                                      jax.random.PRNGKey(config.seed),
                                      scene.num_cameras)
  state = checkpointer.restore(parallel.put_replicated(state, mesh))
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


def _mean_of(records: list[dict]) -> dict[str, float]:
  keys = [k for k in records[0] if isinstance(records[0][k], float)]
  return {k: float(np.mean([r[k] for r in records if k in r])) for k in keys}


def make_test_time_optimizer(method: base.Method, model, config, step: int):
  """The method's test-time optimisation of one view (see base.TestTime).

  The per-camera rows take `<prefix>steps` Adam steps on the method's loss
  over random pixels of the `fit` region; everything else stays frozen.

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

  @jax.jit
  def run(trainable, frozen, others, fit_inputs, fit_rgb, cameras, key):
    def loss(trainable, key):
      key_pixels, key_render = jax.random.split(key)
      idx = jax.random.randint(key_pixels, (field("batch_size"),), 0,
                               fit_rgb.shape[0])
      batch = jax.tree.map(lambda x: x[idx], fit_inputs)
      params = flax.traverse_util.unflatten_dict({**frozen, **trainable})
      rays, outputs = training.render(model, {**others, "params": params},
                                      batch, cameras, key_render,
                                      config.randomized, progress)
      terms = method.loss_terms(config, outputs, rays, fit_rgb[idx], params)
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
                    fit(rgb), cameras, key)
    params.update(jax.tree.map(np.asarray, trainable))
    return {**variables, "params": flax.traverse_util.unflatten_dict(params)}

  return optimize


def render_views(method: base.Method, model, config,
                 state: training.TrainState, dataset: Dataset, mesh):
  """Renders every view of `dataset` with the state's model.

  Views outside the training split get the per-camera rows of unseen
  cameras (`training.unseen_camera_params`); a method's test-time
  optimisation runs on each view first.

  Yields:
    (view index, dict of host maps [H, W, ...] of the declared outputs).
  """
  variables = parallel.to_host(training.variables_of(state))
  if config.eval_split != "train":
    variables["params"] = training.unseen_camera_params(
        method, variables["params"], len(dataset))
  cameras = (parallel.put_replicated(dataset.cameras.device_arrays(), mesh)
             if method.casts_rays else None)
  render_fn = training.make_render_fn(method, model, config)
  optimize = (make_test_time_optimizer(method, model, config,
                                       int(state.step))
              if method.test_time is not None else None)
  for i, gt in enumerate(dataset.images):
    inputs = dataset.pixels(i) if method.casts_rays else \
        dataset.image_rays(i)
    view_variables = variables
    if optimize is not None:
      view_variables = optimize(
          variables, inputs, gt, dataset.cameras.device_arrays(),
          jax.random.fold_in(jax.random.PRNGKey(config.seed), i))
    render = functools.partial(
        render_fn, parallel.put_replicated(view_variables, mesh),
        cameras=cameras, step=state.step)
    yield i, parallel.render_image(render, inputs, config.chunk, mesh)


@dataclasses.dataclass
class ViewRenderer:
  """What evaluate() renders with: the trained field or a baked scene.

  outputs: the per-ray maps and their kinds; step: the training step;
  score_region: the image region scored; suffix: of the output folder;
  views(dataset) yields (index, host maps [H, W, ...]) per view;
  render_rays(host Rays [H, W]) -> host maps (render paths).
  """

  outputs: dict
  step: int
  score_region: str
  suffix: str
  views: Callable
  render_rays: Callable


def field_renderer(config, mesh) -> ViewRenderer:
  """Renders with the latest checkpoint's model (and the method's
  test-time optimisation)."""
  method, model, state = restore_latest(config, mesh)
  variables = parallel.to_host(training.variables_of(state))
  path_variables = {**variables, "params": training.unseen_camera_params(
      method, variables["params"], 1)}
  render = functools.partial(
      training.make_render_fn(method, model, config),
      parallel.put_replicated(path_variables, mesh), cameras=None,
      step=state.step)
  return ViewRenderer(
      outputs=dict(method.outputs), step=int(state.step),
      score_region=method.test_time.score if method.test_time else "all",
      suffix="",
      views=lambda dataset: render_views(method, model, config, state,
                                         dataset, mesh),
      render_rays=lambda rays: parallel.render_image(render, rays,
                                                     config.chunk, mesh))


BAKED_FILE = "baked.npz"  # bake.py's output in train_dir


def baked_renderer(config) -> ViewRenderer:
  """Renders the baked scene of `config.baked_file` (default
  train_dir/baked.npz) with no MLP (jaxnerf/baked_render.py)."""
  from jaxnerf import baked_render, baking
  path = config.baked_file or os.path.join(config.train_dir, BAKED_FILE)
  scene = baking.load(path, config.method)
  renderer = baked_render.make_renderer(scene)

  def views(dataset):
    for i in range(len(dataset)):
      yield i, renderer.render_image(dataset.image_rays(i))

  return ViewRenderer(outputs=dict(base.STANDARD_OUTPUTS),
                      step=scene.step, score_region="all",
                      suffix="_" + os.path.splitext(os.path.basename(path))[0],
                      views=views,
                      render_rays=renderer.render_image)


def evaluate(config) -> dict:
  """Renders `config.eval_split` with the latest checkpoint (or, with
  `config.render_baked`, the baked scene).

  Writes the output maps as PNGs (`<view>_<output>.png`), metrics.json and
  videos to `<train_dir>/eval_<split>_<step>[_<baked file name>]/`. Returns the
  metrics dict.
  """
  is_main = jax.process_index() == 0
  mesh = parallel.make_mesh()
  renderer = (baked_renderer(config) if config.render_baked else
              field_renderer(config, mesh))
  step = renderer.step
  limit = config.test_view_limit or None
  dataset = load_dataset(config, config.eval_split, max_images=limit)
  out_dir = os.path.join(config.train_dir,
                         f"eval_{config.eval_split}_{step}{renderer.suffix}")
  os.makedirs(out_dir, exist_ok=True)
  lpips_fn = metrics.get_lpips() if config.compute_lpips else None
  ssim_fn = jax.jit(metrics.ssim)
  score_region = renderer.score_region

  records, frames = [], {}
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
    if "scale" in dataset.extras:
      record["scale"] = int(dataset.extras["scale"][i])
    records.append(record)
    pictures = images.output_images(renderer.outputs, out, dataset.ndc,
                                    dataset.near, dataset.far)
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
            "mean": _mean_of(records), "images": records,
            "seconds_per_image": seconds_per_image}
  if "scale" in dataset.extras:
    scales = sorted({r["scale"] for r in records})
    result["per_scale"] = {
        str(s): _mean_of([r for r in records if r["scale"] == s])
        for s in scales}
  if is_main:
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
      json.dump(result, f, indent=2)
    if config.save_video:
      for name in ("rgb", "depth"):
        if frames.get(name):
          images.write_video(os.path.join(out_dir, f"video_{name}.mp4"),
                             frames[name], fps=10)
  if config.render_path:
    render_path_video(config, renderer.outputs, dataset,
                      renderer.render_rays, out_dir, is_main)
  mean = result["mean"]
  print(f"step {step}: mean psnr {mean['psnr']:.2f}  ssim {mean['ssim']:.4f}"
        + (f"  lpips {mean['lpips']:.4f}" if "lpips" in mean else "")
        + (f"  depth_mae {mean['depth_mae']:.4f}" if "depth_mae" in mean
           else "")
        + f"  ({seconds_per_image:.2f} s/image) -> {out_dir}", flush=True)
  return result


def render_path_video(config, outputs: dict, dataset: Dataset,
                      render_rays: Callable, out_dir: str,
                      is_main: bool) -> None:
  """Renders the circle/spiral path to path_rgb.mp4 and path_depth.mp4.

  The path's rays are cast on the host (every method accepts rays);
  `render_rays` maps host Rays [H, W] to host maps.
  """
  path_rays = cameras_lib.generate_render_path(dataset,
                                               config.render_path_frames)
  frames = {}
  for i in range(path_rays.shape[0]):
    rays = jax.tree.map(lambda x, i=i: x[i], path_rays)
    out = render_rays(rays)
    for name, picture in images.output_images(
        outputs, out, dataset.ndc, dataset.near, dataset.far).items():
      frames.setdefault(name, []).append(picture)
  if is_main:
    for name in ("rgb", "depth"):
      if frames.get(name):
        images.write_video(os.path.join(out_dir, f"path_{name}.mp4"),
                           frames[name])
