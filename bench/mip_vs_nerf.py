"""mip-NeRF vs NeRF on the multiscale embedded lego, same wall time each.

  flock /tmp/cpu.lock python bench/mip_vs_nerf.py --minutes 7

Builds the multiscale version of data/lego_100 (100, 50, 25, 12 pixels) in
--work_dir, trains NeRF (configs/demo.py sizes) and mip-NeRF (same MLP, same
sample counts, learning rate and batch; mip-NeRF's own encoding degrees,
loss weights and shared MLP) for --minutes of training each, evaluates both
on the first --test_views views of the multiscale test split (all four
scales) and prints per-scale PSNR/SSIM side by side. Results also go to
<work_dir>/results.json.

With --steps both train for the same number of steps instead (robust to
other jobs sharing the CPU; the learning rate then decays over those steps).
With --single_scale both train and test on the original 100x100 Blender
scene instead (the paper's single-scale comparison).
"""

import json
import os
import sys
import time

from jaxnerf.engine import cli
from jaxnerf.engine import config as config_lib
from jaxnerf.engine import evaluator, trainer
from jaxnerf.data.loaders import multiscale

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# mip-NeRF's own settings, kept when the rest comes from configs/demo.py.
MIP_OWN = ("method", "coarse_loss_mult", "min_deg_point", "max_deg_point",
           "deg_view", "density_activation")


def method_config(method: str, data_dir: str, train_dir: str, minutes: float,
                  test_views: int, single_scale: bool = False,
                  steps: int = 0):
  demo = config_lib.load_config("demo")
  # mip-NeRF's fields, then demo's sizes and schedule, so that only the
  # method differs.
  c = config_lib.method_config(method)
  for k in demo:
    if k in c and k not in MIP_OWN:
      c[k] = demo[k]
  with c.unlocked():
    c.dataset_type = "blender" if single_scale else "multiscale"
    c.data_dir = data_dir
    c.train_dir = train_dir
    c.image_batching = False
    c.max_time_minutes = 0.0 if steps else minutes
    if steps:
      c.max_steps = steps
    c.print_every = 50
    c.save_every = 100_000
    c.render_every = 0
    c.test_view_limit = test_views if single_scale else 4 * test_views
    c.save_video = False
  c.lock()
  return c


def flags():
  parser = cli.FlagParser(prog="bench/mip_vs_nerf.py",
                          description=__doc__.splitlines()[0])
  parser.add_argument("--minutes", type=cli.number(above=0.0), default=7.0,
                      help="training wall time per method")
  parser.add_argument("--test_views", type=cli.integer(1), default=10)
  parser.add_argument("--work_dir", default="/tmp/jaxnerf_mip_vs_nerf")
  parser.add_argument("--blender_dir",
                      default=os.path.join(REPO, "data", "lego_100"))
  parser.add_argument("--methods", default="nerf,mipnerf")
  parser.add_argument("--steps", type=cli.integer(0), default=0,
                      help="train this many steps each instead of --minutes")
  parser.add_argument("--single_scale", action="store_true",
                      help="train and test on --blender_dir as it is")
  return parser


def job(args):
  from jaxnerf.errors import ConfigError
  for method in args.methods.split(","):  # before any work
    train_dir = os.path.join(args.work_dir, method)
    if os.path.isdir(train_dir):
      raise ConfigError(f"--work_dir: {train_dir} exists; remove it or give "
                        "another --work_dir")
  data_dir = os.path.join(args.work_dir, "lego_multiscale")
  if args.single_scale:
    data_dir = args.blender_dir
  elif not os.path.isfile(os.path.join(data_dir, "metadata.json")):
    multiscale.make_multiscale(args.blender_dir, data_dir,
                               splits=("train", "test"))
  results = {}
  for method in args.methods.split(","):
    train_dir = os.path.join(args.work_dir, method)
    c = method_config(method, data_dir, train_dir, args.minutes,
                      args.test_views, args.single_scale, args.steps)
    t0 = time.time()
    state, _ = trainer.train(c)  # (final state, progress history)
    train_s = time.time() - t0
    result = evaluator.evaluate(c)
    results[method] = {"steps": int(state.step), "train_seconds": train_s,
                       "per_scale": result.get("per_scale",
                                               {"0": result["mean"]}),
                       "mean": result["mean"],
                       "seconds_per_image": result["seconds_per_image"]}
  with open(os.path.join(args.work_dir, "results.json"), "w") as f:
    json.dump({"args": vars(args), "results": results}, f, indent=2)

  methods = list(results)
  print(f"\n{'single-scale' if args.single_scale else 'multiscale'} "
        f"lego_100, "
        + (f"{args.steps} steps" if args.steps else f"{args.minutes} min")
        + " training each, first "
        f"{args.test_views} test views"
        + ("" if args.single_scale else " at 4 scales"))
  print("| scale | " + " | ".join(f"{m} PSNR" for m in methods) + " | "
        + " | ".join(f"{m} SSIM" for m in methods) + " |")
  print("|---" * (1 + 2 * len(methods)) + "|")
  for s in sorted(results[methods[0]]["per_scale"], key=int):
    row = [results[m]["per_scale"][s] for m in methods]
    print(f"| 1/{2**int(s)} | " + " | ".join(f"{r['psnr']:.2f}" for r in row)
          + " | " + " | ".join(f"{r['ssim']:.4f}" for r in row) + " |")
  avg = lambda m, k: sum(v[k] for v in results[m]["per_scale"].values()) / len(
      results[m]["per_scale"])
  print("| average of scales | " + " | ".join(f"{avg(m, 'psnr'):.2f}"
                                            for m in methods) + " | "
        + " | ".join(f"{avg(m, 'ssim'):.4f}" for m in methods) + " |")
  for m in methods:
    r = results[m]
    print(f"{m}: {r['steps']} steps in {r['train_seconds']:.0f} s "
          f"(incl. compile), eval {r['seconds_per_image']:.2f} s/image")


def main(argv=None) -> int:
  return cli.main("bench/mip_vs_nerf.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
