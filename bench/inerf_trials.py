"""iNeRF's evaluation (Yen-Chen et al. 2021) on a trained run: localise
the test views of its scene from perturbed true poses.

  flock /tmp/cpu.lock python bench/inerf_trials.py --config=instant_ngp_demo \
      --config.color_mode=sh --config.train_dir=runs/ngp_sh --trials 100 \
      [--samplings interest,random] [--iterations 300] [--batch_size 512]
      [--max_angle 40] [--max_translation 0.2] [--seed 0] [--json FILE]
      [--lr_init 1e-2] [--lr_final 1e-3] [--dilation 6] [--num_keypoints 200]
      [--only 3,7,12]   # a subset of the trials, from the same starts

Trial t localises test view t mod N (the config's `eval_split`, e.g. the
embedded lego's 25 test views) from its true pose rotated about the world
origin by an angle uniform in [0, max_angle] degrees about a random axis
and shifted by up to max_translation scene units per axis
(`localization.perturb_pose`, seeded by seed + t: every sampling starts from
the same poses). Success: rotation error < 5 degrees and camera-centre
error < 0.05 scene units after `iterations` Adam steps. The localiser is
compiled once, by a first call (timed apart, not counted), and reused: every
view has the same shape. Prints a table (sampling, trials, successes, rate
and its 95 % Wilson interval, median rotation / translation error,
successes by initial angle, near misses, seconds per localisation) and a
JSON summary; --json writes the JSON with every trial.
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np

from jaxnerf.engine import cli

ROT_OK_DEG, TRANS_OK = 5.0, 0.05
ANGLE_BINS_DEG = (0, 10, 20, 30, 40)


def wilson_interval(successes: int, trials: int, z: float = 1.96):
  """The 95 % Wilson score interval (low, high) of a success rate."""
  p = successes / trials
  centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
  half = (z / (1 + z * z / trials)) * np.sqrt(
      p * (1 - p) / trials + z * z / (4 * trials * trials))
  return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def summarise(trials: list) -> dict:
  """Rate, its Wilson interval, medians, successes by initial angle, near
  misses (rotation under ROT_OK_DEG, centre within 2 x TRANS_OK) and mean
  seconds of a list of per-trial dicts (as the JSON's `per_trial`)."""
  column = lambda key: np.array([t[key] for t in trials])
  ok = column("success")
  angle = column("initial_rot_deg")
  bins = []
  for lo, hi in zip(ANGLE_BINS_DEG[:-1], ANGLE_BINS_DEG[1:]):
    inside = (angle >= lo) & (angle < hi)
    bins.append({"from_deg": lo, "to_deg": hi, "trials": int(inside.sum()),
                 "successes": int(ok[inside].sum())})
  near = ((~ok) & (column("rot_deg") < ROT_OK_DEG) &
          (column("trans") < 2 * TRANS_OK))
  return {"trials": len(trials), "successes": int(ok.sum()),
          "rate": float(ok.mean()),
          "rate_95": wilson_interval(int(ok.sum()), len(trials)),
          "median_rot_deg": float(np.median(column("rot_deg"))),
          "median_trans": float(np.median(column("trans"))),
          "by_initial_angle": bins, "near_misses": int(near.sum()),
          "seconds_per_localisation": float(np.mean(column("seconds")))}


def print_table(results: dict) -> None:
  """One row per sampling of `summarise`'s dicts."""
  print(f"{'sampling':10s} {'trials':>6s} {'successes':>9s} {'rate':>6s} "
        f"{'95% interval':>13s} {'median rot':>10s} {'median trans':>12s} "
        f"{'by angle':>17s} {'near':>4s} {'s/localisation':>14s}")
  for sampling, r in results.items():
    low, high = r["rate_95"]
    by_angle = " ".join(f"{b['successes']}/{b['trials']}"
                        for b in r["by_initial_angle"])
    print(f"{sampling:10s} {r['trials']:6d} {r['successes']:9d} "
          f"{r['rate']:6.1%} {low:6.1%}-{high:6.1%} "
          f"{r['median_rot_deg']:6.2f} deg {r['median_trans']:12.4f} "
          f"{by_angle:>17s} {r['near_misses']:4d} "
          f"{r['seconds_per_localisation']:14.2f}")


def flags():
  from jaxnerf.posing.localization import Options
  d = Options()
  p = cli.FlagParser(prog="bench/inerf_trials.py")
  p.add_argument("--trials", type=int, default=100)
  p.add_argument("--samplings", default="interest,random")
  p.add_argument("--iterations", type=int, default=d.iterations)
  p.add_argument("--batch_size", type=int, default=d.batch_size)
  p.add_argument("--lr_init", type=float, default=d.lr_init)
  p.add_argument("--lr_final", type=float, default=d.lr_final)
  p.add_argument("--dilation", type=int, default=d.dilation,
                 help="iterations of the 3x3 dilation of the keypoints")
  p.add_argument("--num_keypoints", type=int, default=d.num_keypoints)
  p.add_argument("--only", default="",
                 help="comma-separated trial numbers to run (a subset of "
                      "range(--trials), same starts)")
  p.add_argument("--max_angle", type=float, default=40.0)
  p.add_argument("--max_translation", type=float, default=0.2)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", default="", help="also write the JSON here")
  return p


def job(config, args):
  import jax
  import jax.numpy as jnp
  from jaxnerf.engine import evaluator, parallel, training
  from jaxnerf.posing import localization
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.errors import ConfigError

  samplings = [s for s in args.samplings.split(",") if s]
  for s in samplings:
    if s not in localization.SAMPLINGS:
      raise ConfigError(f"--samplings: unknown {s!r}; known: "
                        f"{list(localization.SAMPLINGS)}")
  if args.trials < 1 or args.iterations < 1 or args.batch_size < 1:
    raise ConfigError("--trials, --iterations, --batch_size: must be >= 1")
  trial_numbers = list(range(args.trials))
  if args.only:
    try:
      trial_numbers = [int(t) for t in args.only.split(",") if t]
    except ValueError:
      raise ConfigError(f"--only: expected trial numbers, got {args.only!r}")
    if not all(0 <= t < args.trials for t in trial_numbers):
      raise ConfigError(
          f"--only: trial numbers must be in [0, {args.trials})")

  views = load_dataset(config, config.eval_split)
  mesh = parallel.make_mesh(jax.devices()[:1])
  method, model, state = evaluator.restore_latest(config, mesh)
  host = parallel.to_host(training.variables_of(state))
  params = host.pop("params")
  options = localization.Options(
      iterations=args.iterations, batch_size=args.batch_size,
      lr_init=args.lr_init, lr_final=args.lr_final, dilation=args.dilation,
      num_keypoints=args.num_keypoints)
  # The sampling only chooses the mask: one localiser serves both.
  localize = localization.make_localizer(method, model, config, params, host,
                                         options)
  masks = {s: [localization.sampling_mask(
      image, dataclasses.replace(options, sampling=s))
      for image in views.images]
           for s in samplings}
  print(f"{len(views)} {config.eval_split} views of {views.width}x"
        f"{views.height}; interest regions cover "
        f"{np.mean([m.mean() for m in masks.get('interest', [])] or [1]):.1%}"
        f" of the pixels on average; step {int(state.step)}", flush=True)

  def run(sampling, trial):
    """(start, result c2w [3, 4], losses, seconds)."""
    view = trial % len(views)
    true = np.asarray(views.cameras.camtoworlds[view], np.float64)
    start = localization.perturb_pose(
        true, args.max_angle, args.max_translation,
        np.random.default_rng(args.seed + trial))
    t0 = time.perf_counter()
    c2w, history = localize(
        localization.single_camera(views.cameras, view),
        jnp.asarray(start, jnp.float32), jnp.asarray(views.images[view]),
        jnp.asarray(masks[sampling][view]),
        jax.random.PRNGKey(args.seed + trial))
    c2w = np.asarray(jax.block_until_ready(c2w), np.float64)
    return true, start, c2w, np.asarray(history), time.perf_counter() - t0

  t0 = time.perf_counter()
  run(samplings[0], 0)  # compiles
  first_call_seconds = time.perf_counter() - t0

  results = {}
  for sampling in samplings:
    trials = []
    for trial in trial_numbers:
      true, start, c2w, history, seconds = run(sampling, trial)
      rot0, trans0 = localization.pose_error(start, true)
      rot, trans = localization.pose_error(c2w, true)
      trials.append({
          "trial": trial, "view": trial % len(views),
          "initial_rot_deg": rot0,
          "initial_trans": trans0, "rot_deg": rot, "trans": trans,
          "success": bool(rot < ROT_OK_DEG and trans < TRANS_OK),
          "loss_first": float(history[0]), "loss_last": float(history[-1]),
          "seconds": seconds})
      if args.only or args.trials <= 10 or (trial + 1) % 10 == 0:
        ok = sum(t["success"] for t in trials)
        print(f"  {sampling} {trial + 1}/{args.trials}: {rot0:5.1f} deg "
              f"{trans0:.3f} -> {rot:6.2f} deg {trans:.4f} "
              f"({ok} successes so far, {seconds:.1f} s)", flush=True)
    results[sampling] = {**summarise(trials), "per_trial": trials}

  print()
  print_table(results)
  print(f"(success: rotation < {ROT_OK_DEG} deg and translation < "
        f"{TRANS_OK}; by angle: successes/trials by initial rotation "
        f"{ANGLE_BINS_DEG} deg; near: failures under {ROT_OK_DEG} deg and "
        f"{2 * TRANS_OK}; a first call, compilation and one localisation, took "
        f"{first_call_seconds:.1f} s and is not counted)")
  report = {
      "config": {"train_dir": config.train_dir, "method": config.method,
                 "step": int(state.step), "split": config.eval_split},
      "settings": {"trials": args.trials, "iterations": args.iterations,
                   "batch_size": args.batch_size,
                   "lr_init": args.lr_init, "lr_final": args.lr_final,
                   "dilation": args.dilation,
                   "num_keypoints": args.num_keypoints,
                   "only": trial_numbers if args.only else None,
                   "max_angle_deg": args.max_angle,
                   "max_translation": args.max_translation,
                   "seed": args.seed, "success_rot_deg": ROT_OK_DEG,
                   "success_trans": TRANS_OK},
      "device": str(jax.devices()[0]), "first_call_seconds": first_call_seconds,
      "results": results}
  summary = {**report, "results": {
      s: {k: v for k, v in r.items() if k != "per_trial"}
      for s, r in results.items()}}
  print(json.dumps(summary, indent=1))
  if args.json:
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
      json.dump(report, f, indent=1)


def main(argv=None) -> int:
  return cli.main("bench/inerf_trials.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
