"""docs/semantic_nerf.png from Semantic-NeRF runs on the tabletop: a
training view and its labels as each run was given them (the clean ones
are its true classes), then held-out views (a frame of the path's val
split, the hemisphere test view that looks down on the table the
steepest), their true classes and each run's class map (the
`<view>_semantic.png` that eval.py wrote).

  python bench/semantic_nerf_picture.py --out docs/semantic_nerf.png \\
      --run "clean=runs/sn_clean" --run "50% noise=runs/sn_noise50:noise=0.5" \\
      --run "5% of pixels=runs/sn_sparse5:sparsity=0.05" ...

A run is `title=folder[:field=value,...]` with the label fields that run
trained with (noise, sparsity, downscale: config.label_*). Its latest
eval_<split>_<step> folder of each split is read. --out is replaced only
where this script wrote it (a signed PNG): move any other file first.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import imageio.v3 as iio
import ml_collections
import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin

from jaxnerf import files
from jaxnerf.data import labels
from jaxnerf.engine import cli
from jaxnerf.errors import ConfigError, DatasetError
from jaxnerf.synthetic import ground_truth

TITLE = 16  # pixels of caption above each tile
SCALE = 1.6  # tiles of 160 pixels from 100-pixel views (nearest)


def parse_run(text: str) -> tuple[str, str, dict]:
  try:
    title, rest = text.split("=", 1)
    folder, _, fields = rest.partition(":")
    given = dict(kv.split("=") for kv in fields.split(",") if kv)
    return title, folder, {k: float(v) for k, v in given.items()}
  except ValueError:
    raise ConfigError(f"--run {text!r}: expected title=folder[:field=value,"
                      "...]") from None


def given_labels(index: np.ndarray, fields: dict, seed: int = 0
                 ) -> np.ndarray:
  """Training view 0's labels as a run with `fields` got them (image 0's
  generator, as jaxnerf.data.labels.corrupt draws)."""
  c = ml_collections.ConfigDict(dict(
      num_classes=7, label_noise=fields.get("noise", 0.0),
      label_sparsity=fields.get("sparsity", 1.0),
      label_downscale=int(fields.get("downscale", 1)),
      label_downscale_mode="nearest"))
  return labels.corrupt([index.astype(np.int32)], c, seed)[0]


def latest_eval(folder: str, split: str) -> str:
  found = sorted(glob.glob(os.path.join(folder, f"eval_{split}_*")),
                 key=lambda p: int(p.rsplit("_", 1)[1]))
  if not found:
    raise DatasetError(f"--run: no eval_{split}_* in {folder}")
  return found[-1]


def tile(image: np.ndarray, caption: str) -> Image.Image:
  image = np.asarray(image, np.float32)
  if image.max() > 1.0:
    image = image / 255.0
  if image.shape[-1] == 4:  # the renders' straight alpha, on white
    image = image[..., :3] * image[..., 3:] + (1.0 - image[..., 3:])
  im = Image.fromarray((np.clip(image[..., :3], 0, 1) * 255).astype(
      np.uint8))
  im = im.resize((round(im.width * SCALE), round(im.height * SCALE)),
                 Image.NEAREST)
  out = Image.new("RGB", (im.width, im.height + TITLE), "white")
  out.paste(im, (0, TITLE))
  ImageDraw.Draw(out).text((2, 2), caption, fill="black")
  return out


def flags():
  p = cli.FlagParser(prog="bench/semantic_nerf_picture.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--data", default="data/tabletop_100")
  p.add_argument("--run", action="append", required=True)
  p.add_argument("--val_view", type=cli.integer(0), default=0)
  p.add_argument("--test_view", type=cli.integer(-1), default=-1,
                 help="-1: the test view looking down the steepest")
  p.add_argument("--out", required=True)
  return p


def job(args):
  cli.check_output_file(args.out, "--out")  # before any work
  runs = [parse_run(r) for r in args.run]
  test_view = args.test_view
  if test_view < 0:
    with open(os.path.join(args.data, "transforms_test.json")) as f:
      frames = json.load(f)["frames"]
    # The camera's viewing axis is -z: the most negative world z looks
    # down the steepest.
    test_view = int(np.argmin([-np.asarray(v["transform_matrix"])[2][2]
                               for v in frames]))

  def truth(split, i):
    return ground_truth.read(os.path.join(args.data, split,
                                          f"r_{i}_gt.npz"))["index"]

  rows = [[tile(iio.imread(os.path.join(args.data, "train", "r_0.png")),
                "train view")] +
          [tile(labels.picture(given_labels(truth("train", 0), f)),
                f"given: {t}") for t, _, f in runs]]
  for split, i, name in (("val", args.val_view, "val frame (path)"),
                         ("test", test_view, "test view (from above)")):
    rows.append(
        [tile(iio.imread(os.path.join(args.data, split, f"r_{i}.png")),
              name), tile(labels.picture(truth(split, i)),
                          "its true classes")] +
        [tile(iio.imread(os.path.join(latest_eval(d, split),
                                      f"r_{i}_semantic.png")),
              f"from {t}") for t, d, _ in runs])
  w, h = rows[0][0].width, rows[0][0].height
  sheet = Image.new("RGB", (w * max(map(len, rows)), h * len(rows)),
                    "white")
  for r, row in enumerate(rows):
    for c, im in enumerate(row):
      sheet.paste(im, (c * w, r * h))
  info = PngImagePlugin.PngInfo()
  info.add_text("Comment", files.SIGNATURE)  # a rerun may replace it
  sheet.save(args.out, format="PNG", pnginfo=info)
  print(f"{args.out}: test view r_{test_view}")
  return 0


def main(argv=None) -> int:
  return cli.main("bench/semantic_nerf_picture.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
