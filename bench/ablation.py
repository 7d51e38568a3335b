"""An ablation: one config trained from scratch once per variant (a named
set of config overrides), each scored on the test split at the same
wall-clock marks by bench/quality_vs_time.py's loop, in one process.

  flock /tmp/cpu.lock python bench/ablation.py --config instant_ngp_demo \
      --data_dir data/lego_100 --marks 1 2 5 \
      --variant base= --variant jitter=ray_jitter=cone \
      --variant "res256=hash_max_resolution=256" \
      --variant "both=ray_jitter=cone,hash_max_resolution=256" \
      [--config.FIELD=VALUE ...] [--json out.json]

A variant is NAME=FIELD=VALUE[,FIELD=VALUE...] (`NAME=` for the config as
written): each FIELD=VALUE is a `--config.FIELD=VALUE` of that variant.
`--config.FIELD=VALUE` arguments apply to every variant (--data_dir DIR is
--config.data_dir=DIR). Prints each variant's
quality_vs_time table, then one table: test PSNR at every mark, the
training-batch PSNR and its gap to the test PSNR at the last mark, and
seconds per step as a ratio to the first variant (same process, same
machine state).
"""

from __future__ import annotations

import copy
import json
import sys

import quality_vs_time
from jaxnerf.engine import cli
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


def flags():
  parser = cli.FlagParser(prog="bench/ablation.py",
                          description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="instant_ngp_demo",
                      help="the config every variant changes")
  parser.add_argument("--variant", action="append", required=True)
  parser.add_argument("--marks", nargs="+", type=cli.number(above=0.0),
                      default=[1, 2, 5])
  parser.add_config_field("--data_dir", "data_dir",
                          help="= --config.data_dir")
  parser.add_argument("--test_views", type=cli.integer(0), default=0)
  parser.add_argument("--json", default="")
  return parser


def job(overrides, args):
  variants = [parse_variant(v) for v in args.variant]
  # Every variant's config before any work.
  configs = [overrides.load(args.config, *(f"--config.{f}" for f in fields))
             for _, fields in variants]
  results = []
  for (name, fields), config in zip(variants, configs):
    run_args = copy.copy(args)
    run_args.mark_unit = "minutes"
    result = quality_vs_time.run(args.config, config, run_args)
    result.update(variant=name, overrides=fields)
    quality_vs_time.print_table(result)
    results.append(result)
    if args.json:  # after every variant: a stopped run keeps what it has
      with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
  print_summary(variants, results)


def main(argv=None) -> int:
  return cli.main("bench/ablation.py", job, flags(), argv, config=cli.EACH)


if __name__ == "__main__":
  sys.exit(main())
