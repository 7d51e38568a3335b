"""Image input, and image, depth-map and video output, on the host (numpy,
imageio).

Float images are in [0, 1], channels last. Depth maps are coloured with
Google's Turbo colormap (Anton Mikhailov, 2019), built as a 256-entry LUT from
its published polynomial approximation (Ruofei Du, Google LLC, Apache-2.0;
https://gist.github.com/mikhailov-work/0d177465a8151eb6ede1768d51d476c7), so
matplotlib is not needed.
"""

from __future__ import annotations

import os
import struct
import warnings

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import PIL.Image

from jaxnerf.errors import DatasetError

# Turbo polynomial coefficients for 1, x, x^2, x^3 and x^4, x^5; rows r, g, b.
_TURBO_V4 = np.array([
    [0.13572138, 4.61539260, -42.66032258, 132.13108234],
    [0.09140261, 2.19418839, 4.84296658, -14.18503333],
    [0.10667330, 12.64194608, -60.58204836, 110.36276771],
])
_TURBO_V2 = np.array([
    [-152.94239396, 59.28637943],
    [4.27729857, 2.82956604],
    [-89.90310912, 27.34824973],
])


def turbo(x: np.ndarray) -> np.ndarray:
  """Turbo colormap (polynomial approximation).

  Args:
    x: [...] values, clipped to [0, 1].
  Returns:
    [..., 3] float64 RGB in [0, 1].
  """
  x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)[..., None]
  v4 = np.concatenate([np.ones_like(x), x, x**2, x**3], axis=-1)
  v2 = np.concatenate([x**4, x**5], axis=-1)
  return np.clip(v4 @ _TURBO_V4.T + v2 @ _TURBO_V2.T, 0.0, 1.0)


# [256, 3] float32: the LUT `colorize_depth` indexes.
TURBO_LUT = turbo(np.linspace(0.0, 1.0, 256)).astype(np.float32)


# What imageio (through Pillow) raises for a file it cannot decode, found by
# feeding it empty, random, truncated and bit-flipped PNGs and JPEGs: OSError
# (no plugin recognises the bytes, truncated or broken data streams),
# SyntaxError (Pillow: "not identified by this driver", a 0x0 PNG, corrupt
# headers), struct.error (Pillow unpacking a header cut short), ValueError
# and EOFError (other plugins, short reads), and Pillow's
# DecompressionBombError (a header claiming gigapixels).
IMAGE_ERRORS = (OSError, SyntaxError, struct.error, ValueError, EOFError,
                PIL.Image.DecompressionBombError)


def _unreadable(path: str, error: BaseException) -> DatasetError:
  """The one-line error for an image file imageio cannot decode."""
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    return DatasetError(f"{path}: cannot read image (empty file, 0 bytes)")
  lines = [l.strip() for l in str(error).splitlines() if l.strip()]
  reason = lines[0] if lines else type(error).__name__
  if "Could not find a backend" in reason:
    # imageio's words for bytes that no plugin recognises; they repeat the
    # path and go on for lines about plugins to install.
    reason = "not an image format imageio can decode, or corrupt"
  return DatasetError(f"{path}: cannot read image ({reason})")


def image_size(path: str) -> tuple[int, int]:
  """(height, width) of an image file, from its header (no decoding).

  Raises:
    DatasetError: the file is missing, cannot be read, or has no pixels.
  """
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: image file not found")
  try:
    shape = iio.improps(path).shape
  except IMAGE_ERRORS as e:
    raise _unreadable(path, e) from None
  if len(shape) < 2 or shape[0] == 0 or shape[1] == 0:
    raise DatasetError(f"{path}: image has no pixels (shape {shape})")
  return int(shape[0]), int(shape[1])


def read_image(path: str) -> np.ndarray:
  """Reads an 8- or 16-bit image (PNG, JPG) as float32 in [0, 1].

  Raises:
    DatasetError: the file is missing, cannot be decoded, or has no pixels
      (named).
  """
  if not os.path.isfile(path):
    raise DatasetError(f"{path}: image file not found")
  try:
    image = iio.imread(path)
  except IMAGE_ERRORS as e:
    raise _unreadable(path, e) from None
  if image.ndim < 2 or image.shape[0] == 0 or image.shape[1] == 0:
    raise DatasetError(f"{path}: image has no pixels (shape {image.shape})")
  scale = 65535.0 if image.dtype == np.uint16 else 255.0
  return np.asarray(image).astype(np.float32) / scale


