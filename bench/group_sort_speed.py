"""The sort of a mixture-of-experts dispatch (fields/grouped.py): the
stable argsort of group ids against `stable_group_order`'s one sort of
packed keys, CPU milliseconds a call (best of --repeats batches).

  python bench/group_sort_speed.py [--rows 16384] [--groups 766]
"""

from __future__ import annotations

import sys
import time

from jaxnerf.engine import cli


def flags():
  p = cli.FlagParser(prog="bench/group_sort_speed.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--rows", type=cli.integer(1), default=16384,
                 help="group ids a call (a density tile of the baked "
                 "KiloNeRF render)")
  p.add_argument("--groups", type=cli.integer(1), default=766,
                 help="networks (KN6's scene kept 765, plus the padding's)")
  p.add_argument("--repeats", type=cli.integer(1), default=5)
  return p


def job(args):
  import jax
  import jax.numpy as jnp
  import numpy as np
  from jaxnerf.fields import grouped
  groups = jnp.asarray(np.random.default_rng(0).integers(
      0, args.groups, args.rows).astype(np.int32))
  fns = {"argsort": jax.jit(lambda g: jnp.argsort(g, stable=True)),
         "packed keys": jax.jit(lambda g: grouped.stable_group_order(
             g, args.groups))}
  results = {}
  for name, fn in fns.items():
    fn(groups).block_until_ready()
    best = float("inf")
    for _ in range(args.repeats):
      start = time.process_time()
      for _ in range(50):
        fn(groups).block_until_ready()
      best = min(best, (time.process_time() - start) / 50)
    results[name] = best
    print(f"{name}: {1e3 * best:.3f} CPU ms a call", flush=True)
  print(f"packed keys {results['argsort'] / results['packed keys']:.1f}x "
        "faster", flush=True)


def main(argv=None) -> int:
  return cli.main("bench/group_sort_speed.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
