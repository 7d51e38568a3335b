"""What each generated view carries beside its RGBA image: one compressed
npz, `<split>/r_<i>_gt.npz`, named by the frame's `ground_truth` field.

Every map is sampled at pixel centres (one ray a pixel, no filter: the
RGBA is Blender's usual filtered render), in world units and linear
colour:
  depth     [H, W] float32  camera z of the first surface (distance along
                            -z of the camera; 0 where no surface), as the
                            loaders' `depths`
  normal    [H, W, 3] f16   the surface's unit normal in world coordinates
                            (shading normal; 0 where no surface)
  albedo    [H, W, 3] f16   the Principled BSDF's base colour (linear RGB;
                            a metal's specular colour)
  roughness [H, W] f16      its roughness
  metallic  [H, W] f16      its metallic
  index     [H, W] uint8    the object's label (`index` of its shape in
                            scene.json; 0 where no surface)
  flow      [H, W, 4] f16   on a path's frames where objects move (in a
                            still scene `paths.flow` of the depth and the
                            two cameras is the flow): the pixel motion (x
                            right, y down) of each surface point to the
                            next frame (channels 0-1; from depth, poses
                            and the objects' motion) and to the previous
                            (2-3; Blender's vector pass); occlusion is
                            ignored, and the path's ends hold still
"""

from __future__ import annotations

import numpy as np

DTYPES = {"depth": np.float32, "normal": np.float16, "albedo": np.float16,
          "roughness": np.float16, "metallic": np.float16,
          "index": np.uint8, "flow": np.float16}
CHANNELS = {"depth": 0, "normal": 3, "albedo": 3, "roughness": 0,
            "metallic": 0, "index": 0, "flow": 4}
REQUIRED = ("depth", "normal", "albedo", "roughness", "metallic", "index")


def write(path: str, maps: dict) -> None:
  """Writes `maps` (names of DTYPES) as `path`, cast to their types."""
  unknown = set(maps) - set(DTYPES)
  if unknown:
    raise ValueError(f"unknown ground-truth maps {sorted(unknown)}")
  with open(path, "wb") as f:
    np.savez_compressed(f, **{k: np.asarray(v).astype(DTYPES[k])
                              for k, v in maps.items()})


def read(path: str, height: int = None, width: int = None) -> dict:
  """{name: array} of the ground-truth file `path`, checked: every
  required map present with its shape (and [height, width] if given).

  Raises:
    ValueError: a missing map or a wrong shape, naming the file.
    OSError: the file cannot be read.
  """
  with np.load(path) as data:
    maps = {k: data[k] for k in data.files}
  for name in REQUIRED:
    if name not in maps:
      raise ValueError(f"{path}: no '{name}' map")
  h, w = maps["depth"].shape[:2]
  for name, value in maps.items():
    want = (height or h, width or w) + ((CHANNELS[name],)
                                        if CHANNELS.get(name) else ())
    if value.shape != want:
      raise ValueError(f"{path}: '{name}' is {value.shape}, expected {want}")
  return maps
