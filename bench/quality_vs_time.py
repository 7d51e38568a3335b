"""Quality versus wall-clock training time, for one or more configs.

Trains each config from scratch for a wall-clock budget and, whenever the
training clock passes a mark, pauses it and evaluates the test split (mean
PSNR and SSIM over the views). Evaluation and its compilation never count
toward the training clock; the first train step's compilation does (it is
part of getting a model). Configs run one after another in one process, so
they share the machine state.

  flock /tmp/cpu.lock python bench/quality_vs_time.py \
      --configs demo instant_ngp_demo --marks 1 2 5 10 \
      --data_dir data/lego_100 [--test_views 0] [--config.FIELD=VALUE ...]
      [--json out.json]

A config may carry its own marks: `--configs demo instant_ngp_demo@1,2,5`.
A config on the time clock (schedule_clock "time") has its schedules follow
the training clock over its max_time_minutes, as in train.py: give
`--config.max_time_minutes=` the last mark for one schedule over the table.
`--config.FIELD=VALUE` sets the field in every config, as a command's
`--config.FIELD=VALUE` (--data_dir DIR is --config.data_dir=DIR).

Prints a table per config (minutes, steps, test PSNR and SSIM, the
training-batch PSNR of the last 50 steps, rays/s, the machine's 1-minute
load average at the mark: other processes slow the clock) and a summary
of training throughput: rays/s counts the rays that contributed to the loss
(for instant_ngp, those whose samples fit the budget: its `rays_used`).
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

from jaxnerf.engine import cli, evaluator, parallel, trainer, training
from jaxnerf.errors import ConfigError
from jaxnerf.core import metrics
from jaxnerf.data.dataset import load_dataset
from jaxnerf import methods


# Steps whose training-batch PSNR is averaged at each mark.
TRAIN_PSNR_STEPS = 50


def evaluate(method, model, config, state, test, mesh,
             num_cameras: int) -> dict:
  psnrs, ssims = [], []
  for i, out in evaluator.render_views(method, model, config, state, test,
                                       mesh, num_cameras=num_cameras):
    rgb = np.clip(out["rgb"], 0, 1)
    psnrs.append(float(metrics.psnr(rgb, test.images[i])))
    ssims.append(float(metrics.ssim(rgb, test.images[i])))
  return dict(psnr=float(np.mean(psnrs)), ssim=float(np.mean(ssims)))


def load(overrides: cli.ConfigOverrides, specs: list[str]) -> list:
  """The config of each spec (`name` or `name@marks`), every one before
  any work: a bad override or mark stops the run at once.

  Raises:
    ConfigError: naming the spec, field or argument.
  """
  for spec in specs:
    for mark in spec.partition("@")[2].split(","):
      try:
        ok = not mark or float(mark) > 0
      except ValueError:
        ok = False
      if not ok:
        raise ConfigError(f"--configs {spec}: the marks after @ are "
                          "numbers > 0, comma-separated")
  configs = [overrides.load(spec.partition("@")[0]) for spec in specs]
  for config in configs:
    trainer.check_clock(config)
  return configs


def run(spec: str, config, args, score=None) -> dict:
  """Trains `config` (of spec `name` or `name@marks`) and scores it at the
  marks.

  score: (method, model, config, state, train, test, mesh) -> dict with at
    least psnr and ssim of the test split, and any further columns for the
    row (bench/generalisation.py); default: `evaluate`.
  """
  name, _, own_marks = spec.partition("@")
  mesh = parallel.make_mesh()
  train = load_dataset(config, "train")
  test = load_dataset(config, "test",
                      max_images=args.test_views or None)
  init_key, base_key = jax.random.split(jax.random.PRNGKey(config.seed))
  scene = trainer.scene_info(train)
  config = trainer.resolve_scene_fields(methods.of(config), config, scene)
  method, model, state = training.setup(config, init_key, scene)
  data = parallel.shard_training_data(
      trainer.stack_training_data(train, method.pixel_batches),
      training.by_image(config), mesh)
  cameras = (parallel.put_replicated(train.cameras.device_arrays(), mesh)
             if method.pixel_batches else None)
  state = parallel.put_replicated(state, mesh)
  step_fn = parallel.jit_train_step(method, model, config, mesh, donate=True)

  marks = sorted([float(m) for m in own_marks.split(",")] if own_marks
                 else args.marks)
  rows = []
  clock = 0.0  # training seconds
  step = 0
  rays_used = 0.0
  compile_s = None
  steady = dict(t=0.0, steps=0, rays=0.0)  # after the first step
  # Training-batch PSNR of the steps before each mark (what the model fits),
  # to set against the test PSNR (what it predicts).
  recent_psnr = []
  print(f"== {name}: {config.method}, batch {config.batch_size}, marks {marks} "
        f"{args.mark_unit}", flush=True)
  # The schedules follow train.py's clock, here the training seconds alone.
  schedule_clock = trainer.Clock(config, 0, now=lambda: clock)
  while marks:
    t0 = time.perf_counter()
    state, stats = schedule_clock.step(step_fn, state, data, cameras,
                                       base_key)
    stats = jax.device_get(stats)  # waits for the step
    dt = time.perf_counter() - t0
    clock += dt
    step += 1
    used = float(stats.get("rays_used", config.batch_size))
    recent_psnr = recent_psnr[-(TRAIN_PSNR_STEPS - 1):] + [
        float(stats["psnr"])]
    rays_used += used
    if compile_s is None:
      compile_s = dt
    else:
      steady["t"] += dt
      steady["steps"] += 1
      steady["rays"] += used
    if step % 100 == 0:
      print(f"  step {step}  {clock / 60:5.2f} min  train psnr "
            f"{float(stats['psnr']):5.2f}" +
            "".join(f"  {k} {float(stats[k]):.3g}" for k in
                    ("rays_used", "samples_per_ray", "occupied_fraction")
                    if k in stats), flush=True)
    if (step if args.mark_unit == "steps" else clock / 60) >= marks[0]:
      mark = marks.pop(0)
      t_eval = time.perf_counter()
      if score is None:
        scores = evaluate(method, model, config, state, test, mesh,
                          len(train))
      else:
        scores = score(method, model, config, state, train, test, mesh)
      row = dict(minutes=clock / 60 if args.mark_unit == "steps" else mark,
                 train_s=clock, steps=step, rays_per_s=rays_used / clock,
                 **scores, train_batch_psnr=float(np.mean(recent_psnr)),
                 load=os.getloadavg()[0])
      row["eval_s"] = time.perf_counter() - t_eval
      rows.append(row)
      print(f"  mark {mark:>4} {args.mark_unit}: {clock / 60:.2f} min, step {step:6d}  PSNR {scores['psnr']:6.2f}"
            f"  SSIM {scores['ssim']:.3f}  train batch PSNR "
            f"{row['train_batch_psnr']:6.2f}  (eval {row['eval_s']:.0f} s, "
            f"load {row['load']:.1f})",
            flush=True)
  return dict(config=name, model=config.method, batch_size=config.batch_size,
              compile_s=compile_s, rows=rows,
              steady_rays_per_s=steady["rays"] / max(steady["t"], 1e-9),
              steady_s_per_step=steady["t"] / max(steady["steps"], 1),
              test_views=len(test.images))


def print_table(result: dict) -> None:
  print(f"\n{result['config']} ({result['model']}): first step incl. compile "
        f"{result['compile_s']:.1f} s, steady {result['steady_s_per_step']:.3f}"
        f" s/step, {result['steady_rays_per_s']:.0f} rays/s, "
        f"{result['test_views']} test views")
  print("| minutes | steps | test PSNR | test SSIM | train batch PSNR | "
        "rays/s (so far) | load |")
  print("|---|---|---|---|---|---|---|")
  for r in result["rows"]:
    print(f"| {r['minutes']:.3g} | {r['steps']} | {r['psnr']:.2f} | "
          f"{r['ssim']:.3f} | {r['train_batch_psnr']:.2f} | "
          f"{r['rays_per_s']:.0f} | {r['load']:.1f} |")


def flags():
  parser = cli.FlagParser(prog="bench/quality_vs_time.py",
                          description=__doc__.split("\n")[0])
  parser.add_argument("--configs", nargs="+",
                      default=["demo", "instant_ngp_demo"])
  parser.add_argument("--marks", nargs="+", type=cli.number(above=0.0),
                      default=[1, 2, 5, 10])
  parser.add_argument("--mark_unit", choices=("minutes", "steps"),
                      default="minutes",
                      help="marks in training minutes or in steps (steps: "
                      "comparisons that the machine's load does not skew)")
  parser.add_config_field("--data_dir", "data_dir",
                          help="= --config.data_dir, for every config")
  parser.add_argument("--test_views", type=cli.integer(0), default=0,
                      help="evaluate the first N test views (0: all)")
  parser.add_argument("--json", default="")
  return parser


def job(overrides, args):
  configs = load(overrides, args.configs)
  results = [run(spec, config, args)
             for spec, config in zip(args.configs, configs)]
  for result in results:
    print_table(result)
  for a in results:
    for b in results:
      if a is not b:
        print(f"training rays/s {a['config']} / {b['config']}: "
              f"{a['steady_rays_per_s'] / b['steady_rays_per_s']:.1f}x")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


def main(argv=None) -> int:
  return cli.main("bench/quality_vs_time.py", job, flags(), argv,
                  config=cli.EACH)


if __name__ == "__main__":
  sys.exit(main())
