"""The photos or the video a user brings, checked before Structure-from-
Motion; frames from a video; downscaled copies; the run's log.

Nothing here writes into the user's input: photos are read (and copied by
the caller), a video is decoded into frames in the output folder.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import time
import zlib
from typing import Optional

import imageio.v3 as iio
import numpy as np
import PIL.Image

from jaxnerf import files
from jaxnerf.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MIN_IMAGES = 3  # SfM needs an initial pair and one more view to check it


# What decoding a corrupt or truncated photo raises (Pillow through
# imageio): OSError ("image file is truncated", unidentified image),
# SyntaxError (Pillow's "broken PNG file", "not a JPEG file"), ValueError;
# the rest from deeper in the decoders.
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error,
                zlib.error, PIL.Image.DecompressionBombError)
# What ffmpeg's failures raise through imageio-ffmpeg: RuntimeError
# (counting frames), OSError (no meta information), StopIteration (no
# header), ValueError (a frame of the wrong size).
VIDEO_ERRORS = (RuntimeError, OSError, StopIteration, ValueError)


def _last_line(error: BaseException) -> str:
  lines = str(error).strip().splitlines()
  return lines[-1][:200] if lines else type(error).__name__


class InputError(UserError):
  """Bad photos, video or flags given to process_data.py."""


class Log:
  """Progress lines on stdout, every line also in a log file (with the
  time), and a way to send a library's own output (COLMAP's log on the
  process's stderr) into that file only.

  `atomic`: the file is written under a temporary name beside `path`
  (files.temporary_beside) and becomes `path` on `close()`, replacing a
  previous log; else lines are appended to `path` as they come.
  """

  def __init__(self, path: Optional[str] = None, stream=None,
               atomic: bool = False):
    self.path = path
    self.stream = stream or sys.stdout
    self.tmp = files.temporary_beside(path) if path and atomic else None
    self.file = (open(self.tmp or path, "a", encoding="utf-8") if path
                 else None)
    self.start = time.time()

  def __call__(self, message: str) -> None:
    print(message, file=self.stream, flush=True)
    if self.file:
      self.file.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
      self.file.flush()

  def capture_stderr(self):
    """A context manager routing file descriptor 2 into the log file."""
    return _Redirect(self.file)

  def close(self) -> None:
    if self.file:
      self.file.close()
      self.file = None
      if self.tmp:
        os.replace(self.tmp, self.path)
        self.tmp = None


class _Redirect:

  def __init__(self, file):
    self.file = file
    self.saved = None

  def __enter__(self):
    if self.file is not None:
      sys.stderr.flush()
      self.file.flush()
      self.saved = os.dup(2)
      os.dup2(self.file.fileno(), 2)
    return self

  def __exit__(self, *exc):
    if self.saved is not None:
      sys.stderr.flush()
      os.dup2(self.saved, 2)
      os.close(self.saved)
    return False


class StageProgress:
  """`[stage] done/total unit, elapsed, ETA` lines for one stage."""

  def __init__(self, log: Log, stage: str, total: int, unit: str):
    self.log, self.stage, self.total, self.unit = log, stage, total, unit
    self.start = time.time()
    self.log(f"[{stage}] {total} {unit}")

  def update(self, done: int, note: str = "") -> None:
    elapsed = time.time() - self.start
    eta = elapsed / done * (self.total - done) if done else float("nan")
    self.log(f"[{self.stage}] {done}/{self.total} {self.unit}  "
             f"{elapsed:6.1f} s  ETA {eta:6.1f} s" + (f"  {note}" if note
                                                      else ""))

  def done(self, note: str = "") -> float:
    elapsed = time.time() - self.start
    self.log(f"[{self.stage}] done in {elapsed:.1f} s" +
             (f": {note}" if note else ""))
    return elapsed


def list_images(folder: str) -> list[str]:
  """The photos in `folder` (names, sorted), checked for SfM.

  Raises:
    InputError: not a folder; no photos; a file that is not a PNG/JPG or
      cannot be decoded; PNG and JPG mixed; photos of different sizes (one
      shared camera); fewer than MIN_IMAGES photos. Hidden files and
      sub-folders are ignored.
  """
  if not os.path.isdir(folder):
    raise InputError(f"--images: {folder} is not a directory")
  files = sorted(f for f in os.listdir(folder) if not f.startswith(".")
                 and os.path.isfile(os.path.join(folder, f)))
  others = [f for f in files if not f.lower().endswith(IMAGE_EXTENSIONS)]
  names = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
  if not names:
    raise InputError(f"--images: {folder} holds no images (PNG or JPG)"
                     + (f"; found {len(others)} other files, e.g. "
                        f"{others[0]}" if others else ""))
  if others:
    raise InputError(f"{os.path.join(folder, others[0])}: not a PNG or JPG "
                     f"image ({len(others)} such files); the folder must hold "
                     "only the photos")
  kinds = {}
  for name in names:
    ext = os.path.splitext(name)[1].lower()
    kinds.setdefault("jpg" if ext in (".jpg", ".jpeg") else "png",
                     []).append(name)
  if len(kinds) > 1:
    raise InputError(
        f"--images: {folder} mixes formats ({len(kinds['png'])} PNG, e.g. "
        f"{kinds['png'][0]}, and {len(kinds['jpg'])} JPG, e.g. "
        f"{kinds['jpg'][0]}); give the photos of one camera in one format")
  sizes = {}
  for name in names:
    path = os.path.join(folder, name)
    try:
      props = iio.improps(path)
      if props.shape is None or len(props.shape) < 2:
        raise ValueError("no image data")
      # Decode too: a valid header can front a truncated file.
      image = iio.imread(path)
    except IMAGE_ERRORS as e:
      raise InputError(f"{path}: cannot read image ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''})"
                       ) from None
    sizes.setdefault(image.shape[:2], name)
  if len(sizes) > 1:
    (size_a, name_a), (size_b, name_b) = list(sizes.items())[:2]
    raise InputError(
        f"{os.path.join(folder, name_b)}: image is {size_b[1]}x{size_b[0]} but"
        f" {name_a} is {size_a[1]}x{size_a[0]}; one shared camera needs one "
        "size")
  if len(names) < MIN_IMAGES:
    raise InputError(f"--images: {folder} has {len(names)} image"
                     f"{'s' if len(names) != 1 else ''}; Structure-from-Motion"
                     f" needs at least {MIN_IMAGES}")
  return names


def video_frame_count(video: str) -> int:
  """Frames of a video (decoding it once with ffmpeg)."""
  import imageio_ffmpeg
  if not os.path.isfile(video):
    raise InputError(f"--video: {video} not found")
  try:
    count, _ = imageio_ffmpeg.count_frames_and_secs(video)
  except VIDEO_ERRORS as e:
    raise InputError(f"{video}: cannot read video "
                     f"({_last_line(e)})") from None
  if count <= 0:
    raise InputError(f"{video}: cannot read video (no frames)")
  return int(count)


def evenly_spaced(count: int, num_frames: int) -> np.ndarray:
  """num_frames frame indices spread evenly over [0, count) (all if fewer),
  the first and last included."""
  if num_frames >= count:
    return np.arange(count)
  return np.unique(np.round(np.linspace(0, count - 1, num_frames)).astype(int))


def extract_frames(video: str, out_dir: str, num_frames: int,
                   log: Log) -> list[str]:
  """Writes `num_frames` evenly spaced frames of `video` as
  out_dir/frame_00001.png, ... Returns their names.

  Raises:
    InputError: the video cannot be decoded, or yields fewer than
      MIN_IMAGES frames.
  """
  import imageio_ffmpeg
  if num_frames < MIN_IMAGES:
    raise InputError(f"--num_frames: {num_frames}; Structure-from-Motion needs"
                     f" at least {MIN_IMAGES} frames")
  count = video_frame_count(video)
  wanted = evenly_spaced(count, num_frames)
  if len(wanted) < MIN_IMAGES:
    raise InputError(f"{video}: {count} frames; Structure-from-Motion needs at"
                     f" least {MIN_IMAGES}")
  os.makedirs(out_dir, exist_ok=True)
  progress = StageProgress(log, "frames", len(wanted), "frames")
  names = []
  try:
    reader = imageio_ffmpeg.read_frames(video)
    meta = next(reader)
    width, height = meta["size"]
    wanted_set = set(int(i) for i in wanted)
    for index, frame in enumerate(reader):
      if index in wanted_set:
        image = np.frombuffer(frame, np.uint8).reshape(height, width, 3)
        name = f"frame_{len(names) + 1:05d}.png"
        iio.imwrite(os.path.join(out_dir, name), image)
        names.append(name)
        if len(names) % 10 == 0 or len(names) == len(wanted):
          progress.update(len(names))
  except VIDEO_ERRORS as e:
    raise InputError(f"{video}: cannot read video "
                     f"({_last_line(e)})") from None
  if len(names) < MIN_IMAGES:
    raise InputError(f"{video}: decoded {len(names)} frames; "
                     f"Structure-from-Motion needs at least {MIN_IMAGES}")
  progress.done(f"{len(names)} of {count} frames")
  return names


def downscale(image: np.ndarray, factor: int) -> np.ndarray:
  """[H, W, C] uint8 image at 1/factor size: the mean of factor x factor
  blocks when the size divides, else an area-weighted resize to the rounded
  size (either way the image extent maps onto the new one, so intrinsics
  scale by the size ratio)."""
  h, w = image.shape[:2]
  if h % factor == 0 and w % factor == 0:
    blocks = image.reshape(h // factor, factor, w // factor, factor, -1)
    out = blocks.astype(np.float64).mean(axis=(1, 3))
  else:
    from skimage.transform import resize
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    out = resize(image.astype(np.float64), size + image.shape[2:],
                 order=1, anti_aliasing=True, preserve_range=True)
  return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(
      out.shape[:2] + image.shape[2:])


def write_downscaled(image_dir: str, names: list[str], factors, log: Log
                     ) -> None:
  """images_<factor>/ copies of every image next to `image_dir`, each
  filled under a temporary name and renamed when complete (a kill leaves
  no half-filled folder under the final name).

  Raises:
    FileExistsError: an images_<factor> folder exists already (the caller
      removes one it owns first).
  """
  parent = os.path.dirname(os.path.abspath(image_dir))
  base = os.path.basename(os.path.abspath(image_dir))
  finals = {f: os.path.join(parent, f"{base}_{f}") for f in factors}
  for final in finals.values():
    if os.path.lexists(final):
      raise FileExistsError(f"{final}: exists; not replaced")
  progress = StageProgress(log, "downscale", len(names), "images")
  with contextlib.ExitStack() as stack:
    tmps = {f: stack.enter_context(files.atomic_dir(final))
            for f, final in finals.items()}
    for i, name in enumerate(names):
      image = iio.imread(os.path.join(image_dir, name))
      for factor in factors:
        out = os.path.join(tmps[factor], name)
        small = downscale(image, factor)
        if name.lower().endswith((".jpg", ".jpeg")):
          iio.imwrite(out, small, quality=95)
        else:
          iio.imwrite(out, small)
      if (i + 1) % 20 == 0 or i + 1 == len(names):
        progress.update(i + 1)
  progress.done()
