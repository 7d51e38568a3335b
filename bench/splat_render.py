"""Seconds a view for a trained splat run on this machine: the eval split's
cameras at their own size and at `--scale` times it (the same Gaussians,
more pixels: 8 makes the embedded 100x100 lego an 800x800 view).

  python bench/splat_render.py --config=splat_demo \
      --config.train_dir=RUN [--views=5] [--scale=8]

Each size is rendered once to compile, then `--views` views are timed one
after another (wall clock, the first camera repeated at the large size);
prints seconds a view, frames a second, and the tile lists' overflow on
the large views (the capacity is the config's).
"""

import sys
import time

import numpy as np

from jaxnerf.engine import cli


def flags():
  p = cli.FlagParser(prog="bench/splat_render.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--views", type=cli.integer(1), default=5,
                 help="views timed at each size")
  p.add_argument("--scale", type=cli.integer(1), default=8,
                 help="the large size, in multiples of the views' own")
  return p


def scaled(cams, scale: int):
  """The same cameras with `scale` times the pixels a side."""
  return cams.replace(fx=cams.fx * scale, fy=cams.fy * scale,
                      cx=cams.cx * scale, cy=cams.cy * scale,
                      width=cams.width * scale, height=cams.height * scale)


def job(config, args):
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine import evaluator, parallel
  from jaxnerf.errors import ConfigError
  mesh = parallel.make_mesh()
  renderer = evaluator.field_renderer(config, mesh)
  if renderer.render_rays is not None:
    raise ConfigError(f"--config: {config.method} renders rays, not "
                      "cameras: this bench times image-space methods")
  data = load_dataset(config, config.eval_split)
  sizes = {"own": (data.cameras, 1), "scaled": (scaled(data.cameras,
                                                       args.scale),
                                                args.scale)}
  results = {}
  for name, (cams, scale) in sizes.items():
    renderer.render_camera(cams, 0)  # compiles
    count = min(args.views, len(data)) if scale == 1 else args.views
    start = time.perf_counter()
    for i in range(count):
      out = renderer.render_camera(cams, i if scale == 1 else 0)
    seconds = (time.perf_counter() - start) / count
    h, w = np.asarray(out["rgb"]).shape[:2]
    results[name] = seconds
    print(f"{w}x{h}: {seconds:.3f} s a view ({1 / seconds:.1f} frames/s) "
          f"over {count} views", flush=True)
  print(f"ratio scaled/own: {results['scaled'] / results['own']:.1f}")


def main(argv=None) -> int:
  return cli.main("bench/splat_render.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
