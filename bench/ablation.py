"""An ablation: one config trained from scratch once per variant (a named
set of config overrides), each scored on the test split at the same
wall-clock marks by bench/quality_vs_time.py's loop, in one process.

  flock /tmp/cpu.lock python bench/ablation.py --config instant_ngp_demo \
      --data_dir data/lego_100 --marks 1 2 5 \
      --variant base= --variant jitter=ray_jitter=cone \
      --variant "res256=hash_max_resolution=256" \
      --variant "both=ray_jitter=cone,hash_max_resolution=256" \
      [--override FIELD=VALUE ...] [--json out.json]

A variant is NAME=FIELD=VALUE[,FIELD=VALUE...] (`NAME=` for the config as
written); --override applies to every variant. Prints each variant's
quality_vs_time table, then one table: test PSNR at every mark, the
training-batch PSNR and its gap to the test PSNR at the last mark, and
seconds per step as a ratio to the first variant (same process, same
machine state).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import quality_vs_time
from jaxnerf.engine import cli, host_memory
from jaxnerf.errors import ConfigError


def parse_variant(text: str) -> tuple[str, list[str]]:
  name, sep, fields = text.partition("=")
  if not sep or not name:
    raise ConfigError(f"--variant {text!r}: expected "
                      "NAME=FIELD=VALUE[,FIELD=VALUE...] or NAME=")
  return name, [f for f in fields.split(",") if f]


def print_summary(variants, results) -> None:
  marks = [r["minutes"] for r in results[0]["rows"]]
  base_s = results[0]["steady_s_per_step"]
  print("\n| variant | overrides | " +
        " | ".join(f"{m:g} min" for m in marks) +
        " | steps | train batch PSNR | gap | s/step (ratio) |")
  print("|---|---|" + "---|" * len(marks) + "---|---|---|---|")
  for (name, fields), result in zip(variants, results):
    last = result["rows"][-1]
    print(f"| {name} | {', '.join(fields) or '(as written)'} | " +
          " | ".join(f"{r['psnr']:.2f}" for r in result["rows"]) +
          f" | {last['steps']} | {last['train_batch_psnr']:.2f} | "
          f"{last['train_batch_psnr'] - last['psnr']:.2f} | "
          f"{result['steady_s_per_step']:.3f} "
          f"({result['steady_s_per_step'] / max(base_s, 1e-9):.2f}) |")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="instant_ngp_demo")
  parser.add_argument("--variant", action="append", required=True)
  parser.add_argument("--marks", nargs="+", type=float, default=[1, 2, 5])
  parser.add_argument("--data_dir", default="")
  parser.add_argument("--test_views", type=int, default=0)
  parser.add_argument("--override", nargs="*", default=[])
  parser.add_argument("--json", default="")
  args = parser.parse_args()
  variants = [parse_variant(v) for v in args.variant]
  results = []
  for name, fields in variants:
    run_args = copy.copy(args)
    run_args.override = list(args.override) + fields
    run_args.mark_unit = "minutes"
    result = quality_vs_time.run(args.config, run_args)
    result.update(variant=name, overrides=fields)
    quality_vs_time.print_table(result)
    results.append(result)
    if args.json:  # after every variant: a stopped run keeps what it has
      with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
  print_summary(variants, results)


if __name__ == "__main__":
  host_memory.reexec_with_huge_pages()
  sys.exit(cli.guarded(main))
