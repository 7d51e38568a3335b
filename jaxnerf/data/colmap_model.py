"""COLMAP sparse models: read and write cameras, images and points3D, in the
binary (`.bin`) and text (`.txt`) formats of COLMAP's `Reconstruction`.

Pure numpy (no pycolmap needed to load data), so the loaders, process_data
and bench scripts share one reader. The formats are those of COLMAP's
`src/colmap/scene/reconstruction_io.cc` (unchanged in COLMAP 4, which adds
rigs.bin and frames.bin next to these files; they are not needed here):

  cameras.bin   uint64 count, then per camera: int32 id, int32 model id,
                uint64 width, uint64 height, float64 params[model's count]
  images.bin    uint64 count, then per image: int32 id, float64 qvec[4]
                (w, x, y, z), float64 tvec[3], int32 camera id, name (bytes
                ending in NUL), uint64 num points2D, then per point float64
                x, y and int64 point3D id (-1: none)
  points3D.bin  uint64 count, then per point: uint64 id, float64 xyz[3],
                uint8 rgb[3], float64 error, uint64 track length, then per
                track element int32 image id, int32 point2D index

Poses are COLMAP's: `qvec`, `tvec` map world to camera (x right, y down,
z forward: OpenCV); pixel centres are at half-integers, as in this library.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Optional

import numpy as np

from jaxnerf.errors import DatasetError

# COLMAP's camera models: id -> (name, number of parameters).
CAMERA_MODELS = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4),
    3: ("RADIAL", 5), 4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8),
    6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}
MODEL_IDS = {name: i for i, (name, _) in CAMERA_MODELS.items()}


@dataclasses.dataclass
class Camera:
  id: int
  model: str
  width: int
  height: int
  params: np.ndarray  # [P] float64, COLMAP's order for `model`


@dataclasses.dataclass
class Image:
  """A registered image. qvec (w, x, y, z) and tvec map world to camera."""

  id: int
  qvec: np.ndarray  # [4]
  tvec: np.ndarray  # [3]
  camera_id: int
  name: str
  xys: np.ndarray  # [K, 2] keypoints (pixels)
  point3d_ids: np.ndarray  # [K] int64, -1 where not triangulated

  @property
  def rotation(self) -> np.ndarray:
    """[3, 3] world-to-camera rotation."""
    return qvec_to_rotation(self.qvec)

  @property
  def center(self) -> np.ndarray:
    """[3] camera centre in world coordinates: -R^T t."""
    return -self.rotation.T @ self.tvec


@dataclasses.dataclass
class Model:
  """A sparse model. `points`: [P, 3] xyz, `colors` [P, 3] uint8, `errors`
  [P] reprojection errors (pixels), `point_ids` [P], `tracks` per point
  ([L, 2] int32 image id, point2D index)."""

  cameras: dict[int, Camera]
  images: dict[int, Image]
  point_ids: np.ndarray
  points: np.ndarray
  colors: np.ndarray
  errors: np.ndarray
  tracks: list[np.ndarray]

  def image_by_name(self) -> dict[str, Image]:
    return {im.name: im for im in self.images.values()}


def qvec_to_rotation(qvec: np.ndarray) -> np.ndarray:
  """Unit quaternion (w, x, y, z) to a [3, 3] rotation matrix."""
  w, x, y, z = np.asarray(qvec, np.float64) / np.linalg.norm(qvec)
  return np.array([
      [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def rotation_to_qvec(rotation: np.ndarray) -> np.ndarray:
  """[3, 3] rotation to the unit quaternion (w, x, y, z) with w >= 0."""
  r = np.asarray(rotation, np.float64)
  # The eigenvector of the largest eigenvalue of the symmetric K (Bar-Itzhack)
  # is stable for every rotation, as COLMAP's RotationMatrixToQuaternion.
  k = np.array([
      [r[0, 0] - r[1, 1] - r[2, 2], r[1, 0] + r[0, 1], r[2, 0] + r[0, 2],
       r[2, 1] - r[1, 2]],
      [r[1, 0] + r[0, 1], r[1, 1] - r[0, 0] - r[2, 2], r[2, 1] + r[1, 2],
       r[0, 2] - r[2, 0]],
      [r[2, 0] + r[0, 2], r[2, 1] + r[1, 2], r[2, 2] - r[0, 0] - r[1, 1],
       r[1, 0] - r[0, 1]],
      [r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1],
       r[0, 0] + r[1, 1] + r[2, 2]]]) / 3.0
  vals, vecs = np.linalg.eigh(k)
  x, y, z, w = vecs[:, np.argmax(vals)]
  q = np.array([w, x, y, z])
  return q if w >= 0 else -q


def camera_intrinsics(camera: Camera, path: str = "") -> dict:
  """fx, fy, cx, cy and OpenCV distortion (k1, k2, p1, p2) of a camera.

  Models with more terms (fisheye, thin prism, FOV) are rejected: rays here
  are distortion-aware for OpenCV's radial-tangential model only.

  Raises:
    DatasetError: an unsupported model (named, with the camera id).
  """
  p = np.asarray(camera.params, np.float64)
  zero = 0.0
  if camera.model == "SIMPLE_PINHOLE":
    f, cx, cy = p
    fx, fy, k = f, f, (zero, zero, zero, zero)
  elif camera.model == "PINHOLE":
    fx, fy, cx, cy = p
    k = (zero, zero, zero, zero)
  elif camera.model == "SIMPLE_RADIAL":
    f, cx, cy, k1 = p
    fx, fy, k = f, f, (k1, zero, zero, zero)
  elif camera.model == "RADIAL":
    f, cx, cy, k1, k2 = p
    fx, fy, k = f, f, (k1, k2, zero, zero)
  elif camera.model == "OPENCV":
    fx, fy, cx, cy, k1, k2, p1, p2 = p
    k = (k1, k2, p1, p2)
  elif camera.model == "FULL_OPENCV" and not np.any(p[8:]):
    fx, fy, cx, cy, k1, k2, p1, p2 = p[:8]
    k = (k1, k2, p1, p2)
  else:
    raise DatasetError(
        f"{path}: camera {camera.id} uses the {camera.model} model, which is "
        "not supported (distortion-aware rays handle SIMPLE_PINHOLE, PINHOLE,"
        " SIMPLE_RADIAL, RADIAL and OPENCV); undistort the images first "
        "(colmap image_undistorter) or re-run SfM with --camera_model OPENCV")
  return dict(fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy),
              distortion=np.asarray(k, np.float64))


def camtoworld_opengl(image: Image) -> np.ndarray:
  """[3, 4] camera-to-world of an image in the OpenGL convention (x right,
  y up, z back), from COLMAP's world-to-camera (OpenCV axes)."""
  r = image.rotation
  c2w = np.concatenate([r.T, image.center[:, None]], axis=1)
  c2w[:, 1:3] *= -1.0  # OpenCV (y down, z forward) -> OpenGL
  return c2w


