"""Seconds per view of a trained run's field (any method), at several view
sizes, and its test PSNR: the render-time column of issue #39's table.

  flock /tmp/cpu.lock python bench/field_render_speed.py \
      --config=autoint_demo [--config.train_dir=RUN] [--sizes 100,800] \
      [--repeats 2] [--psnr_views 25]

Overrides of render-time fields apply (e.g. `--config.autoint_eval=grad`,
or a NeRF's `--config.num_fine_samples=128`: its time at other sample
counts). Times: test view 0, focal scaled with the width; one call that
compiles, then the best of --repeats calls (at 800x800 and above at most
one), wall seconds and this process's CPU seconds of that call. Prints
the times, the PSNR and one JSON object; writes nothing.
"""

import json
import sys
import time

from jaxnerf.engine import cli


def job(config, args):
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine import evaluator, parallel
  from jaxnerf.errors import ConfigError
  from baked_render_speed import test_psnr  # bench scripts import each other
  from bake_lego import view_rays
  render = evaluator.field_renderer(config, parallel.make_mesh())
  if render.render_rays is None:
    raise ConfigError(f"config.method: {config.method} renders images, "
                          "not rays (bench/splat_render.py times splats)")
  test = load_dataset(config, config.eval_split)
  out = dict(method=config.method, step=render.step)
  for size in args.sizes:
    rays = view_rays(test, size)
    t, c = time.perf_counter(), time.process_time()
    render.render_rays(rays)
    out[f"{size}_first_seconds"] = time.perf_counter() - t
    best = (out[f"{size}_first_seconds"], time.process_time() - c)
    for _ in range(args.repeats if size < 800 else min(args.repeats, 1)):
      t, c = time.perf_counter(), time.process_time()
      render.render_rays(rays)
      best = min(best, (time.perf_counter() - t, time.process_time() - c))
    out[f"{size}_seconds"], out[f"{size}_cpu_seconds"] = best
    print(f"{size}x{size}: {best[0]:.3f} s wall, {best[1]:.3f} s CPU "
          f"(first call {out[f'{size}_first_seconds']:.1f} s)", flush=True)
  if args.psnr_views:
    out["test_psnr"] = test_psnr(render.render_rays, test, args.psnr_views)
    print(f"test PSNR {out['test_psnr']:.3f} ({args.psnr_views} views)",
          flush=True)
  print(json.dumps(out, indent=1))


def flags():
  from baked_render_speed import sizes
  parser = cli.FlagParser(prog="bench/field_render_speed.py")
  parser.add_argument("--sizes", default=[100, 800], type=sizes,
                      help="comma-separated view sizes")
  parser.add_argument("--repeats", type=cli.integer(0), default=2)
  parser.add_argument("--psnr_views", type=cli.integer(0), default=0)
  return parser


def main(argv=None) -> int:
  return cli.main("bench/field_render_speed.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
