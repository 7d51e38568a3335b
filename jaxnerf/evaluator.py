"""Evaluation behind eval.py: render a split, score it, write images."""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import numpy as np

from jaxnerf import (cameras, checkpoints, images, metrics, models, parallel,
                     training)
from jaxnerf.datasets import Dataset, load_dataset
from jaxnerf.errors import CheckpointError
from jaxnerf.trainer import make_render_fn, variables_of


def restore_latest(config, mesh):
  """(model, restored TrainState) from the latest checkpoint of train_dir."""
  model = models.construct_model(config)
  optimizer = training.make_optimizer(config)
  state = training.create_train_state(model, optimizer,
                                      jax.random.PRNGKey(config.seed))
  state = parallel.put_replicated(state, mesh)
  checkpointer = checkpoints.Checkpointer(config.train_dir,
                                          config.keep_checkpoints)
  if checkpointer.latest_step() is None:
    raise CheckpointError(f"config.train_dir: no checkpoint in "
                          f"{checkpointer.directory}; run train.py first")
  state = checkpointer.restore(state)
  checkpointer.close()
  return model, state


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


def depth_image(out: dict[str, np.ndarray], dataset: Dataset) -> np.ndarray:
  """Colour-mapped expected depth over [near, far]; disparity in NDC scenes,
  where depth runs to infinity."""
  if dataset.ndc:
    return images.colorize_depth(out["disp"], out["acc"])
  return images.colorize_depth(out["depth"] / np.maximum(out["acc"], 1e-6),
                               out["acc"], near=dataset.near, far=dataset.far)


def _mean_of(records: list[dict]) -> dict[str, float]:
  keys = [k for k in records[0] if isinstance(records[0][k], float)]
  return {k: float(np.mean([r[k] for r in records if k in r])) for k in keys}


def evaluate(config) -> dict:
  """Renders `config.eval_split` with the latest checkpoint.

  Writes rgb/depth/acc PNGs, metrics.json and videos to
  `<train_dir>/eval_<split>_<step>/`. Returns the metrics dict.
  """
  is_main = jax.process_index() == 0
  mesh = parallel.make_mesh()
  model, state = restore_latest(config, mesh)
  step = int(state.step)
  limit = config.test_view_limit or None
  dataset = load_dataset(config, config.eval_split, max_images=limit)
  render = functools.partial(make_render_fn(model, mesh), variables_of(state))
  out_dir = os.path.join(config.train_dir,
                         f"eval_{config.eval_split}_{step}")
  os.makedirs(out_dir, exist_ok=True)
  lpips_fn = metrics.get_lpips() if config.compute_lpips else None
  ssim_fn = jax.jit(metrics.ssim)

  records, rgb_frames, depth_frames = [], [], []
  t0 = time.time()
  for i, (rays, gt) in enumerate(zip(dataset.rays, dataset.images)):
    out = parallel.render_image(render, rays, config.chunk, mesh)
    rgb = np.clip(out["rgb"], 0, 1)
    record = {"name": dataset.names[i],
              "psnr": float(metrics.psnr(rgb, gt)),
              "ssim": float(ssim_fn(rgb, gt))}
    if lpips_fn is not None:
      record["lpips"] = float(lpips_fn(rgb, gt))
    if dataset.depths is not None:
      record.update(depth_errors(out["depth"], out["acc"], dataset.depths[i]))
    if "scale" in dataset.extras:
      record["scale"] = int(dataset.extras["scale"][i])
    records.append(record)
    depth_vis = depth_image(out, dataset)
    if is_main:
      name = dataset.names[i]
      images.save_image(os.path.join(out_dir, f"{name}_rgb.png"), rgb)
      images.save_image(os.path.join(out_dir, f"{name}_depth.png"), depth_vis)
      images.save_image(os.path.join(out_dir, f"{name}_acc.png"), out["acc"])
    if rgb.shape == dataset.images[0].shape:
      rgb_frames.append(rgb)
      depth_frames.append(depth_vis)
    print(f"[{i + 1}/{len(dataset)}] {dataset.names[i]}  psnr "
          f"{record['psnr']:.2f}  ssim {record['ssim']:.4f}", flush=True)
  seconds_per_image = (time.time() - t0) / len(dataset)

  result = {"step": step, "split": config.eval_split,
            "data_dir": os.path.abspath(config.data_dir),
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
    if config.save_video and rgb_frames:
      images.write_video(os.path.join(out_dir, "video_rgb.mp4"), rgb_frames,
                         fps=10)
      images.write_video(os.path.join(out_dir, "video_depth.mp4"),
                         depth_frames, fps=10)
  if config.render_path:
    render_path_video(config, dataset, render, mesh, out_dir, is_main)
  mean = result["mean"]
  print(f"step {step}: mean psnr {mean['psnr']:.2f}  ssim {mean['ssim']:.4f}"
        + (f"  lpips {mean['lpips']:.4f}" if "lpips" in mean else "")
        + (f"  depth_mae {mean['depth_mae']:.4f}" if "depth_mae" in mean
           else "")
        + f"  ({seconds_per_image:.2f} s/image) -> {out_dir}", flush=True)
  return result


def render_path_video(config, dataset: Dataset, render, mesh, out_dir: str,
                      is_main: bool) -> None:
  """Renders the circle/spiral path to path_rgb.mp4 and path_depth.mp4."""
  path_rays = cameras.generate_render_path(dataset, config.render_path_frames)
  rgb_frames, depth_frames = [], []
  for i in range(path_rays.shape[0]):
    rays = jax.tree.map(lambda x, i=i: x[i], path_rays)
    out = parallel.render_image(render, rays, config.chunk, mesh)
    rgb_frames.append(np.clip(out["rgb"], 0, 1))
    depth_frames.append(depth_image(out, dataset))
  if is_main:
    images.write_video(os.path.join(out_dir, "path_rgb.mp4"), rgb_frames)
    images.write_video(os.path.join(out_dir, "path_depth.mp4"), depth_frames)