# Reading.


class _Reader:
  """Little-endian reads from a bytes buffer with error context."""

  def __init__(self, path: str):
    self.path = path
    try:
      with open(path, "rb") as f:
        self.data = f.read()
    except OSError as e:
      raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    self.pos = 0

  def read(self, fmt: str):
    size = struct.calcsize("<" + fmt)
    if self.pos + size > len(self.data):
      raise DatasetError(f"{self.path}: truncated file (needs {size} more "
                         f"bytes at offset {self.pos}, has "
                         f"{len(self.data) - self.pos})")
    out = struct.unpack_from("<" + fmt, self.data, self.pos)
    self.pos += size
    return out

  def array(self, dtype, count: int) -> np.ndarray:
    dtype = np.dtype(dtype).newbyteorder("<")
    size = dtype.itemsize * count
    if self.pos + size > len(self.data):
      raise DatasetError(f"{self.path}: truncated file (needs {size} more "
                         f"bytes at offset {self.pos}, has "
                         f"{len(self.data) - self.pos})")
    out = np.frombuffer(self.data, dtype, count, self.pos)
    self.pos += size
    return out

  def string(self) -> str:
    end = self.data.find(b"\0", self.pos)
    if end < 0:
      raise DatasetError(f"{self.path}: truncated file (unterminated image "
                         "name)")
    try:
      out = self.data[self.pos:end].decode("utf-8")
    except UnicodeDecodeError:
      raise DatasetError(f"{self.path}: the image name at offset {self.pos} "
                         "is not UTF-8") from None
    self.pos = end + 1
    return out

  def check_end(self) -> None:
    if self.pos != len(self.data):
      raise DatasetError(f"{self.path}: {len(self.data) - self.pos} trailing "
                         "bytes; not a COLMAP model file")