def to_uint8(img: np.ndarray) -> np.ndarray:
  """Float image in [0, 1] (clipped; NaN -> 0) to uint8; uint8 passes through."""
  img = np.asarray(img)
  if img.dtype == np.uint8:
    return img
  img = np.nan_to_num(img.astype(np.float64), nan=0.0)
  return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_image(path: str | os.PathLike, img: np.ndarray) -> str:
  """Writes an image (format from the extension, PNG intended).

  Args:
    path: output file; parent directories are created.
    img: [H, W, 3] (or [H, W, 4]) RGB or [H, W] grey; float in [0, 1] or uint8.
  Returns:
    The path written, as a string.
  """
  img = to_uint8(img)
  if img.ndim == 3 and img.shape[-1] == 1:
    img = img[..., 0]
  if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] not in (3, 4)):
    raise ValueError(f"Expected [H, W], [H, W, 3] or [H, W, 4], got {img.shape}.")
  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  imageio.imwrite(path, img)
  return path


def depth_to_unit(depth: np.ndarray,
                  acc: np.ndarray | None = None,
                  near: float | None = None,
                  far: float | None = None,
                  acc_threshold: float = 0.5,
                  percentiles: tuple[float, float] = (1.0, 99.0)):
  """Normalises depth to [0, 1] the way `colorize_depth` does.

  Returns:
    (t, foreground): [H, W] float64 in [0, 1] and the [H, W] bool mask of
    pixels drawn in colour (acc >= threshold and finite depth).
  """
  depth = np.asarray(depth, np.float64)
  finite = np.isfinite(depth)
  if acc is None:
    foreground = finite
  else:
    acc = np.asarray(acc, np.float64).reshape(depth.shape)
    foreground = finite & (acc >= acc_threshold)
  if near is None or far is None:
    # Robust range from the foreground pixels (all finite ones if none).
    valid = depth[foreground] if foreground.any() else depth[finite]
    if valid.size == 0:
      valid = np.zeros(1)
    lo, hi = np.percentile(valid, percentiles)
    near = lo if near is None else near
    far = hi if far is None else far
  span = far - near
  if not span > 0:
    t = np.zeros_like(depth)
  else:
    t = (np.where(finite, depth, near) - near) / span
  return np.clip(t, 0.0, 1.0), foreground


def colorize_depth(depth: np.ndarray,
                   acc: np.ndarray | None = None,
                   near: float | None = None,
                   far: float | None = None,
                   acc_threshold: float = 0.5) -> np.ndarray:
  """Colours a depth map with Turbo (near = dark blue, far = dark red).

  Args:
    depth: [H, W] (or [H, W, 1]) depths.
    acc: optional [H, W] (or [H, W, 1]) accumulated opacity; pixels with
      acc < acc_threshold are background, drawn white, and are left out of the
      percentile range.
    near, far: the depth range mapped to the ends of the colormap; each one
      not given is the 1st / 99th percentile of the foreground pixels (all
      pixels if acc is None). Depths outside are clipped.
    acc_threshold: see acc.
  Returns:
    [H, W, 3] float32 in [0, 1].
  """
  depth = np.asarray(depth)
  if depth.ndim == 3 and depth.shape[-1] == 1:
    depth = depth[..., 0]
  t, foreground = depth_to_unit(depth, acc, near, far, acc_threshold)
  idx = np.round(t * (len(TURBO_LUT) - 1)).astype(np.int32)
  rgb = TURBO_LUT[idx]
  return np.where(foreground[..., None], rgb, np.float32(1.0))


def _prepare_frames(frames) -> list[np.ndarray]:
  """Frames to a list of uint8 [H, W, 3] with even H, W (edge padded)."""
  out = []
  for frame in frames:
    frame = to_uint8(frame)
    if frame.ndim == 3 and frame.shape[-1] == 1:
      frame = frame[..., 0]
    if frame.ndim == 2:
      frame = np.repeat(frame[..., None], 3, axis=-1)
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
      raise ValueError(f"Expected [H, W(, 3)] frames, got {frame.shape}.")
    out.append(frame[..., :3])
  if not out:
    raise ValueError("No frames to write.")
  shapes = {f.shape for f in out}
  if len(shapes) != 1:
    raise ValueError(f"Frames differ in shape: {sorted(shapes)}.")
  return out


