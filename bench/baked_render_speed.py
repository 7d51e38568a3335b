"""Seconds per view of a baked scene (or a FastNeRF cache), the one-call
marcher (render.Renderer) against the host-synchronised rounds it replaced
(render.RoundsRenderer), in the same process; the test PSNR of both on the
same views; optionally the field's time and PSNR.

  flock /tmp/cpu.lock python bench/baked_render_speed.py \
      --config=instant_ngp_demo --config.color_mode=sh \
      --config.train_dir=runs/ngp_sh [--baked runs/ngp_sh/baked.npz] \
      [--sizes 100,800] [--old] [--every_cell] [--deferred 1e-2]
      [--stop_eps 1e-3]
      [--field] [--psnr_views 25]

Times: one call that compiles, then the best of --repeats calls (one at
800x800 and above; the field's first call only there); test view 0, focal
scaled with the width. Each time is wall seconds and the CPU seconds of
the process in that call (the machine is shared: compare CPU seconds, and
the load averages printed at the start and end). Prints the times, the
PSNRs and one JSON object; writes nothing.
"""

import json
import os
import sys
import time

import numpy as np

from jaxnerf.engine import cli


def test_psnr(render_image, dataset, views):
  """Mean PSNR of the first `views` views of `dataset`."""
  from jaxnerf.core import metrics
  scores = []
  for i in range(min(views, len(dataset))):
    rgb = render_image(dataset.image_rays(i))["rgb"]
    scores.append(float(metrics.psnr(rgb, dataset.images[i][..., :3])))
  return float(np.mean(scores))


def timed(fn, repeats):
  """(best wall s, CPU s of that call, first call's wall s, result): the
  first call compiles what it has not seen yet."""
  def once():
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out
  first, first_cpu, out = once()
  best, best_cpu = first, first_cpu
  for i in range(repeats):
    wall, cpu, out = once()
    if i == 0 or wall < best:
      best, best_cpu = wall, cpu
  return best, best_cpu, first, out


def job(config, args):
  from jaxnerf.baked import bake as baking, render
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine import evaluator, parallel
  from bake_lego import view_rays  # bench scripts import each other
  path = args.baked or os.path.join(config.train_dir, evaluator.BAKED_FILE)
  cli.check_input_file(path, "--baked")
  scene = baking.load(path)
  grid = render.BakedGrid.from_scene(scene).to_device()
  renderers = {"new": render.Renderer(grid)}
  for threshold in args.deferred:
    renderers[f"deferred_{threshold:g}"] = render.Renderer(
        grid, deferred=threshold)
  for eps in args.stop_eps:
    renderers[f"stop_{eps:g}"] = render.Renderer(grid, stop_eps=eps)
  if args.every_cell:
    renderers["every_cell"] = render.Renderer(grid, skip_cells=False)
  if args.old:
    renderers["old"] = render.RoundsRenderer(grid)
  test = load_dataset(config, config.eval_split)
  out = dict(baked=path, blocks=scene.num_blocks,
             live_cells=float(np.mean(render.live_cells(grid))),
             load_average_start=os.getloadavg(),
             file_mib=os.path.getsize(path) / 2**20,
             colour=scene.describe_colour())
  if args.field:
    renderers["field"] = evaluator.field_renderer(
        config, parallel.make_mesh()).render_rays
  for size in args.sizes:
    rays = view_rays(test, size)
    images = {}
    for name, r in renderers.items():
      fn = r if name == "field" else r.render_image
      # At 800x800 one timed call after the first; the field's (minutes)
      # only the first, its chunk compiled by a smaller view before.
      repeats = args.repeats if size < 800 else min(args.repeats, 1)
      if name == "field" and size >= 800:
        repeats = 0
      best, cpu, first, image = timed(lambda fn=fn: fn(rays), repeats)
      out[f"{name}_{size}_seconds"] = best
      out[f"{name}_{size}_cpu_seconds"] = cpu
      out[f"{name}_{size}_first_seconds"] = first
      images[name] = image["rgb"]
      print(f"{size}x{size} {name}: {best:.3f} s, {cpu:.3f} CPU s (first "
            f"call {first:.1f} s; load {os.getloadavg()[0]:.2f})",
            flush=True)
    for other in ("old", "every_cell"):
      if other in images:
        diff = np.abs(images["new"] - images[other])
        out[f"new_vs_{other}_{size}_max_abs_rgb"] = float(diff.max())
  if args.psnr_views:
    for name, r in renderers.items():
      fn = r if name == "field" else r.render_image
      out[f"{name}_test_psnr"] = test_psnr(fn, test, args.psnr_views)
      print(f"{name}: test PSNR {out[f'{name}_test_psnr']:.3f} "
            f"({args.psnr_views} views)", flush=True)
  out["load_average_end"] = os.getloadavg()
  print(json.dumps(out, indent=1))


def sizes(text):
  """'100,800' -> [100, 800] (each an integer >= 1)."""
  one = cli.integer(1)
  return [one(part) for part in text.split(",")]


def thresholds(text):
  """'1e-2,3e-2' -> [0.01, 0.03] (each in (0, 1))."""
  one = cli.number(above=0.0, below=1.0)
  return [one(part) for part in text.split(",")]


def flags():
  parser = cli.FlagParser(prog="bench/baked_render_speed.py")
  parser.add_argument("--baked", default="",
                      help="a baked file (default: <train_dir>/baked.npz)")
  parser.add_argument("--sizes", default=[100, 800], type=sizes,
                      help="comma-separated view sizes")
  parser.add_argument("--deferred", default=[], type=thresholds,
                      help="comma-separated thresholds: also time deferred "
                      "shading at each")
  parser.add_argument("--stop_eps", default=[], type=thresholds,
                      help="comma-separated transmittances: also time early "
                      "ray termination at each")
  parser.add_argument("--old", action="store_true",
                      help="also time the host-synchronised rounds")
  parser.add_argument("--every_cell", action="store_true",
                      help="also time the marcher without cell skipping")
  parser.add_argument("--field", action="store_true",
                      help="also time the trained field")
  parser.add_argument("--repeats", type=cli.integer(0), default=2)
  parser.add_argument("--psnr_views", type=cli.integer(0), default=0)
  return parser


def main(argv=None) -> int:
  return cli.main("bench/baked_render_speed.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