def read_cameras_binary(path: str) -> dict[int, Camera]:
  r = _Reader(path)
  cameras = {}
  for _ in range(r.read("Q")[0]):
    cam_id, model_id, width, height = r.read("iiQQ")
    if model_id not in CAMERA_MODELS:
      raise DatasetError(f"{path}: camera {cam_id} has unknown model id "
                         f"{model_id}")
    name, count = CAMERA_MODELS[model_id]
    cameras[cam_id] = Camera(cam_id, name, int(width), int(height),
                             r.array(np.float64, count).copy())
  r.check_end()
  return cameras


def read_images_binary(path: str) -> dict[int, Image]:
  r = _Reader(path)
  images = {}
  for _ in range(r.read("Q")[0]):
    image_id = r.read("i")[0]
    pose = r.array(np.float64, 7)
    camera_id = r.read("i")[0]
    name = r.string()
    count = r.read("Q")[0]
    rows = r.array(np.dtype([("x", "<f8"), ("y", "<f8"), ("id", "<i8")]),
                   count)
    images[image_id] = Image(
        image_id, pose[:4].copy(), pose[4:].copy(), camera_id, name,
        np.stack([rows["x"], rows["y"]], -1).astype(np.float64),
        rows["id"].astype(np.int64))
  r.check_end()
  return images


def read_points3d_binary(path: str):
  r = _Reader(path)
  ids, xyz, rgb, err, tracks = [], [], [], [], []
  for _ in range(r.read("Q")[0]):
    ids.append(r.read("Q")[0])
    xyz.append(r.array(np.float64, 3))
    rgb.append(r.array(np.uint8, 3))
    err.append(r.read("d")[0])
    length = r.read("Q")[0]
    tracks.append(r.array(np.int32, 2 * length).reshape(length, 2).copy())
  r.check_end()
  return _points(path, ids, xyz, rgb, err, tracks)


def _points(path, ids, xyz, rgb, err, tracks):
  try:
    ids = np.asarray(ids, np.int64)
  except OverflowError:
    raise DatasetError(f"{path}: a point id is out of range (above 2^63 - 1)"
                       ) from None
  return (ids, np.asarray(xyz, np.float64).reshape(-1, 3),
          np.asarray(rgb, np.uint8).reshape(-1, 3),
          np.asarray(err, np.float64), tracks)


def _text_lines(path: str):
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if line and not line.startswith("#"):
        yield number, line


def _fields(path, number, line, types, minimum):
  parts = line.split()
  if len(parts) < minimum:
    raise DatasetError(f"{path}:{number}: expected at least {minimum} fields,"
                       f" got {len(parts)}")
  try:
    return [t(p) for t, p in zip(types, parts)], parts
  except ValueError as e:
    raise DatasetError(f"{path}:{number}: {e}") from None


def read_cameras_text(path: str) -> dict[int, Camera]:
  cameras = {}
  for number, line in _text_lines(path):
    (cam_id, model, width, height), parts = _fields(
        path, number, line, (int, str, int, int), 4)
    if model not in MODEL_IDS:
      raise DatasetError(f"{path}:{number}: unknown camera model {model!r}")
    count = CAMERA_MODELS[MODEL_IDS[model]][1]
    if len(parts) != 4 + count:
      raise DatasetError(f"{path}:{number}: {model} needs {count} parameters,"
                         f" got {len(parts) - 4}")
    try:
      params = np.array(parts[4:], np.float64)
    except ValueError as e:
      raise DatasetError(f"{path}:{number}: {e}") from None
    cameras[cam_id] = Camera(cam_id, model, width, height, params)
  return cameras


def read_images_text(path: str) -> dict[int, Image]:
  images = {}
  lines = list(_text_lines_keep_empty(path))
  while len(lines) % 2 and lines[-1][1] == "":
    lines.pop()  # blank lines after the last image
  for (number, line), (_, points_line) in zip(lines[0::2], lines[1::2]):
    (image_id, *pose), parts = _fields(path, number, line, (int,) + (float,) * 7
                                       + (int,), 10)
    camera_id = int(parts[8])
    name = " ".join(parts[9:])
    values = points_line.split()
    if len(values) % 3:
      raise DatasetError(f"{path}:{number + 1}: expected X Y POINT3D_ID "
                         "triples")
    try:
      table = np.array(values, np.float64).reshape(-1, 3)
    except ValueError as e:
      raise DatasetError(f"{path}:{number + 1}: {e}") from None
    if not np.all(np.isfinite(table[:, 2])):
      raise DatasetError(f"{path}:{number + 1}: a POINT3D_ID is not finite")
    images[image_id] = Image(image_id, np.array(pose[:4]), np.array(pose[4:7]),
                             camera_id, name, table[:, :2],
                             table[:, 2].astype(np.int64))
  if len(lines) % 2:
    raise DatasetError(f"{path}: the last image lacks its line of points")
  return images


