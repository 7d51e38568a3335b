"""Photos or a video in, a posed capture out: what process_data.py does.

  output/
    images/              the photos (copied) or the video's frames
    images_2/ _4/ _8/    downscaled copies (config.factor reads them)
    colmap/database.db   COLMAP's features and matches
    colmap/sparse/0/     the model (binary; dataset_type="colmap" reads it)
    transforms.json      nerfstudio's format (dataset_type="nerfstudio")
    sparse_pc.ply        the sparse points (near/far on load)
    report.json          images registered / given, reprojection error, the
                         images not registered, time per stage
    process_data.log     every progress line and COLMAP's own log

Poses stay in the SfM frame (the loaders normalise on load). Rays are
distortion-aware: the images are not undistorted; transforms.json carries
the OpenCV k1, k2, p1, p2 of the shared camera.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from typing import Optional

import numpy as np

from jaxnerf import capture, colmap_model, sfm
from jaxnerf.capture import InputError, Log
from jaxnerf.datasets import nerfstudio

DOWNSCALE_FACTORS = (2, 4, 8)
LOG_FILE = "process_data.log"
REPORT_FILE = "report.json"
PLY_FILE = "sparse_pc.ply"


@dataclasses.dataclass
class Request:
  """What to process (process_data.py's flags)."""

  output: str
  images: Optional[str] = None
  video: Optional[str] = None
  num_frames: int = 100
  sfm: sfm.SfmOptions = dataclasses.field(default_factory=sfm.SfmOptions)
  downscale: tuple[int, ...] = DOWNSCALE_FACTORS


def _inside(path: str, folder: str) -> bool:
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_request(request: Request) -> None:
  """One-line errors for flags that cannot work, before any work."""
  if (request.images is None) == (request.video is None):
    raise InputError("give exactly one of --images DIR and --video FILE")
  if not request.output:
    raise InputError("--output: required")
  if request.images is not None and _inside(request.output, request.images):
    raise InputError(f"--output: {request.output} is inside the input folder "
                     f"{request.images}; nothing may be written there")
  if request.video is not None:
    if os.path.realpath(request.output) == os.path.realpath(request.video):
      raise InputError("--output: is the video file itself")
    if not os.path.isfile(request.video):
      raise InputError(f"--video: {request.video} not found")
  if os.path.isfile(request.output):
    raise InputError(f"--output: {request.output} is a file, not a folder")


def process(request: Request, log: Optional[Log] = None) -> dict:
  """Runs the whole path (see the module docstring). Returns the report.

  Raises:
    InputError: bad photos, video or flags. sfm.SfmError: too few images
      registered (the report and log are written first).
  """
  check_request(request)
  if request.images is not None:
    names = capture.list_images(request.images)  # checks before writing
  else:
    capture.video_frame_count(request.video)
  os.makedirs(request.output, exist_ok=True)
  log = log or Log(os.path.join(request.output, LOG_FILE))
  start = time.time()
  times = {}
  image_dir = os.path.join(request.output, "images")
  if os.path.isdir(image_dir):
    shutil.rmtree(image_dir)  # a previous run's images
  os.makedirs(image_dir)
  if request.images is not None:
    log(f"{len(names)} images from {request.images} -> {image_dir}")
    for name in names:
      shutil.copyfile(os.path.join(request.images, name),
                      os.path.join(image_dir, name))
  else:
    t = time.time()
    names = capture.extract_frames(request.video, image_dir,
                                   request.num_frames, log)
    times["frames"] = time.time() - t
  work_dir = os.path.join(request.output, "colmap")
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
  sparse_dir = os.path.join(work_dir, "sparse", "0")
  os.makedirs(sparse_dir, exist_ok=True)
  reconstruction.write(sparse_dir)
  xyz, rgb = sfm.points(reconstruction)
  colmap_model.write_ply(os.path.join(request.output, PLY_FILE), xyz, rgb)
  camera = reconstruction.cameras[
      next(iter(reconstruction.images.values())).camera_id]
  intrinsics = sfm.intrinsics(camera)
  nerfstudio.write_transforms(
      os.path.join(request.output, nerfstudio.FILENAME),
      [f"images/{n}" for n in registered],
      sfm.camtoworlds(reconstruction, registered), intrinsics,
      ply_file_path=PLY_FILE)
  t = time.time()
  capture.write_downscaled(image_dir, names, request.downscale, log)
  times["downscale"] = time.time() - t
  report["intrinsics"] = {k: v for k, v in intrinsics.items()}
  report["num_points"] = int(len(xyz))
  report["seconds"] = {**times, "total": time.time() - start}
  _write_report(request.output, report)
  log(f"registered {report['images_registered']}/{len(names)} images, mean "
      f"reprojection error {report['mean_reprojection_error_px']:.3f} px, "
      f"{len(xyz)} points"
      + (f"; not registered: {', '.join(report['not_registered'])}"
         if report["not_registered"] else ""))
  log(f"wrote {os.path.join(request.output, nerfstudio.FILENAME)} "
      f"({time.time() - start:.1f} s in all); train with "
      f"--config.dataset_type=nerfstudio --config.data_dir={request.output}")
  return report


def _write_report(output: str, report: dict) -> None:
  def plain(x):
    if isinstance(x, (np.floating, np.integer)):
      return x.item()
    raise TypeError(type(x))
  with open(os.path.join(output, REPORT_FILE), "w") as f:
    json.dump(report, f, indent=2, default=plain)
