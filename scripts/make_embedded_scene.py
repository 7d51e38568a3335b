"""Writes the small embedded Blender scene data/lego_100/ used by tests and demos.

From NeRF's lego (../shared/data/nerf_synthetic/lego/ by default) it writes,
in the Blender layout the loader reads:

  transforms_train.json   all train frames ('./train/r_0', ...)
  transforms_test.json    every --test_every-th test frame (r_0, r_8, ...)
  train/r_*.png, test/r_*.png          RGBA, --size x --size
  test/r_*_depth_0001.png              16-bit grey depth, same encoding

camera_angle_x is copied unchanged: the loader derives the focal length from
it and the image width, so it scales with the images.

Colour. An exact box filter over each k x k block (k = 800 / size) in
premultiplied alpha: alpha_out = mean(a), rgb_out = sum(rgb a) / sum(a)
(0 where the block is fully transparent). Then
rgb_out alpha_out + (1 - alpha_out) = mean(rgb a + 1 - a), i.e. compositing
the small image on white equals box-filtering the white-composited original
(on black too), up to 8-bit rounding. Filtering straight alpha instead would
bleed the colour of transparent pixels into the silhouette. Saved as 8-bit
RGBA PNG at maximum compression.

Depth. Blender's PNGs store v = 1 - d / 8 (d = distance along the ray from
the camera centre, Cycles' Depth pass; 0 = background; see
jaxnerf/data/loaders/blender.py). A box filter of v would mix background 0 into
silhouette pixels (a pixel 1/8 covered would read as d = 7) and average ray
lengths of different directions. So, per full-resolution pixel, d is
converted to depth along camera z (d / |direction|); each block averages z
over its valid pixels and is valid if at least half its pixels are (else 0,
background); the block's z goes back to a ray distance along the small
image's pixel-centre ray and is stored with the same encoding
v = 1 - d / 8. The loader decodes it exactly as the originals. The depth PNG
is single-channel 16-bit rather than 8-bit RGBA so that averaging is not
undone by re-quantising to 8 / 255 = 0.031 scene units (the loader scales
16-bit PNGs by 1 / 65535).

  python scripts/make_embedded_scene.py [--src DIR] [--out DIR] [--size N]
      [--test_every K]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import imageio.v3 as iio
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from jaxnerf.core import cameras
from jaxnerf.data.loaders.blender import (depth_png_to_distance,
                                          distance_to_png, distance_to_z_depth,
                                          downsample, downsample_depth,
                                          z_depth_to_distance)


def downsample_rgba(rgba: np.ndarray, factor: int) -> np.ndarray:
  """[H, W, 4] straight-alpha RGBA in [0, 1], box-filtered in premultiplied
  alpha and returned as straight alpha."""
  alpha = rgba[..., 3:]
  premult = downsample(np.concatenate([rgba[..., :3] * alpha, alpha], -1),
                       factor)
  mean_alpha = premult[..., 3:]
  rgb = np.where(mean_alpha > 0,
                 premult[..., :3] / np.maximum(mean_alpha, 1e-12), 0.0)
  return np.concatenate([rgb, mean_alpha], -1)


def to_uint(x: np.ndarray, bits: int) -> np.ndarray:
  top = 2**bits - 1
  dtype = np.uint8 if bits == 8 else np.uint16
  return np.clip(np.round(x * top), 0, top).astype(dtype)


def write_png(path: str, image: np.ndarray) -> None:
  iio.imwrite(path, image, plugin="pillow", extension=".png",
              compress_level=9, optimize=True)


def downsample_depth_png(depth_png: np.ndarray, factor: int,
                         camera_angle_x: float) -> np.ndarray:
  """8-bit Blender depth PNG [H, W(, C)] to a 16-bit one, `factor` smaller."""
  v = depth_png[..., 0] if depth_png.ndim == 3 else depth_png
  v = v.astype(np.float64) / np.iinfo(depth_png.dtype).max
  full_focal = cameras.focal_from_fov(v.shape[1], camera_angle_x)
  z = distance_to_z_depth(depth_png_to_distance(v), full_focal)
  small_z = downsample_depth(z, factor)
  small_focal = cameras.focal_from_fov(small_z.shape[1], camera_angle_x)
  small_v = distance_to_png(z_depth_to_distance(small_z, small_focal))
  out = to_uint(small_v, 16)
  # A surface must not round to the background value 0 (only if d >= 8).
  out[(small_z > 0) & (out == 0)] = 1
  return out


def convert_split(src: str, out: str, split: str, factor: int,
                  every: int) -> int:
  with open(os.path.join(src, f"transforms_{split}.json")) as f:
    meta = json.load(f)
  frames = meta["frames"][::every]
  camera_angle_x = float(meta["camera_angle_x"])
  os.makedirs(os.path.join(out, split), exist_ok=True)
  n_depth = 0
  for frame in frames:
    rel = frame["file_path"]
    src_stem = os.path.normpath(os.path.join(src, rel))
    out_stem = os.path.normpath(os.path.join(out, rel))
    rgba = iio.imread(src_stem + ".png")
    if rgba.ndim != 3 or rgba.shape[-1] != 4:
      raise SystemExit(f"{src_stem}.png: expected RGBA, got {rgba.shape}")
    if rgba.shape[0] % factor or rgba.shape[1] % factor:
      raise SystemExit(f"{src_stem}.png: {rgba.shape[1]}x{rgba.shape[0]} is "
                       f"not a multiple of {factor}")
    small = downsample_rgba(rgba.astype(np.float64) / 255.0, factor)
    write_png(out_stem + ".png", to_uint(small, 8))
    depth_path = src_stem + "_depth_0001.png"
    if os.path.isfile(depth_path):
      write_png(out_stem + "_depth_0001.png",
                downsample_depth_png(iio.imread(depth_path), factor,
                                     camera_angle_x))
      n_depth += 1
  out_meta = dict(meta)
  out_meta["frames"] = frames
  with open(os.path.join(out, f"transforms_{split}.json"), "w") as f:
    json.dump(out_meta, f, indent=2)
  print(f"{split}: {len(frames)} views ({n_depth} with depth) of "
        f"{small.shape[1]}x{small.shape[0]}")
  return len(frames)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--src", default=os.path.join(
      REPO_ROOT, "..", "shared", "data", "nerf_synthetic", "lego"))
  parser.add_argument("--out", default=os.path.join(REPO_ROOT, "data",
                                                    "lego_100"))
  parser.add_argument("--size", type=int, default=100,
                      help="output width and height in pixels")
  parser.add_argument("--test_every", type=int, default=8,
                      help="keep test views 0, K, 2K, ...")
  args = parser.parse_args(argv)
  probe = iio.imread(os.path.join(args.src, "train", "r_0.png"))
  if probe.shape[1] % args.size:
    raise SystemExit(f"--size {args.size} does not divide the source width "
                     f"{probe.shape[1]}")
  factor = probe.shape[1] // args.size
  for split in ("train", "test"):
    if os.path.isdir(os.path.join(args.out, split)):
      shutil.rmtree(os.path.join(args.out, split))
  os.makedirs(args.out, exist_ok=True)
  convert_split(args.src, args.out, "train", factor, 1)
  convert_split(args.src, args.out, "test", factor, args.test_every)


if __name__ == "__main__":
  main()
