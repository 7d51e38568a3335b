"""DeRF's render time as the number of heads grows at equal total
parameters (issue #39: near constant for 1, 4, 8, 16 heads).

  python bench/derf_heads.py --config=derf_demo [--heads=1,4,8,16]
      [--scale=8] [--repeats=2] [--run=8=RUN_DIR ...]

For each head count N the config's network (netwidth ...) is split into N
heads of equal total parameters (jaxnerf/methods/backbones/derf.py,
`head_widths`) and the first view of the eval split is rendered through
the evaluator's path (the hard partition: one head a sample, grouped
dispatch), at its own size and at `--scale` times it a side (8: the
embedded 100x100 lego at 800x800; 0 skips it). The parameters are a fresh
initialisation (random sites in the box: the dispatch's balance is the
initial one), or with `--run=N=DIR` the trained run in DIR. The own size
renders once first to compile (chunks have one shape at every size), then
each size `--repeats` times timed (wall clock, and this process's CPU
seconds beside it, for a busy machine). At the own
size it also prints the head evaluations a sample (padding and further
rounds included: 1 is no waste) and, for `--config.derf_dispatch=capacity`,
the overflow (samples past a head's capacity, evaluated in further
rounds) and the most rounds a chunk took.
"""

import functools
import os
import sys
import time

import numpy as np

from jaxnerf.engine import cli


def flags():
  p = cli.FlagParser(prog="bench/derf_heads.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--heads", default="1,4,8,16",
                 help="comma-separated head counts")
  p.add_argument("--scale", type=cli.integer(0), default=8,
                 help="the large size in multiples of the view's own (0: "
                 "none)")
  p.add_argument("--repeats", type=cli.integer(1), default=2,
                 help="timed renders a size")
  p.add_argument("--run", action="append", default=[], metavar="N=DIR",
                 help="time the trained run in DIR for N heads")
  return p


def parse_heads(text: str) -> list[int]:
  from jaxnerf.errors import ConfigError
  try:
    heads = [int(v) for v in text.split(",")]
  except ValueError:
    heads = []
  if not heads or min(heads) < 1:
    raise ConfigError(f"--heads: {text!r} must be comma-separated integers "
                      ">= 1")
  return heads


def parse_runs(entries: list[str]) -> dict[int, str]:
  from jaxnerf.errors import ConfigError
  runs = {}
  for entry in entries:
    n, _, folder = entry.partition("=")
    if not n.isdigit() or not folder:
      raise ConfigError(f"--run: {entry!r} must be N=DIR")
    if not os.path.isdir(folder):
      raise ConfigError(f"--run: {folder} is not a folder")
    runs[int(n)] = folder
  return runs


def scaled(cams, scale: int):
  """The same cameras with `scale` times the pixels a side."""
  return cams.replace(fx=cams.fx * scale, fy=cams.fy * scale,
                      cx=cams.cx * scale, cy=cams.cy * scale,
                      width=cams.width * scale, height=cams.height * scale)


def dispatch_stats(model, variables, rays, chunk: int) -> tuple[int, int]:
  """(overflow summed over the view's chunks and levels, most rounds) of
  rendering host rays [H, W] in chunks."""
  import jax
  import jax.numpy as jnp
  flat = jax.tree.map(lambda x: np.asarray(x).reshape(-1, x.shape[-1]), rays)
  num = flat.origins.shape[0]

  @jax.jit
  def sown(variables, piece):
    _, state = model.apply(variables, piece, jax.random.PRNGKey(0), False,
                           mutable=["intermediates"])
    leaves = jax.tree_util.tree_leaves_with_path(state["intermediates"])
    over = sum(v for p, v in leaves if "overflow" in str(p))
    rounds = jnp.max(jnp.stack([v for p, v in leaves if "rounds" in str(p)]))
    evaluated = sum(v for p, v in leaves if "evaluated" in str(p))
    return over, rounds, evaluated

  overflow, rounds, evaluated = 0, 0, 0
  for start in range(0, num, chunk):
    rows = np.arange(start, start + chunk) % num  # a full last chunk
    piece = jax.tree.map(lambda x: x[rows], flat)
    over, r, e = sown(variables, piece)
    # The padded rows repeat earlier ones; they are counted too.
    overflow += int(over)
    rounds = max(rounds, int(r))
    evaluated += int(e)
  return overflow, rounds, evaluated


def job(config, args):
  import jax
  from jaxnerf.core import cameras as cameras_lib
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.engine import evaluator, parallel, training
  from jaxnerf.errors import ConfigError
  from jaxnerf.methods.backbones import derf
  heads = parse_heads(args.heads)
  runs = parse_runs(args.run)
  if config.get("backbone", "") != "derf":
    raise ConfigError(f"--config: method {config.method} is not on the derf "
                      "backbone")
  for n in runs:
    if n not in heads:
      raise ConfigError(f"--run: {n} heads is not in --heads {args.heads}")
  mesh = parallel.make_mesh()
  data = load_dataset(config, config.eval_split, max_images=1)
  sizes = [(1, data.cameras)]
  if args.scale:
    sizes.append((args.scale, scaled(data.cameras, args.scale)))
  for n in heads:
    c = config.copy_and_resolve_references()
    c.derf_heads = n
    if n in runs:
      c.train_dir = runs[n]
      method, model, state = evaluator.restore_latest(c, mesh)
      what = f"trained {runs[n]} step {int(state.step)}"
    else:
      method, model, state = training.setup(c, jax.random.PRNGKey(c.seed))
      state = parallel.put_replicated(state, mesh)
      what = "initial parameters"
    derf.check_config(c)
    width, width_condition = derf.head_widths(c)
    params = n * derf.head_parameters(c, width, width_condition)
    variables = training.variables_of(state)
    render = functools.partial(training.make_render_fn(method, model, c),
                               variables, step=int(state.step))
    line = (f"heads {n:2d} (width {width}/{width_condition}, {params} "
            f"parameters, {what}):")
    for scale, cams in sizes:
      if scale == 1:  # compiles; chunks are one shape at every size
        evaluator.render_camera(method, c, mesh, render, cams, 0)
      wall, cpu = time.perf_counter(), time.process_time()
      for _ in range(args.repeats):
        out = evaluator.render_camera(method, c, mesh, render, cams, 0)
      wall = (time.perf_counter() - wall) / args.repeats
      cpu = (time.process_time() - cpu) / args.repeats
      h, w = out["rgb"].shape[:2]
      line += f" {w}x{h} {wall:.2f} s ({cpu:.2f} s CPU)"
      if scale == 1:
        rays = cameras_lib.image_rays(cams, 0)
        over, rounds, evaluated = dispatch_stats(model, variables, rays,
                                                 c.chunk)
        samples = (-(-int(np.prod(rays.origins.shape[:-1])) // c.chunk)
                   * c.chunk * (c.num_coarse_samples + c.num_coarse_samples
                                + c.num_fine_samples))
        line += (f", {c.derf_dispatch} dispatch: {evaluated / samples:.2f}"
                 f" head rows a sample, overflow {over}, rounds <= "
                 f"{rounds};")
    print(line, flush=True)


def main(argv=None) -> int:
  return cli.main("bench/derf_heads.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
