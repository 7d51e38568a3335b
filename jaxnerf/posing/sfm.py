"""Structure-from-Motion with pycolmap (COLMAP 4, on the CPU): SIFT
extraction, exhaustive or sequential matching, incremental mapping, with
progress per stage; and the checks of a reconstruction.

The stages run in chunks (images for extraction, image pairs for matching)
so each can report counts and an ETA; mapping reports every registered
image through COLMAP's callback. COLMAP's own log goes to the run's log
file (`capture.Log.capture_stderr`).

Notes on pycolmap 4.x: `Image.cam_from_world()` is a method returning the
world-to-camera `Rigid3d`; its quaternions are (x, y, z, w).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import time

import numpy as np

from jaxnerf.posing.capture import Log, StageProgress
from jaxnerf.errors import ConfigError, UserError

CAMERA_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_RADIAL")
MATCHERS = ("exhaustive", "sequential")
# Camera models with distortion coefficients ("extra params" in COLMAP).
DISTORTED_MODELS = ("OPENCV", "SIMPLE_RADIAL")
# SIFT on images scaled below this finds too few features to pose them.
MIN_IMAGE_SIZE = 100
EXTRACT_CHUNK = 8  # images per extraction call (one progress line each)
MATCH_CHUNK = 64  # image pairs per matching call


class SfmError(UserError):
  """Structure-from-Motion failed on the user's photos."""


@dataclasses.dataclass
class SfmOptions:
  camera_model: str = "OPENCV"
  matching: str = "exhaustive"
  overlap: int = 10  # sequential: each frame with the next `overlap` ones
  max_features: int = 8192
  max_image_size: int = 3200  # SIFT on at most this many pixels a side
  seed: int = 0
  num_threads: int = -1  # -1: all cores


def _check_int(value, flag: str, minimum: int) -> None:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < minimum):
    raise ConfigError(f"{flag}: {value!r}; must be an integer >= {minimum}")


def check_options(options: SfmOptions) -> None:
  """ConfigError (one line naming the flag) for options SfM cannot run
  with; before any work."""
  if options.camera_model not in CAMERA_MODELS:
    raise ConfigError(f"--camera_model: {options.camera_model!r}; known: "
                      f"{', '.join(CAMERA_MODELS)}")
  if options.matching not in MATCHERS:
    raise ConfigError(f"--matching: {options.matching!r}; known: "
                      f"{', '.join(MATCHERS)}")
  _check_int(options.overlap, "--overlap", 1)
  _check_int(options.max_features, "--max_features", 1)
  _check_int(options.max_image_size, "--max_image_size", MIN_IMAGE_SIZE)
  if options.num_threads != -1:
    _check_int(options.num_threads, "--num_threads (or -1: all cores)", 1)


def exhaustive_pairs(names: list[str]) -> list[tuple[str, str]]:
  """Every pair of images."""
  return list(itertools.combinations(names, 2))


def sequential_pairs(names: list[str], overlap: int) -> list[tuple[str, str]]:
  """Frame i with frames i+1 .. i+overlap, and with i + 2^k beyond that
  (COLMAP's quadratic overlap: long-range pairs that close loops).

  Raises:
    ConfigError: overlap below 1 (no neighbours, and the loop-closing
      strides would never pass the end).
  """
  _check_int(overlap, "--overlap", 1)
  pairs = set()
  n = len(names)
  for i in range(n):
    for j in range(i + 1, min(n, i + overlap + 1)):
      pairs.add((i, j))
    k = 1
    while i + overlap * 2**k < n:
      pairs.add((i, i + overlap * 2**k))
      k += 1
  return [(names[i], names[j]) for i, j in sorted(pairs)]


def extract(database: str, image_dir: str, names: list[str],
            options: SfmOptions, log: Log) -> None:
  """SIFT features of every image into `database`, one shared camera."""
  import pycolmap
  reader = pycolmap.ImageReaderOptions()
  reader.camera_model = options.camera_model
  extraction = pycolmap.FeatureExtractionOptions()
  extraction.num_threads = options.num_threads
  extraction.use_gpu = False
  extraction.max_image_size = options.max_image_size
  extraction.sift.max_num_features = options.max_features
  progress = StageProgress(log, "extraction", len(names), "images")
  for start in range(0, len(names), EXTRACT_CHUNK):
    chunk = names[start:start + EXTRACT_CHUNK]
    with log.capture_stderr():
      pycolmap.extract_features(
          database, image_dir, image_names=chunk,
          camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
          extraction_options=extraction, device=pycolmap.Device.cpu)
    # Every later chunk joins the camera the first one created.
    reader.existing_camera_id = 1
    progress.update(start + len(chunk))
  with pycolmap.Database.open(database) as db:
    keypoints = [db.num_keypoints_for_image(im.image_id)
                 for im in db.read_all_images()]
  progress.done(f"{len(keypoints)} images, {int(np.mean(keypoints))} "
                "features per image on average")


