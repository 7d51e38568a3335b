"""NeRF-W on real internet photos (configs/nerfw_liberty.py) against the
same hash-grid field without embeddings, at the same training wall time.

  flock /tmp/cpu.lock python bench/nerfw_liberty.py \
      --data ../shared/data/phototourism/liberty40 --minutes 12 \
      [--work DIR] [--gif docs/liberty_appearance.gif] \
      [--config.FIELD=VALUE ...]   # passed on to both runs' commands

The photos and model are only read: the work folder links them and holds
images_4/ (scripts/downscale_images.py) and the two runs. Both are scored
as NeRF-W's paper scores: right half of each held-out photo (every 8th),
NeRF-W after fitting that photo's appearance code on the left half (the
baseline has nothing to fit). With --gif, NeRF-W's run also renders the
camera arc while blending the appearance of one training photo into
another's (eval.py render_path with path_rows_from/to) and writes a GIF.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

from jaxnerf.engine import cli

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The same field: no appearance codes, no transient head, nothing to fit.
NO_EMBEDDINGS = ["--config.appearance_dim=0", "--config.transient_dim=0",
                 "--config.test_time_steps=0"]


def prepare(data: str, work: str, factor: int) -> str:
  scene = os.path.join(work, "scene")
  os.makedirs(scene, exist_ok=True)
  for sub in ("images", "sparse"):
    link = os.path.join(scene, sub)
    if not os.path.lexists(link):
      os.symlink(os.path.abspath(os.path.join(data, sub)), link)
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts",
                                               "downscale_images.py"),
                  os.path.join(scene, "images"), "--factors", str(factor)],
                 check=True)
  return scene


def latest_eval(train_dir: str, split: str = "test") -> str:
  runs = glob.glob(os.path.join(train_dir, f"eval_{split}_*"))
  return max(runs, key=lambda d: int(d.rsplit("_", 1)[1]))


def config_args(scene: str, train_dir: str, factor: int,
                overrides: tuple[str, ...]) -> list[str]:
  return ["--config=nerfw_liberty", f"--config.data_dir={scene}",
          f"--config.train_dir={train_dir}", f"--config.factor={factor}",
          *overrides]


def run(name: str, extra: list[str], scene: str, work: str, minutes: float,
        factor: int, overrides: tuple[str, ...]) -> dict:
  train_dir = os.path.join(work, name)
  common = config_args(scene, train_dir, factor, overrides) + extra
  t0 = time.time()
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, "train.py"),
                  *common, f"--config.max_time_minutes={minutes}",
                  "--config.print_every=100"], check=True, cwd=REPO_ROOT)
  train_s = time.time() - t0
  t0 = time.time()
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, "eval.py"),
                  *common, "--config.save_video=false"], check=True,
                 cwd=REPO_ROOT)
  eval_s = time.time() - t0
  with open(os.path.join(latest_eval(train_dir), "metrics.json")) as f:
    m = json.load(f)
  return {"run": name, "steps": m["step"], "train_s": round(train_s),
          "eval_s": round(eval_s), "score_region": m["score_region"],
          "psnr": m["mean"]["psnr"], "ssim": m["mean"]["ssim"],
          "per_image": {r["name"]: round(r["psnr"], 2) for r in m["images"]}}


def appearance_gif(scene: str, work: str, factor: int, rows: list[int],
                   frames: int, gif: str, overrides: tuple[str, ...]
                   ) -> None:
  import imageio.v3 as iio
  train_dir = os.path.join(work, "nerfw")
  common = config_args(scene, train_dir, factor, overrides)
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, "eval.py"),
                  *common, "--config.render_path=true",
                  f"--config.render_path_frames={frames}",
                  f"--config.path_rows_from={rows[0]}",
                  f"--config.path_rows_to={rows[1]}",
                  "--config.test_view_limit=1"], check=True, cwd=REPO_ROOT)
  video = os.path.join(latest_eval(train_dir), "path_rgb.mp4")
  clip = iio.imread(video)
  clip = list(clip) + list(clip[-2:0:-1])  # forth and back
  iio.imwrite(gif, clip, duration=90, loop=0)
  print(f"{gif}: {len(clip)} frames from {video}")


def flags():
  p = cli.FlagParser(prog="bench/nerfw_liberty.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--data", required=True,
                 help="a phototourism scene: images/ and sparse/0")
  p.add_argument("--minutes", type=cli.number(above=0.0), default=12.0)
  p.add_argument("--factor", type=cli.integer(1), default=4)
  p.add_argument("--work", default="/tmp/nerfw_liberty")
  p.add_argument("--only", choices=("nerfw", "no_embeddings"), default=None)
  p.add_argument("--gif", default=None)
  p.add_argument("--gif_rows", type=cli.integer(0), nargs=2, default=[3, 20],
                 help="training photos whose appearances the GIF blends")
  p.add_argument("--gif_frames", type=cli.integer(1), default=24)
  return p


def job(overrides, args) -> int:
  runs = [("nerfw", []), ("no_embeddings", NO_EMBEDDINGS)]
  runs = [(name, extra) for name, extra in runs
          if not args.only or name == args.only]
  # The --config.FIELD=VALUE arguments, checked before any work (then
  # passed on as given).
  for _, extra in runs:
    overrides.load("nerfw_liberty", *extra)
  os.makedirs(args.work, exist_ok=True)
  scene = prepare(args.data, args.work, args.factor)
  for name, extra in runs:
    row = run(name, extra, scene, args.work, args.minutes, args.factor,
              overrides.args)
    print(json.dumps(row), flush=True)
    with open(os.path.join(args.work, "results.json"), "a") as f:
      f.write(json.dumps(row) + "\n")
  if args.gif:
    appearance_gif(scene, args.work, args.factor, args.gif_rows,
                   args.gif_frames, args.gif, overrides.args)
  return 0


def main(argv=None) -> int:
  return cli.main("bench/nerfw_liberty.py", job, flags(), argv,
                  config=cli.EACH)


if __name__ == "__main__":
  sys.exit(main())