def _pad_even(frame: np.ndarray) -> np.ndarray:
  """Edge-pads H and W up to even sizes (yuv420p needs them)."""
  h, w = frame.shape[:2]
  return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _write_mp4(path: str, frames: list[np.ndarray], fps: float) -> None:
  """H.264 mp4 through imageio's ffmpeg plugin; raises if ffmpeg is missing."""
  import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
  imageio_ffmpeg.get_ffmpeg_exe()  # RuntimeError if no ffmpeg binary.
  writer = imageio.get_writer(
      path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
      pixelformat="yuv420p", quality=8, macro_block_size=1,
      ffmpeg_log_level="error")
  try:
    for frame in frames:
      writer.append_data(_pad_even(frame))
  finally:
    writer.close()


def write_video(path: str | os.PathLike, frames, fps: float = 30) -> str:
  """Writes frames as an H.264 mp4, or as a GIF if ffmpeg is unavailable.

  Args:
    path: output path; its extension is replaced by .mp4 (or .gif on fallback).
    frames: iterable of [H, W, 3] or [H, W] frames, float in [0, 1] or uint8
      (or a [T, H, W(, 3)] array). Odd sizes are edge-padded to even for mp4.
    fps: frames per second.
  Returns:
    The path actually written.
  """
  frames = _prepare_frames(frames)
  stem = os.path.splitext(os.fspath(path))[0]
  os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
  mp4_path, gif_path = stem + ".mp4", stem + ".gif"
  try:
    with warnings.catch_warnings():
      # ffmpeg runs as a subprocess; JAX warns about any fork, but the child
      # execs ffmpeg at once and touches no JAX state.
      warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
      _write_mp4(mp4_path, frames, fps)
    return mp4_path
  # What _write_mp4 raises when ffmpeg is unusable: ImportError (no
  # imageio-ffmpeg), RuntimeError (no ffmpeg binary, or it failed), OSError
  # (the pipe to ffmpeg broke, e.g. an unknown codec), ValueError (imageio's
  # writer refused the frames or options).
  except (ImportError, RuntimeError, OSError, ValueError) as e:
    if os.path.exists(mp4_path):
      os.remove(mp4_path)
    print(f"WARNING: could not write {mp4_path} with ffmpeg "
          f"({type(e).__name__}: {e}); writing an animated GIF to "
          f"{gif_path} instead.")
  # Pillow's GIF writer: duration per frame in milliseconds, loop forever.
  imageio.mimsave(gif_path, frames, duration=1000.0 / fps, loop=0)
  return gif_path


def depth_image(out: dict[str, np.ndarray], ndc: bool, near: float,
                far: float) -> np.ndarray:
  """Colour-mapped expected depth (depth / acc) over [near, far]; disparity
  in NDC scenes, where depth runs to infinity."""
  if ndc and "disp" in out:
    return colorize_depth(out["disp"], out["acc"])
  return colorize_depth(out["depth"] / np.maximum(out["acc"], 1e-6),
                        out["acc"], near=near, far=far)


def output_images(kinds: dict[str, str], out: dict[str, np.ndarray],
                  ndc: bool, near: float, far: float) -> dict[str, np.ndarray]:
  """A picture of each rendered map by its kind (methods.base.OUTPUT_KINDS):
  rgb, opacity and scalar maps clipped to [0, 1], depth colour-mapped
  (`depth_image`), heatmaps colour-mapped over their own range; disparity
  maps have no picture of their own (depth_image uses them in NDC)."""
  pictures = {}
  for name, kind in kinds.items():
    if kind in ("rgb", "opacity", "scalar"):
      pictures[name] = np.clip(out[name], 0, 1)
    elif kind == "depth":
      pictures[name] = depth_image(out, ndc, near, far)
    elif kind == "heatmap":
      pictures[name] = colorize_depth(out[name])
  return pictures
