"""Photos or a video in, a posed capture out: what process_data.py does.

  output/
    images/              the photos (copied), or the video's frames; photos
                         given as output/images itself are used in place
    images_2/ _4/ _8/    downscaled copies (config.factor reads them)
    colmap/database.db   COLMAP's features and matches
    colmap/sparse/0/     the model (binary; dataset_type="colmap" reads it)
    transforms.json      nerfstudio's format (dataset_type="nerfstudio")
    sparse_pc.ply        the sparse points (near/far on load)
    report.json          images registered / given, reprojection error, the
                         images not registered, time per stage
    process_data.log     every progress line and COLMAP's own log
    .jaxnerf             the marker: which of these entries this program
                         wrote (files.mark)

Poses stay in the SfM frame (the loaders normalise on load). Rays are
distortion-aware: the images are not undistorted; transforms.json carries
the OpenCV k1, k2, p1, p2 of the shared camera.

Nothing is lost: every flag and path is checked before anything is written;
an entry of the output folder is replaced only if the marker says this
program wrote it and it is as it was written (folders: no file added;
files: the same bytes), anything else in the way is a one-line error; the
input is never inside what is replaced. Every output is written under a
temporary name and renamed when complete, the COLMAP model and then
transforms.json last, after what they reference; a rerun first removes the
previous transforms.json, so a kill at any moment leaves nothing loadable
that is half-written or mixes two runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from typing import Optional

import numpy as np

from jaxnerf.posing import capture, sfm
from jaxnerf.data import colmap_model
from jaxnerf import files
from jaxnerf.posing.capture import InputError, Log

PROGRAM = "process_data.py"
DOWNSCALE_FACTORS = (2, 4, 8)
DEFAULT_NUM_FRAMES = 100
# nerfstudio.FILENAME; the loaders (and jax) load only when SfM has run,
# so bad flags are answered at once.
TRANSFORMS_FILE = "transforms.json"
IMAGES = "images"
COLMAP_DIR = "colmap"
LOG_FILE = "process_data.log"
REPORT_FILE = "report.json"
PLY_FILE = "sparse_pc.ply"


@dataclasses.dataclass
class Request:
  """What to process (process_data.py's flags)."""

  output: str
  images: Optional[str] = None
  video: Optional[str] = None
  num_frames: Optional[int] = None  # video only (None: DEFAULT_NUM_FRAMES)
  sfm: sfm.SfmOptions = dataclasses.field(default_factory=sfm.SfmOptions)
  downscale: tuple[int, ...] = DOWNSCALE_FACTORS


def _inside(path: str, folder: str) -> bool:
  """`path` is `folder` or inside it (links resolved)."""
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def output_names(request: Request, own_log: bool = True) -> list[str]:
  """The entries of the output folder a run writes, transforms.json first
  (the order a rerun removes them in: nothing loadable outlives what it
  references)."""
  return ([TRANSFORMS_FILE, COLMAP_DIR, IMAGES] +
          [f"{IMAGES}_{f}" for f in request.downscale] +
          [PLY_FILE, REPORT_FILE] + ([LOG_FILE] if own_log else []))


def in_place(request: Request) -> bool:
  """The photos are output/images already (nerfstudio's layout)."""
  return request.images is not None and os.path.realpath(
      request.images) == os.path.realpath(
          os.path.join(request.output, IMAGES))


def num_frames(request: Request) -> int:
  return (DEFAULT_NUM_FRAMES if request.num_frames is None else
          request.num_frames)


def check_request(request: Request) -> None:
  """One-line errors for flags and paths that cannot work, before any
  work (the output folder's contents: `Outputs.check`)."""
  if (request.images is None) == (request.video is None):
    raise InputError("give exactly one of --images DIR and --video FILE")
  if not request.output:
    raise InputError("--output: required")
  if request.images is not None and request.num_frames is not None:
    raise InputError("--num_frames: only for --video (every photo of "
                     "--images is used; give only the ones to pose)")
  if request.video is not None:
    n = num_frames(request)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or (
        n < capture.MIN_IMAGES):
      raise InputError(f"--num_frames: {n!r}; Structure-from-Motion needs "
                       f"at least {capture.MIN_IMAGES} frames")
  sfm.check_options(request.sfm)
  if not request.downscale or any(
      isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 2
      for f in request.downscale) or len(set(request.downscale)) != len(
          request.downscale):
    raise InputError(f"downscale factors {request.downscale!r}: distinct "
                     "integers >= 2")
  source = request.images if request.images is not None else request.video
  flag = "--images" if request.images is not None else "--video"
  if not os.path.exists(source):
    raise InputError(f"{flag}: {source} not found")
  if request.images is not None and not os.path.isdir(request.images):
    raise InputError(f"--images: {request.images} is not a directory")
  if request.video is not None and not os.path.isfile(request.video):
    raise InputError(f"--video: {request.video} is not a file")
  output = request.output
  if request.images is not None and _inside(output, request.images):
    raise InputError(f"--output: {output} is inside the input folder "
                     f"{request.images}; nothing may be written there")
  if os.path.lexists(output) and not os.path.isdir(output):
    raise InputError(f"--output: {output} is "
                     + ("the video file itself" if request.video and
                        _inside(output, request.video) else
                        "a broken link" if not os.path.exists(output) else
                        "a file, not a folder"))
  if os.path.isdir(output):
    if not os.access(output, os.W_OK | os.X_OK):
      raise InputError(f"--output: {output} is not writable")
  else:
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
      raise InputError(f"--output: {output}: its parent folder {parent} does "
                       "not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
      raise InputError(f"--output: {output} cannot be created ({parent} is "
                       "not writable)")
  if _inside(source, output):
    top = os.path.relpath(os.path.realpath(source),
                          os.path.realpath(output)).split(os.sep)[0]
    if top.startswith(files.TMP_PREFIX) or top == files.MARKER:
      raise InputError(f"{flag}: {source} is inside {output}/{top}, which "
                       f"{PROGRAM} writes; move the input")
  for name in output_names(request):
    entry = os.path.join(output, name)
    if _inside(source, entry) and not (name == IMAGES and
                                       in_place(request)):
      raise InputError(f"{flag}: {source} is inside {entry}, which "
                       f"{PROGRAM} writes; move the input or choose another "
                       "--output")


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _listing(folder: str) -> list[str]:
  """Every entry under `folder`, relative, folders with a trailing '/'
  (links are listed, not followed)."""
  out = []
  for root, dirs, names in os.walk(folder):
    rel = os.path.relpath(root, folder)
    prefix = "" if rel == "." else rel + "/"
    out += [prefix + d + "/" for d in dirs] + [prefix + n for n in names]
  return sorted(out)


class Outputs:
  """The entries of an output folder this program wrote, as its marker
  (files.MARKER) records them: {name: record}, a record {} for an entry
  claimed before it was made (a run killed since: the whole entry is
  ours), {"files": [...]} for a complete folder (every entry in it),
  {"sha256": ...} for a complete file.

  Claims are written before an entry is made, records once it is complete,
  so a kill at any moment leaves every entry this program made claimed.
  """

  def __init__(self, folder: str):
    self.folder = folder
    self.records: dict[str, dict] = {}
    path = os.path.join(folder, files.MARKER)
    try:
      fields = files.read_mark(folder) if os.path.isdir(folder) else None
    except ValueError as e:
      raise InputError(f"--output: {e}; {PROGRAM} does not write into a "
                       "folder with someone else's marker") from None
    except OSError as e:
      raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if fields is None:
      return
    if fields["written_by"] != PROGRAM:
      raise InputError(f"--output: {folder} was written by "
                       f"{fields['written_by']} ({path}); choose another "
                       "folder")
    records = fields.get("outputs", {})
    if not isinstance(records, dict) or not all(
        isinstance(r, dict) for r in records.values()):
      raise InputError(f"{path}: 'outputs' is not a table of entries; not "
                       f"{PROGRAM}'s marker")
    self.records = records

  def path(self, name: str) -> str:
    return os.path.join(self.folder, name)

  def in_the_way(self, name: str) -> Optional[str]:
    """Why entry `name` may not be replaced (one line naming it), None if
    it is absent or ours as we left it."""
    path = self.path(name)
    if not os.path.lexists(path):
      return None
    record = self.records.get(name)
    if record is None or os.path.islink(path):
      return (f"{path} is in the way ({PROGRAM} did not write it); move it "
              "or choose another --output")
    if "files" in record:
      if not os.path.isdir(path):
        return f"{path} is in the way (not the folder {PROGRAM} wrote)"
      known = set(record["files"])
      for rel in _listing(path):
        if rel not in known:
          return (f"{os.path.join(path, rel)} is in the way ({PROGRAM} did "
                  "not write it); move it or choose another --output")
    if "sha256" in record:
      if not os.path.isfile(path):
        return f"{path} is in the way (not the file {PROGRAM} wrote)"
      if _sha256(path) != record["sha256"]:
        return (f"{path} was changed since {PROGRAM} wrote it; move it or "
                "choose another --output")
    return None

  def check(self, names: list[str]) -> None:
    for name in names:
      reason = self.in_the_way(name)
      if reason:
        raise InputError(reason)

  def _write(self) -> None:
    files.mark(self.folder, PROGRAM, outputs=self.records)

  def claim(self, names: list[str]) -> None:
    """Records `names` as ours before they are made (or replaced)."""
    for name in names:
      self.records[name] = {}
    self._write()

  def remove(self, names: list[str]) -> None:
    """Removes the claimed entries `names` (checked by `check`)."""
    for name in names:
      assert name in self.records, name
      path = self.path(name)
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      elif os.path.lexists(path):
        os.remove(path)

  def record(self, names: list[str]) -> None:
    """Records what the claimed entries `names` hold now (entries absent
    stay claimed)."""
    for name in names:
      path = self.path(name)
      if os.path.isdir(path) and not os.path.islink(path):
        self.records[name] = {"files": _listing(path)}
      elif os.path.isfile(path) and not os.path.islink(path):
        self.records[name] = {"sha256": _sha256(path)}
    self._write()


def prepare(request: Request, own_log: bool = True) -> tuple[Outputs, list]:
  """Every check before any work: flags, paths, the photos or the video,
  and each entry of the output folder in the way. Returns the folder's
  Outputs and the photos' names (None for a video)."""
  check_request(request)
  if request.images is not None:
    names = capture.list_images(request.images)  # checks before writing
  else:
    names = None
    capture.video_frame_count(request.video)
  outputs = Outputs(request.output)
  outputs.check(own_entries(request, own_log))
  return outputs, names


def own_entries(request: Request, own_log: bool = True) -> list[str]:
  """The output entries a run replaces: all but the photos in place."""
  return [name for name in output_names(request, own_log)
          if not (name == IMAGES and in_place(request))]


def process(request: Request, log: Optional[Log] = None) -> dict:
  """Runs the whole path (see the module docstring). Returns the report.

  `log`: the caller's (then the caller owns the log file; it is not one of
  the outputs); None: output/process_data.log, written atomically.

  Raises:
    InputError: bad photos, video, flags or output folder (before anything
      is written). ConfigError: bad SfM options. sfm.SfmError: too few
      images registered (the report and log are written first).
  """
  own_log = log is None
  outputs, names = prepare(request, own_log)
  ours = own_entries(request, own_log)
  if not os.path.isdir(request.output):
    os.mkdir(request.output)
  outputs.claim(ours)
  outputs.remove(ours)  # transforms.json first
  for name in output_names(request, own_log):
    files.clear_stale(os.path.join(request.output, name))  # killed runs'
  if own_log:
    log = Log(os.path.join(request.output, LOG_FILE), atomic=True)
  try:
    return _run(request, names, log)
  finally:
    if own_log:
      log.close()
    outputs.record(ours)


def _run(request: Request, names: Optional[list[str]], log: Log) -> dict:
  start = time.time()
  times = {}
  image_dir = os.path.join(request.output, IMAGES)
  if in_place(request):
    log(f"{len(names)} images in {image_dir} (used in place)")
  elif request.images is not None:
    log(f"{len(names)} images from {request.images} -> {image_dir}")
    with files.atomic_dir(image_dir) as tmp:
      for name in names:
        shutil.copyfile(os.path.join(request.images, name),
                        os.path.join(tmp, name))
  else:
    t = time.time()
    with files.atomic_dir(image_dir) as tmp:
      names = capture.extract_frames(request.video, tmp, num_frames(request),
                                     log)
    times["frames"] = time.time() - t
  work_dir = os.path.join(request.output, COLMAP_DIR)
  t = time.time()
  reconstruction = sfm.run(image_dir, names, work_dir, request.sfm, log)
  times["sfm"] = time.time() - t
  report = {
      "input": os.path.abspath(request.images or request.video),
      "images_given": len(names),
      "images_registered": (0 if reconstruction is None else
                            reconstruction.num_reg_images()),
      "not_registered": sfm.unregistered(names, reconstruction),
      "mean_reprojection_error_px": (
          None if reconstruction is None else
          sfm.reprojection_error(reconstruction)),
      "camera_model": request.sfm.camera_model,
      "matching": request.sfm.matching,
  }
  try:
    sfm.check_registered(names, reconstruction, request.sfm.matching)
  except sfm.SfmError:
    report["seconds"] = {**times, "total": time.time() - start}
    _write_report(request.output, report)
    raise
  registered = sfm.registered_names(reconstruction)
  t = time.time()
  capture.write_downscaled(image_dir, names, request.downscale, log)
  times["downscale"] = time.time() - t
  xyz, rgb = sfm.points(reconstruction)
  ply = os.path.join(request.output, PLY_FILE)
  with files.atomic_path(ply) as tmp:
    colmap_model.write_ply(tmp, xyz, rgb)
  # The model and then transforms.json last: each appears only when what
  # it references is complete.
  sparse_dir = os.path.join(work_dir, "sparse", "0")
  os.makedirs(os.path.dirname(sparse_dir), exist_ok=True)
  with files.atomic_dir(sparse_dir) as tmp:
    reconstruction.write(tmp)
  camera = reconstruction.cameras[
      next(iter(reconstruction.images.values())).camera_id]
  intrinsics = sfm.intrinsics(camera)
  report["intrinsics"] = {k: v for k, v in intrinsics.items()}
  report["num_points"] = int(len(xyz))
  report["seconds"] = {**times, "total": time.time() - start}
  _write_report(request.output, report)
  from jaxnerf.data.loaders import nerfstudio
  transforms = os.path.join(request.output, TRANSFORMS_FILE)
  with files.atomic_path(transforms) as tmp:
    nerfstudio.write_transforms(
        tmp, [f"{IMAGES}/{n}" for n in registered],
        sfm.camtoworlds(reconstruction, registered), intrinsics,
        ply_file_path=PLY_FILE)
  log(f"registered {report['images_registered']}/{len(names)} images, mean "
      f"reprojection error {report['mean_reprojection_error_px']:.3f} px, "
      f"{len(xyz)} points"
      + (f"; not registered: {', '.join(report['not_registered'])}"
         if report["not_registered"] else ""))
  log(f"wrote {transforms} ({time.time() - start:.1f} s in all); train with "
      f"--config.dataset_type=nerfstudio --config.data_dir={request.output}")
  return report


def _write_report(output: str, report: dict) -> None:
  def plain(x):
    if isinstance(x, (np.floating, np.integer)):
      return x.item()
    raise TypeError(type(x))
  files.write_json(os.path.join(output, REPORT_FILE), report, indent=2,
                   default=plain)
