"""Where the gap between fitting and predicting comes from (issue #14).

Runs bench/quality_vs_time.py's loop (train for wall-clock marks, score the
test split) and, at every mark, also measures:

* train_view_psnr: full training views rendered at their pixel centres (the
  rays the model was fitted on), and train_jitter_psnr: the same views
  through one random point inside each pixel. A field that varies inside a
  pixel's footprint fits the centre rays and fails the others, as it fails
  novel views: a large drop is aliasing-driven overfitting.
* test_ss_psnr (with `--supersample k`): the test views rendered with a
  k x k grid of rays per pixel, averaged: what a box-filtered render of the
  same field scores.
* test_fg_psnr / test_bg_psnr: test PSNR over pixels with and without a
  surface (ground-truth depth > 0), and test_bg_acc: mean opacity rendered
  over the background (floaters in empty space show up there).
* test_incomplete: fraction of test rays whose samples did not fit the
  render budget (rendered truncated).
* grid_rms_coarsest / grid_rms_finest / grid_l2: magnitudes of the hash
  table's entries.

Also prints, once, the hash grid's levels against the pixel footprint at
the object and the number of table parameters against training pixels.

  flock /tmp/cpu.lock python bench/generalisation.py \
      --configs instant_ngp_demo --marks 1 2 5 10 15 --data_dir data/lego_100 \
      [--config.FIELD=VALUE ...] [--json out.json]

`--config.FIELD=VALUE` sets the field in every config (--data_dir DIR is
--config.data_dir=DIR).
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np

import quality_vs_time
from jaxnerf.core import cameras as cameras_lib
from jaxnerf.fields import hashgrid
from jaxnerf.engine import cli, parallel, training
from jaxnerf.core import metrics
from jaxnerf.methods import base


def pixel_rays(cameras: cameras_lib.Cameras, index: int,
               offset: np.ndarray):
  """Host rays of camera `index` through pixel corner + offset [H, W, 2]
  (0.5 is the centre), cast in float64 as the datasets do."""
  width, height = int(cameras.width[index]), int(cameras.height[index])
  pixels = cameras_lib.pixel_grid(width, height, index)
  xy = np.floor(pixels.xy).astype(np.float64) + offset
  cams64 = jax.tree.map(lambda x: np.asarray(
      x, np.float64 if np.asarray(x).dtype.kind == "f" else x.dtype), cameras)
  rays = cameras_lib.cast_rays(cams64, pixels.replace(xy=xy))
  return jax.tree.map(lambda x: np.ascontiguousarray(
      x, np.int32 if x.dtype.kind == "i" else np.float32), rays)


def make_renderer(model, config, mesh, state):
  """render(rays [H, W]) -> rgb [H, W, 3], acc [H, W], complete [H, W]."""
  variables = parallel.put_replicated(
      parallel.to_host(training.variables_of(state)), mesh)
  progress = base.Progress.at(state.step, config.max_steps)

  @jax.jit
  def chunk_fn(variables, rays):
    _, outputs = training.render(model, variables, rays, None,
                                 jax.random.PRNGKey(0), False, progress)
    out = outputs[-1]
    return dict(rgb=out["rgb"], acc=out["acc"],
                complete=out.get("loss_mask", out["acc"] * 0 + 1))

  return lambda rays: parallel.render_image(
      lambda piece: chunk_fn(variables, piece), rays, config.chunk, mesh)


def psnr_of(pred, gt, mask=None) -> float:
  err = (np.clip(pred, 0, 1) - gt)**2
  if mask is not None:
    err = err[mask]
  return float(metrics.mse_to_psnr(np.mean(err)))


def diagnose(args):
  """The `score` of quality_vs_time.run: test PSNR/SSIM and the diagnostics,
  rendering each test view once."""

  def score(method, model, config, state, train, test, mesh) -> dict:
    del method
    render = make_renderer(model, config, mesh, state)
    rng = np.random.default_rng(0)
    psnrs, ssims, fg, bg, bg_acc, incomplete, ss = [], [], [], [], [], [], []
    k = args.supersample
    grid = (np.arange(k) + 0.5) / k
    for i, gt in enumerate(test.images):
      centre = render(test.image_rays(i))
      rgb = np.clip(centre["rgb"], 0, 1)
      psnrs.append(psnr_of(rgb, gt))
      ssims.append(float(metrics.ssim(rgb, gt)))
      incomplete.append(1 - float(np.mean(centre["complete"])))
      if test.depths is not None:
        surface = test.depths[i] > 0
        fg.append(np.mean((rgb - gt)[surface]**2))
        bg.append(np.mean((rgb - gt)[~surface]**2))
        bg_acc.append(float(np.mean(centre["acc"][~surface])))
      if k > 1:
        total = 0
        for gy in grid:
          for gx in grid:
            offset = np.broadcast_to(np.float64([gx, gy]), gt.shape[:2] + (2,))
            total = total + render(pixel_rays(test.cameras, i, offset))["rgb"]
        ss.append(psnr_of(total / k**2, gt))
    out = dict(psnr=float(np.mean(psnrs)), ssim=float(np.mean(ssims)))
    if fg:
      out.update(test_fg_psnr=float(metrics.mse_to_psnr(np.mean(fg))),
                 test_bg_psnr=float(metrics.mse_to_psnr(np.mean(bg))),
                 test_bg_acc=float(np.mean(bg_acc)))
    out["test_incomplete"] = float(np.mean(incomplete))
    if ss:
      out["test_ss_psnr"] = float(np.mean(ss))
    centre_psnr, jitter_psnr = [], []
    views = np.linspace(0, len(train) - 1, args.train_views).astype(int)
    for i in views:
      gt = train.images[i]
      centre_psnr.append(psnr_of(render(train.image_rays(i))["rgb"], gt))
      offset = rng.uniform(0, 1, gt.shape[:2] + (2,))
      jitter_psnr.append(psnr_of(
          render(pixel_rays(train.cameras, i, offset))["rgb"], gt))
    out.update(train_view_psnr=float(np.mean(centre_psnr)),
               train_jitter_psnr=float(np.mean(jitter_psnr)))
    out.update(grid_magnitudes(config, state))
    print("   ", "  ".join(f"{k} {v:.3f}" for k, v in out.items()), flush=True)
    return out

  return score


def grid_magnitudes(config, state) -> dict:
  """RMS of the hash table's entries on the coarsest and finest level, and
  losses.grid_l2 of the table (to size grid_l2_mult)."""
  if "hash_levels" not in config:
    return {}
  levels = hashgrid.level_layout(config.hash_levels, config.hash_log2_size,
                                 config.hash_min_resolution,
                                 config.hash_max_resolution)
  table = np.asarray(parallel.to_host(
      state.params["field"]["grid"]["table"]))
  ms = [float(np.mean(table[lv.offset:lv.offset + lv.size]**2))
        for lv in levels]
  return dict(grid_rms_coarsest=ms[0]**0.5, grid_rms_finest=ms[-1]**0.5,
              grid_l2=sum(ms))


def print_capacity(config, train) -> None:
  """The hash grid's levels against the pixel footprint at the object."""
  if "hash_levels" not in config:
    return
  levels = hashgrid.level_layout(config.hash_levels, config.hash_log2_size,
                                 config.hash_min_resolution,
                                 config.hash_max_resolution)
  focal = float(train.cameras.fx[0])
  distance = float(np.mean(np.linalg.norm(
      train.cameras.camtoworlds[:, :3, 3], axis=-1)))
  footprint = distance / focal
  params = sum(lv.size for lv in levels) * config.hash_features
  pixels = sum(im.shape[0] * im.shape[1] for im in train.images)
  print(f"hash grid: {params / 1e6:.2f}M table parameters for "
        f"{pixels / 1e6:.2f}M training pixels ({3 * pixels / 1e6:.2f}M "
        f"colour values); pixel footprint at the scene centre "
        f"{footprint:.4f} units")
  for l, lv in enumerate(levels):
    cell = 2 * config.scene_bound / lv.resolution
    print(f"  level {l:2d}: resolution {lv.resolution:4d}, cell {cell:.4f} "
          f"= {cell / footprint:5.2f} pixels, "
          f"{'dense ' if lv.dense else 'hashed'} "
          f"{(lv.resolution + 1)**3 / lv.size:7.1f} vertices per entry")