def _text_lines_keep_empty(path: str):
  """Non-comment lines, empty ones too: an image's points line is empty
  when it has no keypoints."""
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if not line.startswith("#"):
        yield number, line.strip()


def read_points3d_text(path: str):
  ids, xyz, rgb, err, tracks = [], [], [], [], []
  for number, line in _text_lines(path):
    parts = line.split()
    if len(parts) < 8 or (len(parts) - 8) % 2:
      raise DatasetError(f"{path}:{number}: expected ID X Y Z R G B ERROR "
                         "and (IMAGE_ID, POINT2D_IDX) pairs")
    try:
      ids.append(int(parts[0]))
      xyz.append([float(v) for v in parts[1:4]])
      rgb.append([int(v) for v in parts[4:7]])
      err.append(float(parts[7]))
      tracks.append(np.array(parts[8:], np.int32).reshape(-1, 2))
    except (ValueError, OverflowError) as e:
      raise DatasetError(f"{path}:{number}: {e}") from None
    if not all(0 <= c <= 255 for c in rgb[-1]):
      raise DatasetError(f"{path}:{number}: R G B must be in 0..255, got "
                         f"{' '.join(parts[4:7])}")
  return _points(path, ids, xyz, rgb, err, tracks)


def find_model(folder: str) -> Optional[str]:
  """The folder among `folder`, `folder/0` that holds cameras.(bin|txt)."""
  for candidate in (folder, os.path.join(folder, "0")):
    for ext in (".bin", ".txt"):
      if os.path.isfile(os.path.join(candidate, "cameras" + ext)):
        return candidate
  return None


def read_model(folder: str) -> Model:
  """Reads cameras, images and points3D (binary preferred, else text).

  Raises:
    DatasetError: missing or malformed files (named), or images that refer
      to a camera the model lacks.
  """
  ext = None
  for candidate in (".bin", ".txt"):
    if all(os.path.isfile(os.path.join(folder, f + candidate))
           for f in ("cameras", "images", "points3D")):
      ext = candidate
      break
  if ext is None:
    raise DatasetError(
        f"{folder}: no COLMAP model (expected cameras, images and points3D "
        "as .bin or .txt)")
  path = lambda name: os.path.join(folder, name + ext)
  binary = ext == ".bin"

  def read(name, read_binary, read_text):
    # Binary files are read whole (_Reader names truncation); text files
    # can fail while they are read line by line.
    try:
      return (read_binary if binary else read_text)(path(name))
    except UnicodeDecodeError as e:
      raise DatasetError(f"{path(name)}: not UTF-8 text ({e.reason} at "
                         f"byte {e.start})") from None
    except OSError as e:
      raise DatasetError(f"{path(name)}: cannot read ({e.strerror or e})"
                         ) from None

  cameras = read("cameras", read_cameras_binary, read_cameras_text)
  images = read("images", read_images_binary, read_images_text)
  ids, xyz, rgb, err, tracks = read("points3D", read_points3d_binary,
                                    read_points3d_text)
  check_model(cameras, images, xyz, path)
  return Model(cameras, images, ids, xyz, rgb, err, tracks)


def check_model(cameras: dict[int, Camera], images: dict[int, Image],
                points: np.ndarray, path) -> None:
  """Raises DatasetError, naming the file (`path(name)`) and the record, for
  values no reconstruction has: cameras without pixels or with non-finite
  parameters, images with a non-finite pose or a zero quaternion or whose
  camera is missing, non-finite points."""
  for camera in cameras.values():
    if camera.width <= 0 or camera.height <= 0:
      raise DatasetError(f"{path('cameras')}: camera {camera.id} is "
                         f"{camera.width}x{camera.height}; it must have "
                         "pixels")
    if not np.all(np.isfinite(camera.params)):
      raise DatasetError(f"{path('cameras')}: camera {camera.id} has NaN or "
                         "infinite parameters")
  for image in images.values():
    if not (np.all(np.isfinite(image.qvec)) and
            np.all(np.isfinite(image.tvec))):
      raise DatasetError(f"{path('images')}: image {image.name!r} has a NaN "
                         "or infinite pose")
    if not np.linalg.norm(image.qvec) > 0:
      raise DatasetError(f"{path('images')}: image {image.name!r} has a zero "
                         "quaternion (no rotation)")
    if image.camera_id not in cameras:
      raise DatasetError(f"{path('images')}: image {image.name!r} refers to "
                         f"camera {image.camera_id}, which "
                         f"{path('cameras')} lacks")
  if not np.all(np.isfinite(points)):
    raise DatasetError(f"{path('points3D')}: has NaN or infinite point "
                       "coordinates")


