"""NeRF-W's lego ablation on the embedded lego: NeRF against NeRF-A / NeRF-U
/ NeRF-W at the same training wall time, per perturbation of the training
images (scripts/make_lego_in_the_wild.py; test images are always clean).

  flock /tmp/cpu.lock python bench/nerfw_lego_wild.py --family ngp \
      --minutes 5 --cases color both clean [--work DIR] [--test_views N] \
      [--config.FIELD=VALUE ...]   # passed on to every train.py / eval.py

Cases: `color` (gain/offset; NeRF vs NeRF-A), `occluders` (NeRF vs
NeRF-U), `both` (NeRF vs NeRF-W, the committed data/lego_wild_100) and
`clean` (data/lego_100; NeRF vs NeRF-W). Families: `mlp` (configs/demo.py
against nerf{a,u,w}_demo) or `ngp` (instant_ngp_demo against
nerf{a,u,w}_ngp_demo). Each run is `train.py` with max_time_minutes (the
config's own step count and schedule otherwise), then `eval.py`.

Scores: NeRF-W's eval fits each test image's appearance code on the left
half and scores the right half (the paper's protocol); NeRF has nothing to
fit. Every row reports the right-half PSNR, recomputed here from the
written `<view>_rgb.png` (8-bit) for every method alike, and eval.py's own
mean PSNR / SSIM (NeRF's over the whole image).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from jaxnerf.engine import cli

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {  # case: (data, the NeRF-W variant)
    "color": ("color", "a"),
    "occluders": ("occluders", "u"),
    "both": (os.path.join(REPO_ROOT, "data", "lego_wild_100"), "w"),
    "clean": (os.path.join(REPO_ROOT, "data", "lego_100"), "w"),
}
BASELINES = {"mlp": "demo", "ngp": "instant_ngp_demo"}


def variant_config(family: str, letter: str) -> str:
  return f"nerf{letter}_demo" if family == "mlp" else f"nerf{letter}_ngp_demo"


def data_for(case: str, work: str) -> str:
  data, _ = CASES[case]
  if os.path.isabs(data):
    return data
  out = os.path.join(work, f"lego_{data}")
  if not os.path.isdir(out):
    subprocess.run([sys.executable, os.path.join(
        REPO_ROOT, "scripts", "make_lego_in_the_wild.py"), "--out", out,
                    "--perturb", data], check=True)
  return out


def right_half_psnr(eval_dir: str, data_dir: str, names: list[str]) -> float:
  """Mean PSNR over the right halves of the written renders."""
  from jaxnerf.core import metrics
  from jaxnerf.data.loaders.blender import composite_rgba
  from jaxnerf.data.images import read_image
  psnrs = []
  for name in names:
    rgb = read_image(os.path.join(eval_dir, f"{name}_rgb.png"))[..., :3]
    gt = composite_rgba(read_image(os.path.join(data_dir, "test",
                                                name + ".png")), True)
    half = slice(gt.shape[1] // 2, gt.shape[1])
    psnrs.append(float(metrics.psnr(rgb[:, half], gt[:, half])))
  return float(np.mean(psnrs))


def train_and_eval(config: str, data_dir: str, train_dir: str,
                   minutes: float, test_views: int,
                   overrides: tuple[str, ...]) -> dict:
  common = [f"--config={config}", f"--config.data_dir={data_dir}",
            f"--config.train_dir={train_dir}", *overrides]
  t0 = time.time()
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, "train.py"),
                  *common, f"--config.max_time_minutes={minutes}",
                  "--config.render_every=0", "--config.print_every=50"],
                 check=True, cwd=REPO_ROOT)
  train_s = time.time() - t0
  t0 = time.time()
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, "eval.py"),
                  *common, "--config.save_video=false",
                  f"--config.test_view_limit={test_views}"],
                 check=True, cwd=REPO_ROOT)
  eval_s = time.time() - t0
  runs = sorted((d for d in os.listdir(train_dir)
                 if d.startswith("eval_test_")),
                key=lambda d: int(d.rsplit("_", 1)[1]))
  eval_dir = os.path.join(train_dir, runs[-1])
  with open(os.path.join(eval_dir, "metrics.json")) as f:
    m = json.load(f)
  names = [r["name"] for r in m["images"]]
  return {"config": config, "steps": m["step"], "train_s": train_s,
          "eval_s": eval_s, "score_region": m["score_region"],
          "psnr_eval": m["mean"]["psnr"], "ssim_eval": m["mean"]["ssim"],
          "psnr_right_half": right_half_psnr(eval_dir, data_dir, names)}


def configs_of(case: str, args) -> list[str]:
  configs = [BASELINES[args.family],
             variant_config(args.family, CASES[case][1])]
  if args.only:
    configs = configs[:1] if args.only == "baseline" else configs[1:]
  return configs


def flags():
  parser = cli.FlagParser(prog="bench/nerfw_lego_wild.py",
                          description=__doc__.split("\n")[0])
  parser.add_argument("--family", choices=sorted(BASELINES), default="ngp")
  parser.add_argument("--minutes", type=cli.number(above=0.0), default=5.0)
  parser.add_argument("--cases", nargs="+", choices=sorted(CASES),
                      default=["color", "both", "clean"])
  parser.add_argument("--work", default="/tmp/nerfw_lego_wild")
  parser.add_argument("--test_views", type=cli.integer(0), default=0)
  parser.add_argument("--only", choices=("baseline", "variant"), default=None)
  return parser


def job(overrides, args) -> int:
  # The --config.FIELD=VALUE arguments, checked on every config before the
  # first run (then passed on as given).
  for case in args.cases:
    for config in configs_of(case, args):
      overrides.load(config)
  os.makedirs(args.work, exist_ok=True)
  results = []
  for case in args.cases:
    data_dir = data_for(case, args.work)
    for config in configs_of(case, args):
      row = train_and_eval(config, data_dir,
                           os.path.join(args.work, f"{case}_{config}"),
                           args.minutes, args.test_views, overrides.args)
      row["case"] = case
      results.append(row)
      print(json.dumps(row), flush=True)
      with open(os.path.join(args.work, "results.json"), "a") as f:
        f.write(json.dumps(row) + "\n")
  print(f"\n{'case':<10} {'config':<18} {'steps':>6} {'train s':>8} "
        f"{'PSNR right half':>16} {'eval PSNR':>10} {'SSIM':>6}")
  for r in results:
    print(f"{r['case']:<10} {r['config']:<18} {r['steps']:>6} "
          f"{r['train_s']:>8.0f} {r['psnr_right_half']:>16.2f} "
          f"{r['psnr_eval']:>10.2f} {r['ssim_eval']:>6.3f}")
  return 0


def main(argv=None) -> int:
  return cli.main("bench/nerfw_lego_wild.py", job, flags(), argv,
                  config=cli.EACH)


if __name__ == "__main__":
  sys.exit(main())
