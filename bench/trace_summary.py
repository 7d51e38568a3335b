"""Where a profiled run's time goes: XLA ops of a jax.profiler trace, summed.

  python bench/throughput.py --config=peer_small --profile=/tmp/trace
  python bench/trace_summary.py /tmp/trace [--calls=N] [--top=K]

Reads the newest `*.trace.json.gz` under the directory and sums the wall time
of each XLA op (the CPU backend's thunks; on CPU they are only traced with
XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true), grouped by op kind (the op
name without its numeric suffix: `ynn_fusion` = library matmuls,
`*_fusion` = XLA loop fusions named after their ops, `sort`, ...). `--calls`
divides by the number of profiled calls (e.g. the --steps of throughput.py)
to give ms per step. Each row: ms per call, share of the op total, op count.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import sys

from jaxnerf.engine import cli

# Host-side spans of the runtime and of Python, not XLA ops.
NOT_OPS = re.compile(r"^(\$|Thunk|PjitFunction|Common|Slinky|Threadpool|"
                     r"Python|Parse|Handle|Allocate|Wait|end: )")


def op_times(trace_dir: str) -> collections.Counter:
  files = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"),
                           recursive=True), key=os.path.getmtime)
  if not files:
    from jaxnerf.errors import ConfigError
    raise ConfigError(f"trace_dir: no *.trace.json.gz under {trace_dir}")
  with gzip.open(files[-1]) as f:
    events = json.load(f)["traceEvents"]
  times, counts = collections.Counter(), collections.Counter()
  for e in events:
    if e.get("ph") != "X" or NOT_OPS.match(e["name"]):
      continue
    kind = re.sub(r"\.\d+$", "", e["name"])
    times[kind] += e["dur"] * 1e-3  # microseconds -> ms
    counts[kind] += 1
  return times, counts


def flags():
  p = cli.FlagParser(prog="bench/trace_summary.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("trace_dir", help="the --profile folder of throughput.py")
  p.add_argument("--calls", type=cli.integer(1), default=1,
                 help="profiled calls to divide by")
  p.add_argument("--top", type=cli.integer(1), default=25,
                 help="op kinds to print")
  return p


def job(args):
  calls, top = args.calls, args.top
  times, counts = op_times(args.trace_dir)
  total = sum(times.values())
  print(f"XLA ops: {total / calls:.1f} ms per call ({calls} call(s) traced)")
  for kind, ms in times.most_common(top):
    print(f"{ms / calls:9.1f} ms {100 * ms / total:5.1f}%  "
          f"{counts[kind] // calls:4d} x {kind}")


def main(argv=None) -> int:
  return cli.main("bench/trace_summary.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