# Writing (tests, conversions).


def write_model(model: Model, folder: str, binary: bool = True) -> None:
  """Writes cameras, images and points3D in COLMAP's binary or text format."""
  os.makedirs(folder, exist_ok=True)
  if binary:
    _write_binary(model, folder)
  else:
    _write_text(model, folder)


def _write_binary(model: Model, folder: str) -> None:
  with open(os.path.join(folder, "cameras.bin"), "wb") as f:
    f.write(struct.pack("<Q", len(model.cameras)))
    for cam in model.cameras.values():
      f.write(struct.pack("<iiQQ", cam.id, MODEL_IDS[cam.model], cam.width,
                          cam.height))
      f.write(np.asarray(cam.params, "<f8").tobytes())
  with open(os.path.join(folder, "images.bin"), "wb") as f:
    f.write(struct.pack("<Q", len(model.images)))
    for im in model.images.values():
      f.write(struct.pack("<i", im.id))
      f.write(np.concatenate([im.qvec, im.tvec]).astype("<f8").tobytes())
      f.write(struct.pack("<i", im.camera_id))
      f.write(im.name.encode("utf-8") + b"\0")
      f.write(struct.pack("<Q", len(im.xys)))
      rows = np.zeros(len(im.xys), [("x", "<f8"), ("y", "<f8"), ("id", "<i8")])
      if len(im.xys):
        rows["x"], rows["y"] = im.xys[:, 0], im.xys[:, 1]
        rows["id"] = im.point3d_ids
      f.write(rows.tobytes())
  with open(os.path.join(folder, "points3D.bin"), "wb") as f:
    f.write(struct.pack("<Q", len(model.points)))
    for i in range(len(model.points)):
      f.write(struct.pack("<Q", int(model.point_ids[i])))
      f.write(model.points[i].astype("<f8").tobytes())
      f.write(model.colors[i].astype(np.uint8).tobytes())
      f.write(struct.pack("<dQ", float(model.errors[i]),
                          len(model.tracks[i])))
      f.write(np.asarray(model.tracks[i], "<i4").tobytes())


def _write_text(model: Model, folder: str) -> None:
  fmt = lambda values: " ".join(repr(float(v)) for v in values)
  with open(os.path.join(folder, "cameras.txt"), "w") as f:
    f.write("# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n")
    for cam in model.cameras.values():
      f.write(f"{cam.id} {cam.model} {cam.width} {cam.height} "
              f"{fmt(cam.params)}\n")
  with open(os.path.join(folder, "images.txt"), "w") as f:
    f.write("# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
            "# POINTS2D[] as (X, Y, POINT3D_ID)\n")
    for im in model.images.values():
      f.write(f"{im.id} {fmt(im.qvec)} {fmt(im.tvec)} {im.camera_id} "
              f"{im.name}\n")
      f.write(" ".join(f"{x!r} {y!r} {int(i)}" for (x, y), i in
                       zip(im.xys.tolist(), im.point3d_ids)) + "\n")
  with open(os.path.join(folder, "points3D.txt"), "w") as f:
    f.write("# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as "
            "(IMAGE_ID, POINT2D_IDX)\n")
    for i in range(len(model.points)):
      track = " ".join(str(int(v)) for v in np.asarray(model.tracks[i]).ravel())
      f.write(f"{int(model.point_ids[i])} {fmt(model.points[i])} "
              f"{' '.join(str(int(c)) for c in model.colors[i])} "
              f"{float(model.errors[i])!r} {track}\n")


