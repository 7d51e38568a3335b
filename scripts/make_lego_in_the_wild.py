"""Writes "lego in the wild": NeRF-W's synthetic ablation, derived from the
embedded lego (data/lego_100 by default).

Training images are perturbed as NeRF-W's lego experiments (supplementary
section D, as nerf_pl's `add_perturbation` implements them), every image but
the first:

* colour: the RGB of the straight-alpha RGBA image becomes
  clip(s * rgb + b, 0, 1) with a per-image, per-channel gain
  s ~ U[0.8, 1.2] and offset b ~ U[-0.2, 0.2]; transparent pixels stay
  transparent, so the background is white after compositing, as the
  renderer's;
* occluders: ten opaque vertical stripes of random colours, each 20 x 200
  pixels at 800 x 800 (2.5 x 25 at 100 x 100), side by side from a random
  top-left corner in [200, 400)^2 (scaled to the image size).

Test images are copied clean (without the depth maps). The per-image gains,
offsets and stripe boxes go to perturbations.json.

  python scripts/make_lego_in_the_wild.py [--src DIR] [--out DIR]
      [--perturb both|color|occluders] [--seed N]

The committed data/lego_wild_100 is `--perturb both --seed 0`; the
colour-only and occluder-only variants for bench/nerfw_lego_wild.py are
made the same way into a scratch folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import imageio.v3 as iio
import numpy as np

PERTURBATIONS = ("both", "color", "occluders")
# At NeRF's 800 x 800 resolution (nerf_pl): stripes 20 wide, 200 tall,
# top-left corner in [200, 400).
REFERENCE_SIZE = 800
STRIPES = 10
STRIPE_WIDTH, STRIPE_HEIGHT = 20, 200
CORNER_RANGE = (200, 400)


def color_perturbation(rng: np.random.Generator) -> dict:
  return {"gain": rng.uniform(0.8, 1.2, 3).round(4).tolist(),
          "offset": rng.uniform(-0.2, 0.2, 3).round(4).tolist()}


def apply_color(rgba: np.ndarray, gain, offset) -> np.ndarray:
  """[H, W, 4] straight-alpha RGBA in [0, 1]: gain and offset on RGB."""
  out = rgba.copy()
  out[..., :3] = np.clip(np.asarray(gain) * rgba[..., :3] +
                         np.asarray(offset), 0.0, 1.0)
  return out


def occluder_stripes(rng: np.random.Generator, size: int) -> list[dict]:
  """Ten stripes side by side, in pixels of an image `size` wide."""
  scale = size / REFERENCE_SIZE
  left, top = rng.integers(*CORNER_RANGE, size=2)
  return [{"x0": (left + STRIPE_WIDTH * i) * scale, "y0": top * scale,
           "x1": (left + STRIPE_WIDTH * (i + 1)) * scale,
           "y1": (top + STRIPE_HEIGHT) * scale,
           "color": (rng.integers(0, 256, 3) / 255.0).round(4).tolist()}
          for i in range(STRIPES)]


def apply_occluders(rgba: np.ndarray, stripes: list[dict]) -> np.ndarray:
  """Paints opaque stripes; a pixel belongs to the stripe holding its
  centre."""
  out = rgba.copy()
  h, w = rgba.shape[:2]
  x = np.arange(w) + 0.5
  y = np.arange(h) + 0.5
  for s in stripes:
    cols = (x >= s["x0"]) & (x < s["x1"])
    rows = (y >= s["y0"]) & (y < s["y1"])
    box = rows[:, None] & cols[None, :]
    out[box, :3] = s["color"]
    out[box, 3] = 1.0
  return out


def read_rgba(path: str) -> np.ndarray:
  image = iio.imread(path)
  return image.astype(np.float64) / np.iinfo(image.dtype).max


def write_rgba(path: str, rgba: np.ndarray) -> None:
  iio.imwrite(path, np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8),
              plugin="pillow", extension=".png", optimize=True)


def make(src: str, out: str, perturb: str, seed: int) -> dict:
  """Writes the scene; returns the perturbation record."""
  if perturb not in PERTURBATIONS:
    raise SystemExit(f"--perturb: {perturb!r} is not one of {PERTURBATIONS}")
  for split in ("train", "test"):
    if not os.path.isfile(os.path.join(src, f"transforms_{split}.json")):
      raise SystemExit(f"--src: {src}/transforms_{split}.json not found")
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(out, "train"), exist_ok=True)
  os.makedirs(os.path.join(out, "test"), exist_ok=True)
  with open(os.path.join(src, "transforms_train.json")) as f:
    meta = json.load(f)
  # Relative to the output: a machine path would not mean anything elsewhere.
  record = {"source": os.path.relpath(src, out), "perturb": perturb,
            "seed": seed, "images": {}}
  for i, frame in enumerate(meta["frames"]):
    name = os.path.basename(frame["file_path"])
    rgba = read_rgba(os.path.join(src, frame["file_path"]) + ".png")
    entry = {}
    # Drawn for every image (also the clean first one) so that the
    # variants share their colour and occluder draws.
    color = color_perturbation(rng)
    stripes = occluder_stripes(rng, rgba.shape[1])
    if i > 0 and perturb in ("both", "color"):
      rgba = apply_color(rgba, **color)
      entry.update(color)
    if i > 0 and perturb in ("both", "occluders"):
      rgba = apply_occluders(rgba, stripes)
      entry["stripes"] = stripes
    record["images"][name] = entry
    write_rgba(os.path.join(out, "train", name + ".png"), rgba)
  shutil.copy(os.path.join(src, "transforms_train.json"), out)
  with open(os.path.join(src, "transforms_test.json")) as f:
    test_meta = json.load(f)
  for frame in test_meta["frames"]:
    shutil.copy(os.path.join(src, frame["file_path"]) + ".png",
                os.path.join(out, frame["file_path"]) + ".png")
  shutil.copy(os.path.join(src, "transforms_test.json"), out)
  with open(os.path.join(out, "perturbations.json"), "w") as f:
    json.dump(record, f, separators=(",", ":"))
  return record


def main(argv=None) -> int:
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--src", default=os.path.join(repo, "data", "lego_100"))
  parser.add_argument("--out", default=os.path.join(repo, "data",
                                                    "lego_wild_100"))
  parser.add_argument("--perturb", default="both", choices=PERTURBATIONS)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  make(args.src, args.out, args.perturb, args.seed)
  print(f"wrote {args.out} ({args.perturb})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
