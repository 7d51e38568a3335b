"""What a pure refactor must not change: per-step training losses and the
compiled train step's cost.

  python bench/refactor_guard.py record OUT.json [--steps=50]
      [--configs=demo,instant_ngp_demo,barf_demo] [--cost=peer_small,...]
  python bench/refactor_guard.py compare BEFORE.json AFTER.json

`record` trains each config for `--steps` steps (print_every=1, nothing
saved but the run folder under a temporary directory) and writes every
step's loss as a float hex string (bit-for-bit comparisons), and for each
`--cost` config the XLA cost analysis (flops, bytes accessed) of its
compiled train step. `compare` prints, per config, the first step whose
loss differs and the largest relative difference, and the cost ratios.
Run both sides on the same machine; timing plays no part.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

DEFAULT_CONFIGS = "demo,instant_ngp_demo,barf_demo"
DEFAULT_COST = "peer_small,instant_ngp_demo"


def _config(name: str, train_dir: str, steps: int):
  from jaxnerf.engine import config as config_lib
  c = config_lib.load_config(name)
  with c.unlocked():
    c.train_dir = train_dir
    c.max_steps = steps
    c.print_every = 1
    c.save_every = 10 * steps
    c.render_every = 0
    c.metrics_every = 0
    c.max_time_minutes = 0.0
  return c


def losses(name: str, steps: int) -> list[str]:
  """Each step's training loss, as float.hex()."""
  from jaxnerf.engine import trainer
  with tempfile.TemporaryDirectory(prefix="refactor_guard_") as d:
    _, history = trainer.train(_config(name, os.path.join(d, "run"), steps))
  return [float(h["loss"]).hex() for h in history if "loss" in h]


def step_cost(name: str) -> dict:
  """XLA's cost analysis of the config's compiled train step."""
  import jax
  from jaxnerf import methods
  from jaxnerf.engine import parallel, trainer, training
  from jaxnerf.data.dataset import load_dataset
  with tempfile.TemporaryDirectory(prefix="refactor_guard_") as d:
    config = _config(name, os.path.join(d, "run"), 1)
    method = methods.of(config)
    mesh = parallel.make_mesh()
    dataset = load_dataset(config, "train")
    scene = trainer.scene_info(dataset)
    config = trainer.resolve_scene_fields(method, config, scene)
    data = parallel.shard_training_data(
        trainer.stack_training_data(dataset, method.pixel_batches),
        training.by_image(config), mesh)
    cams = None
    if method.pixel_batches:
      cams = parallel.put_replicated(dataset.cameras.device_arrays(), mesh)
    model = training.build_model(method, config, scene)
    key = jax.random.PRNGKey(0)
    state = parallel.put_replicated(training.create_train_state(
        method, model, config, key, scene.num_cameras), mesh)
    step = parallel.jit_train_step(method, model, config, mesh)
    cost = step.lower(state, data, cams, key).compile().cost_analysis()
  if isinstance(cost, list):
    cost = cost[0]
  return {k: float(cost[k]) for k in ("flops", "bytes accessed",
                                      "transcendentals") if k in cost}


def record(args) -> int:
  out = {"steps": args.steps, "losses": {}, "cost": {}}
  for name in filter(None, args.configs.split(",")):
    out["losses"][name] = losses(name, args.steps)
    print(f"{name}: {len(out['losses'][name])} losses, last "
          f"{float.fromhex(out['losses'][name][-1]):.6f}", flush=True)
  for name in filter(None, args.cost.split(",")):
    out["cost"][name] = step_cost(name)
    print(f"{name}: {out['cost'][name]}", flush=True)
  with open(args.out, "w") as f:
    json.dump(out, f, indent=1)
  return 0


def compare(args) -> int:
  with open(args.before) as f:
    before = json.load(f)
  with open(args.after) as f:
    after = json.load(f)
  same = True
  for name, old in before["losses"].items():
    new = after["losses"].get(name)
    if new is None:
      print(f"{name}: not in {args.after}")
      same = False
      continue
    a = [float.fromhex(x) for x in old]
    b = [float.fromhex(x) for x in new]
    diff = [i + 1 for i, (x, y) in enumerate(zip(a, b)) if x != y]
    worst = max((abs(x - y) / max(abs(x), 1e-30) for x, y in zip(a, b)),
                default=0.0)
    same &= not diff and len(a) == len(b)
    print(f"{name}: {len(a)} vs {len(b)} steps; "
          + ("bit-for-bit equal" if not diff else
             f"first differing step {diff[0]}, largest relative "
             f"difference {worst:.3g}"))
  for name, old in before["cost"].items():
    new = after["cost"].get(name, {})
    ratios = {k: new.get(k, float("nan")) / v for k, v in old.items() if v}
    print(f"{name} cost after/before: "
          + ", ".join(f"{k} {r:.4f}" for k, r in ratios.items()))
  return 0 if same else 1


def flags():
  from jaxnerf.engine import cli
  p = cli.FlagParser(prog="bench/refactor_guard.py")
  sub = p.add_subparsers(dest="what", required=True)
  r = sub.add_parser("record")
  r.add_argument("out")
  r.add_argument("--steps", type=cli.integer(1), default=50)
  r.add_argument("--configs", default=DEFAULT_CONFIGS)
  r.add_argument("--cost", default=DEFAULT_COST)
  c = sub.add_parser("compare")
  c.add_argument("before")
  c.add_argument("after")
  return p


def job(args) -> int:
  return record(args) if args.what == "record" else compare(args)


def main(argv=None) -> int:
  from jaxnerf.engine import cli
  return cli.main("bench/refactor_guard.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