def write_ply(path: str, points: np.ndarray, colors: np.ndarray) -> None:
  """Binary little-endian PLY of points [P, 3] with colours [P, 3] uint8."""
  points = np.asarray(points, np.float64).reshape(-1, 3)
  colors = np.asarray(colors, np.uint8).reshape(-1, 3)
  rows = np.zeros(len(points), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                ("red", "u1"), ("green", "u1"), ("blue", "u1")])
  for i, axis in enumerate("xyz"):
    rows[axis] = points[:, i]
  for i, channel in enumerate(("red", "green", "blue")):
    rows[channel] = colors[:, i]
  header = ("ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(points)}\n"
            "property float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\n"
            "end_header\n")
  with open(path, "wb") as f:
    f.write(header.encode("ascii"))
    f.write(rows.tobytes())


def read_ply_points(path: str) -> np.ndarray:
  """The xyz of a PLY's vertices ([P, 3] float64); see `read_ply`."""
  return read_ply(path)[0]


def read_ply(path: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
  """A PLY's vertices: (xyz [P, 3] float64, rgb [P, 3] float64 in [0, 1] or
  None when the vertices have no red, green and blue). Binary little-endian
  or ASCII, float/double/uchar/int properties (as `write_ply` and
  nerfstudio write them); integer colours are divided by their type's
  maximum (uchar: 255), float colours are taken as 0-1."""
  sizes = {"float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
           "uchar": "u1", "uint8": "u1", "char": "i1", "int8": "i1",
           "short": "i2", "ushort": "u2", "int": "i4", "uint": "u4",
           "int32": "i4", "uint32": "u4"}
  try:
    with open(path, "rb") as f:
      if f.readline().strip() != b"ply":
        raise DatasetError(f"{path}: not a PLY file")
      fmt, count, props, in_vertex = None, 0, [], False
      while True:
        line = f.readline()
        if not line:
          raise DatasetError(f"{path}: PLY header has no end_header")
        words = line.decode("ascii").split()
        if not words:
          continue
        if words[0] in ("format", "element", "property") and (
            len(words) < (2 if words[0] == "format" else 3)):
          raise DatasetError(f"{path}: malformed PLY (incomplete header "
                             f"line {' '.join(words)!r})")
        if words[0] == "format":
          fmt = words[1]
        elif words[0] == "element":
          in_vertex = words[1] == "vertex"
          if in_vertex:
            count = int(words[2])
        elif words[0] == "property" and in_vertex:
          if words[1] == "list" or words[1] not in sizes:
            raise DatasetError(f"{path}: unsupported vertex property "
                               f"{' '.join(words[1:])}")
          props.append((words[2], sizes[words[1]]))
        elif words[0] == "end_header":
          break
      if fmt == "ascii":
        table = np.loadtxt(f, max_rows=count, ndmin=2)
        cols = {name: table[:, i] for i, (name, _) in enumerate(props)}
      elif fmt == "binary_little_endian":
        rows = np.frombuffer(f.read(), np.dtype([(n, "<" + t) for n, t in
                                                props]), count)
        cols = {name: rows[name] for name, _ in props}
      else:
        raise DatasetError(f"{path}: unsupported PLY format {fmt!r}")
  except DatasetError:
    raise  # already names the file (and is a ValueError)
  except OSError as e:
    raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
  # ValueError: a count or table that does not parse, or fewer vertex bytes
  # than the header promises; IndexError: an ASCII row with fewer columns
  # than properties.
  except (ValueError, UnicodeDecodeError, IndexError) as e:
    lines = str(e).strip().splitlines() or [type(e).__name__]
    raise DatasetError(f"{path}: malformed PLY ({lines[0]})") from None
  if not all(a in cols for a in "xyz"):
    raise DatasetError(f"{path}: PLY vertices lack x, y or z")
  points = np.stack([cols[a] for a in "xyz"], -1).astype(np.float64)
  if not np.all(np.isfinite(points)):
    raise DatasetError(f"{path}: has NaN or infinite vertex coordinates")
  channels = ("red", "green", "blue")
  if not all(ch in cols for ch in channels):
    return points, None
  types = dict(props)
  rgb = np.stack([np.asarray(cols[ch], np.float64) / (
      np.iinfo(types[ch]).max if types[ch][0] in "iu" else 1.0)
                  for ch in channels], -1)
  if not np.all((rgb >= 0) & (rgb <= 1)):
    raise DatasetError(f"{path}: vertex colours outside 0-1 (float) or "
                       "negative (integer)")
  return points, rgb
