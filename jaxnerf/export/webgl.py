"""A baked scene as a static web page that ray-marches it with WebGL 2, as
the viewers PlenOctrees and SNeRG published: index.html + viewer.js (the
page and its shader, jaxnerf/export/web/) + scene.js (the data, base64 in a
script so the page opens from disk with no server and no network).

Textures: the block index as an R32I 3-D texture; the atlas of kept blocks
tiled in a 3-D texture, density as R16F and the SH coefficients quantised to
8 bits per channel (a scale and offset per channel, SNeRG's trick) in
ceil(3 K / 4) RGBA8 textures; for a FastNeRF cache the position branch's K
components take their place and the direction table goes in ceil(K / 4)
RGBA32F 2-D textures, read at the four (theta, phi) grid points around a
ray's direction as bake.py's `direction_lookup` does. Each block carries
its one-vertex apron, so the GPU's trilinear filtering inside a block is
exactly the renderer's trilinear interpolation (jaxnerf/baked/render.py),
whose sample positions, step and colour threshold the shader repeats.
"""

from __future__ import annotations

import base64
import json
import os
import shutil

import numpy as np

from jaxnerf.baked import render
from jaxnerf import files
from jaxnerf.baked.bake import BakedScene
from jaxnerf.data.dataset import Dataset

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")


def atlas_layout(num_blocks: int) -> tuple[int, int, int]:
  """Blocks per axis (x, y, z) of the texture atlas: a near cube."""
  side = max(1, int(np.ceil(num_blocks**(1 / 3))))
  while side * side * max(1, int(np.ceil(num_blocks / side**2))) < num_blocks:
    side += 1
  return side, side, max(1, int(np.ceil(num_blocks / side**2)))


def tile_atlas(values: np.ndarray, layout: tuple[int, int, int]) -> np.ndarray:
  """Blocks [n, B + 1, B + 1, B + 1, C] (x, y, z) tiled into a texture
  array [Z, Y, X, C] (x fastest, as WebGL reads 3-D texture data); block n
  sits at (n % ax, (n // ax) % ay, n // (ax ay))."""
  n, s = values.shape[0], values.shape[1]
  ax, ay, az = layout
  padded = np.zeros((ax * ay * az,) + values.shape[1:], values.dtype)
  padded[:n] = values
  # [az, ay, ax, x, y, z, C] -> [az, z, ay, y, ax, x, C]
  grid = padded.reshape(az, ay, ax, s, s, s, -1)
  return grid.transpose(0, 5, 1, 4, 2, 3, 6).reshape(az * s, ay * s, ax * s,
                                                     -1)


def quantise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per-channel 8-bit quantisation of x [..., C]: (uint8, scale [C],
  offset [C]) with x ~= q / 255 * scale + offset."""
  flat = x.reshape(-1, x.shape[-1])
  lo, hi = flat.min(0), flat.max(0)
  scale = np.maximum(hi - lo, 1e-8)
  q = np.round((x - lo) / scale * 255).clip(0, 255).astype(np.uint8)
  return q, scale.astype(np.float32), lo.astype(np.float32)


def _b64(array: np.ndarray) -> str:
  return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def scene_data(scene: BakedScene, views: dict[str, Dataset]) -> dict:
  """Everything scene.js holds (see the module doc)."""
  b = scene.block_size
  k = scene.sh.shape[-1]
  layout = atlas_layout(scene.num_blocks)
  density = tile_atlas(scene.density[..., None], layout)[..., 0]
  sh = scene.sh.reshape(scene.sh.shape[:4] + (3 * k,))  # channel c K + k
  q, scale, offset = quantise(sh)
  channels = 4 * int(np.ceil(3 * k / 4))
  q = np.concatenate([q, np.zeros(q.shape[:4] + (channels - 3 * k,),
                                  np.uint8)], -1)
  scale = np.concatenate([scale, np.ones(channels - 3 * k, np.float32)])
  offset = np.concatenate([offset, np.zeros(channels - 3 * k, np.float32)])
  tiled = tile_atlas(q, layout)  # [Z, Y, X, channels]
  lo, hi = scene.occupied_bounds()
  train = views["train"]
  grid = render.BakedGrid.from_scene(scene)
  table = {}
  if scene.direction_table is not None:  # float32: it is small
    t = scene.direction_table
    t = np.concatenate([t, np.zeros(t.shape[:2] + (-k % 4,), t.dtype)], -1)
    table = dict(direction_rows=int(t.shape[0]), direction_table=[
        _b64(t[..., 4 * i:4 * i + 4].astype(np.float32))
        for i in range(t.shape[-1] // 4)])
  return dict(
      coefficients=k, **table,
      resolution=scene.resolution, block_size=b, bound=scene.bound,
      sh_degree=scene.sh_degree, step=grid.step,
      colour_eps=render.COLOUR_EPS, white_bkgd=scene.white_bkgd,
      lo=lo.tolist(), hi=hi.tolist(), layout=list(layout),
      atlas_size=[int(s) for s in density.shape[::-1]],  # x, y, z
      grid_size=scene.block_index.shape[0],
      index=_b64(scene.block_index.transpose(2, 1, 0).astype(np.int32)),
      density=_b64(density.astype(np.float16)),
      sh=[_b64(tiled[..., 4 * t:4 * t + 4]) for t in range(channels // 4)],
      sh_scale=scale.tolist(), sh_offset=offset.tolist(),
      width=train.width, height=train.height, focal=train.focal,
      near=train.near, far=train.far,
      views={f"{split}:{i}": np.asarray(d.camtoworlds[i],
                                        np.float64).tolist()
             for split, d in views.items() for i in range(len(d))},
      train_cameras=[np.asarray(c, np.float64).tolist()
                     for c in train.camtoworlds],
      method=scene.method, step_trained=scene.step)


FILES = ("index.html", "viewer.js", "scene.js")


def export(scene: BakedScene, views: dict[str, Dataset], out_dir: str) -> int:
  """Writes index.html, viewer.js and scene.js to out_dir (made if
  missing; other files in it are left alone), each atomically: a killed
  export leaves complete files, never a prefix. Returns their total size
  in bytes."""
  data = scene_data(scene, views)  # before anything is written
  os.makedirs(out_dir, exist_ok=True)
  with files.atomic_open(os.path.join(out_dir, "scene.js")) as f:
    f.write(f"// {files.SIGNATURE} (export.py webgl)\nwindow.BAKED = ")
    json.dump(data, f)
    f.write(";\n")
  for name in ("viewer.js", "index.html"):
    with files.atomic_path(os.path.join(out_dir, name)) as tmp:
      shutil.copyfile(os.path.join(WEB_DIR, "webgl_" + name), tmp)
  return sum(os.path.getsize(os.path.join(out_dir, n)) for n in FILES)