def match(database: str, work_dir: str, pairs: list[tuple[str, str]],
          options: SfmOptions, log: Log) -> None:
  """Matches and geometrically verifies `pairs`, in chunks."""
  import pycolmap
  matching = pycolmap.FeatureMatchingOptions()
  matching.num_threads = options.num_threads
  matching.use_gpu = False
  pairing = pycolmap.ImportedPairingOptions()
  pairing.match_list_path = os.path.join(work_dir, "pairs.txt")
  progress = StageProgress(log, f"matching ({options.matching})", len(pairs),
                           "image pairs")
  for start in range(0, len(pairs), MATCH_CHUNK):
    chunk = pairs[start:start + MATCH_CHUNK]
    with open(pairing.match_list_path, "w") as f:
      f.write("".join(f"{a} {b}\n" for a, b in chunk))
    with log.capture_stderr():
      pycolmap.match_image_pairs(database, matching_options=matching,
                                 pairing_options=pairing,
                                 device=pycolmap.Device.cpu)
    progress.update(start + len(chunk))
  with pycolmap.Database.open(database) as db:
    verified = db.num_verified_image_pairs()
  progress.done(f"{verified} of {len(pairs)} pairs verified")


def map_images(database: str, image_dir: str, work_dir: str, num_images: int,
               options: SfmOptions, log: Log, refine_distortion: bool = True):
  """Incremental mapping; the largest model (a pycolmap Reconstruction).

  `refine_distortion=False` holds the distortion coefficients at zero while
  images are registered and refines them once, in a final global bundle
  adjustment, when every image has its pose.
  """
  import pycolmap
  pycolmap.set_random_seed(options.seed)
  pipeline = pycolmap.IncrementalPipelineOptions()
  pipeline.num_threads = options.num_threads
  pipeline.random_seed = options.seed
  pipeline.ba_refine_extra_params = refine_distortion
  out = os.path.join(work_dir, "mapper")
  shutil.rmtree(out, ignore_errors=True)
  os.makedirs(out, exist_ok=True)
  stage = "mapping" if refine_distortion else "mapping (distortion last)"
  progress = StageProgress(log, stage, num_images, "images")
  registered = [0]
  last = [0.0]

  def next_image():
    registered[0] += 1
    if time.time() - last[0] > 2.0 or registered[0] >= num_images:
      last[0] = time.time()
      progress.update(min(registered[0], num_images),
                      "registered (all attempts)")

  with log.capture_stderr():
    models = pycolmap.incremental_mapping(database, image_dir, out,
                                          options=pipeline,
                                          next_image_callback=next_image)
  if not models:
    progress.done("no model")
    return None
  best = max(models.values(), key=lambda r: r.num_reg_images())
  if not refine_distortion:
    bundle = pycolmap.BundleAdjustmentOptions()
    bundle.refine_extra_params = True
    with log.capture_stderr():
      pycolmap.bundle_adjustment(best, bundle)
  progress.done(f"{best.num_reg_images()} of {num_images} images in the "
                f"largest of {len(models)} model(s)")
  return best


def run(image_dir: str, names: list[str], work_dir: str,
        options: SfmOptions, log: Log):
  """Extraction, matching and mapping of `names` in `image_dir`.

  Returns:
    The largest reconstruction (pycolmap), or None if none was made.
  """
  check_options(options)
  os.makedirs(work_dir, exist_ok=True)
  database = os.path.join(work_dir, "database.db")
  if os.path.exists(database):
    os.remove(database)  # a previous run's features would be mixed in
  extract(database, image_dir, names, options, log)
  pairs = (exhaustive_pairs(names) if options.matching == "exhaustive" else
           sequential_pairs(names, options.overlap))
  match(database, work_dir, pairs, options, log)
  best = map_images(database, image_dir, work_dir, len(names), options, log)
  if (best is not None and best.num_reg_images() == len(names)) or (
      options.camera_model not in DISTORTED_MODELS):
    return best
  # With few or small photos, distortion refined from the first pairs can
  # drift far enough that later images fail to register (six 252x189 fern
  # photos lose one in about half the runs with OPENCV, none with PINHOLE).
  log("mapping left images out; mapping again with the distortion "
      "refined only at the end")
  retry = map_images(database, image_dir, work_dir, len(names), options, log,
                     refine_distortion=False)
  if best is None or (retry is not None and
                      retry.num_reg_images() > best.num_reg_images()):
    return retry
  return best


# Reading a pycolmap reconstruction into plain arrays.


def camtoworlds(reconstruction, names: list[str]) -> np.ndarray:
  """[N, 3, 4] OpenGL camera-to-world of the registered images `names`."""
  by_name = {im.name: im for im in reconstruction.images.values()}
  out = []
  for name in names:
    world_to_cam = by_name[name].cam_from_world().matrix()  # [3, 4]
    rotation, translation = world_to_cam[:, :3], world_to_cam[:, 3]
    c2w = np.concatenate([rotation.T, (-rotation.T @ translation)[:, None]],
                         axis=1)
    c2w[:, 1:3] *= -1.0  # OpenCV axes -> OpenGL
    out.append(c2w)
  return np.stack(out)