def flags():
  parser = cli.FlagParser(prog="bench/generalisation.py",
                          description=__doc__.split("\n")[0])
  parser.add_argument("--configs", nargs="+", default=["instant_ngp_demo"])
  parser.add_argument("--marks", nargs="+", type=cli.number(above=0.0),
                      default=[1, 2, 5])
  parser.add_argument("--mark_unit", choices=("minutes", "steps"),
                      default="minutes")
  parser.add_config_field("--data_dir", "data_dir",
                          help="= --config.data_dir, for every config")
  parser.add_argument("--test_views", type=cli.integer(0), default=0)
  parser.add_argument("--train_views", type=cli.integer(1), default=4)
  parser.add_argument("--supersample", type=cli.integer(1), default=1,
                      help="k: test views also rendered with k x k rays "
                      "per pixel (1: not)")
  parser.add_argument("--json", default="")
  return parser


def job(overrides, args):
  configs = quality_vs_time.load(overrides, args.configs)
  results = []
  printed = set()

  score = diagnose(args)

  def score_and_capacity(*a):
    config, train = a[2], a[4]
    if config.method not in printed:
      print_capacity(config, train)
      printed.add(config.method)
    return score(*a)

  for spec, config in zip(args.configs, configs):
    results.append(quality_vs_time.run(spec, config, args,
                                       score=score_and_capacity))
  for result in results:
    quality_vs_time.print_table(result)
    keys = [k for k in result["rows"][0]
            if k.startswith(("test_", "train_", "grid_"))
            and k not in ("train_s", "train_batch_psnr")]
    print("| minutes | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for r in result["rows"]:
      print(f"| {r['minutes']:g} | " +
            " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


def main(argv=None) -> int:
  return cli.main("bench/generalisation.py", job, flags(), argv,
                  config=cli.EACH)


if __name__ == "__main__":
  sys.exit(main())