def intrinsics(camera) -> dict:
  """nerfstudio-style intrinsics of a pycolmap camera (OPENCV, PINHOLE or
  SIMPLE_RADIAL)."""
  model = camera.model.name
  p = np.asarray(camera.params, np.float64)
  out = dict(w=int(camera.width), h=int(camera.height))
  if model == "OPENCV":
    fx, fy, cx, cy, k1, k2, p1, p2 = p
  elif model == "PINHOLE":
    (fx, fy, cx, cy), (k1, k2, p1, p2) = p, (0.0, 0.0, 0.0, 0.0)
  elif model == "SIMPLE_RADIAL":
    (f, cx, cy, k1), (k2, p1, p2) = p, (0.0, 0.0, 0.0)
    fx = fy = f
  else:
    raise SfmError(f"camera model {model} is not supported here")
  out.update(fl_x=fx, fl_y=fy, cx=cx, cy=cy, k1=k1, k2=k2, p1=p1, p2=p2,
             camera_model="PINHOLE" if model == "PINHOLE" else "OPENCV")
  return out


def points(reconstruction) -> tuple[np.ndarray, np.ndarray]:
  """Sparse points [P, 3] and their colours [P, 3] uint8."""
  pts = list(reconstruction.points3D.values())
  xyz = np.array([p.xyz for p in pts], np.float64).reshape(-1, 3)
  rgb = np.array([p.color for p in pts], np.uint8).reshape(-1, 3)
  return xyz, rgb


# Checks against reference poses (bench scripts, tests).


def pose_errors(estimated: np.ndarray, reference: np.ndarray) -> dict:
  """Agreement of two sets of camera-to-world poses after a similarity
  alignment (the gauge SfM cannot fix).

  The alignment's rotation comes from the camera orientations (the chordal
  mean of R_ref_i R_est_i^T), its scale and translation then from the
  centres by least squares: a rotation fitted to the centres alone is ill
  determined when the cameras lie near a plane or a line (a forward-facing
  capture such as fern, where it was off by 2 degrees).

  Args:
    estimated, reference: [N, 3, 4] OpenGL camera-to-world, same cameras.
  Returns:
    dict: rms_center (RMS centre error after alignment, reference units),
    spread (RMS distance of the reference centres from their mean),
    rms_center_rel (their ratio), rotation_errors_deg [N], mean_rotation_deg,
    max_rotation_deg, scale, rotation, translation (of the alignment).
  """
  ce, cr = estimated[:, :3, 3], reference[:, :3, 3]
  u, _, vt = np.linalg.svd(np.einsum("nij,nkj->ik", reference[:, :3, :3],
                                     estimated[:, :3, :3]))
  rotation = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
  xe = (ce - ce.mean(0)) @ rotation.T
  xr = cr - cr.mean(0)
  scale = float(np.sum(xe * xr) / np.sum(xe * xe))
  translation = cr.mean(0) - scale * rotation @ ce.mean(0)
  aligned = ce @ rotation.T * scale + translation
  rms = float(np.sqrt(np.mean(np.sum((aligned - cr)**2, axis=1))))
  spread = float(np.sqrt(np.mean(np.sum(xr**2, axis=1))))
  errors = []
  for e, r in zip(estimated[:, :3, :3], reference[:, :3, :3]):
    delta = (rotation @ e).T @ r
    cos = np.clip((np.trace(delta) - 1.0) / 2.0, -1.0, 1.0)
    errors.append(np.degrees(np.arccos(cos)))
  errors = np.array(errors)
  return dict(rms_center=rms, spread=spread, rms_center_rel=rms / spread,
              rotation_errors_deg=errors,
              mean_rotation_deg=float(errors.mean()),
              max_rotation_deg=float(errors.max()), scale=scale,
              rotation=rotation, translation=translation)


def reprojection_error(reconstruction) -> float:
  """Mean reprojection error (pixels) over all observations."""
  return float(reconstruction.compute_mean_reprojection_error())


def registered_names(reconstruction) -> list[str]:
  return sorted(im.name for im in reconstruction.images.values())


def unregistered(names: list[str], reconstruction) -> list[str]:
  done = set(registered_names(reconstruction)) if reconstruction else set()
  return [n for n in names if n not in done]


def check_registered(names: list[str], reconstruction,
                     matching: str) -> None:
  """SfmError unless at least half of the images are registered."""
  done = 0 if reconstruction is None else reconstruction.num_reg_images()
  if 2 * done < len(names):
    missing = unregistered(names, reconstruction)
    hint = ("try --matching sequential for video-like sequences, or take "
            "photos with more overlap" if matching == "exhaustive" else
            "take photos with more overlap (or a larger --overlap)")
    raise SfmError(
        f"SfM registered {done} of {len(names)} images (fewer than half; not "
        f"registered: {', '.join(missing[:5])}"
        f"{', ...' if len(missing) > 5 else ''}); {hint}")
