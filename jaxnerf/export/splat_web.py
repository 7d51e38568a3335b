"""Gaussian splats as a static web page that rasterises them with WebGL 2:
index.html + splat_viewer.js (jaxnerf/export/web/splat_*) + scene.js (the
Gaussians, base64 in a script so the page opens from disk, no server).

The page draws one screen-aligned quad per Gaussian over its 3-sigma box,
computed in the vertex shader with jaxnerf/render/splatting.py's EWA
projection (the same Jacobian clamp, low-pass filter (the run's: inria's
0.3 px^2 or Mip-Splatting's 2D filter with its opacity scale) and radius), the
colour from the SH evaluated there per Gaussian; the fragment shader applies
the same cutoffs (alpha 0 below 1/255, at most 0.99, 0 outside the 3-sigma
ellipse). The CPU sorts the Gaussians by depth (a counting sort of 16-bit
keys) when the camera moves and the GPU blends them front to back (the "under"
operator on premultiplied colour), which is splatting.composite's sum
without its early stop at transmittance 1e-4; into a float32 framebuffer
where the GPU blends floats (else half floats, else the 8-bit canvas,
which clamps each splat's colour times alpha to 1), then onto the
background. tests/test_splat_web.py: the page equals the JAX render
rounded to 8 bits.

Data: two 2-D texture arrays, one texel per Gaussian per layer (x fastest
in rows of TEXTURE_WIDTH): RGBA32F layers (mean, opacity), (cov xx, xy, xz,
yy), (cov yz, zz, 0, 0), the world covariance computed here as
splatting.covariances does; RGBA16F layers of the SH coefficients, k-major
(coefficient k, channel c at 3 k + c), bands no Gaussian uses left out.
Gaussians that can never reach alpha 1/255 (opacity below it: 3DGS-MCMC's
unused slots) are not written.
"""

from __future__ import annotations

import base64
import inspect
import json
import math
import os
import shutil

import numpy as np

from jaxnerf import files
from jaxnerf.render import splatting

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
FILES = ("index.html", "splat_viewer.js", "scene.js")
# Texels per texture row: WebGL 2 guarantees 2048, so ceil(G / 1024) rows
# hold two million Gaussians on any GPU.
TEXTURE_WIDTH = 1024
PARAMS = ("means", "log_scales", "quats", "opacity_logits", "sh_dc",
          "sh_rest")
_HALF_MAX = float(np.finfo(np.float16).max)
# splatting.project drops Gaussians this close (its `near` default).
NEAR = inspect.signature(splatting.project).parameters["near"].default


def renders_splats(config) -> bool:
  """Whether config's method is on the splat backbone (its checkpoint holds
  Gaussians, not a field to bake)."""
  from jaxnerf import methods
  return methods.of(config).backbone == "splats"


def _b64(array: np.ndarray) -> str:
  return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def _layers(values: np.ndarray) -> np.ndarray:
  """[G, L, 4] -> texture-array data [L, rows, TEXTURE_WIDTH, 4], zero
  padded."""
  g, layers = values.shape[:2]
  rows = max(1, -(-g // TEXTURE_WIDTH))
  out = np.zeros((rows * TEXTURE_WIDTH, layers, 4), values.dtype)
  out[:g] = values
  return out.reshape(rows, TEXTURE_WIDTH, layers, 4).transpose(2, 0, 1, 3)


def used_degree(sh: np.ndarray) -> int:
  """The highest SH band with a nonzero coefficient in sh [G, K, 3]."""
  k = sh.shape[1]
  degree = math.isqrt(k) - 1
  while degree > 0 and not np.any(sh[:, degree * degree:]):
    degree -= 1
  return degree


def gaussians(params) -> dict:
  """The Gaussians a page draws, float32 numpy: means [N, 3], covs [N, 3,
  3], opacity [N], sh [N, K, 3], of the splat backbone's params (those whose
  opacity reaches 1/255 and whose values are finite).

  Raises:
    KeyError: params lack one of PARAMS.
  """
  p = {k: np.asarray(params[k], np.float32) for k in PARAMS}
  opacity = 1.0 / (1.0 + np.exp(-p["opacity_logits"].astype(np.float64)))
  opacity = opacity.astype(np.float32)
  sh = np.concatenate([p["sh_dc"], p["sh_rest"]], axis=1)
  covs = np.asarray(splatting.covariances(p["log_scales"], p["quats"]),
                    np.float32)
  keep = ((opacity >= splatting.MIN_ALPHA) &
          np.all(np.isfinite(p["means"]), -1) &
          np.all(np.isfinite(covs), (-1, -2)) &
          np.all(np.isfinite(sh), (-1, -2)))
  sh = sh[keep]
  sh = sh[:, :(used_degree(sh) + 1)**2] if len(sh) else sh[:, :1]
  return {"means": p["means"][keep], "covs": covs[keep],
          "opacity": opacity[keep], "sh": sh}


def _camera(cams, i: int) -> dict:
  return {"c2w": np.asarray(cams.camtoworlds[i], np.float64)[:3, :4]
          .tolist(), "fx": float(cams.fx[i]), "fy": float(cams.fy[i]),
          "cx": float(cams.cx[i]), "cy": float(cams.cy[i]),
          "width": int(cams.width[i]), "height": int(cams.height[i])}


def scene_data(params, views: dict, white_bkgd: bool, method: str = "splat",
               step: int = 0, low_pass: float = splatting.LOW_PASS,
               antialias: bool = False) -> dict:
  """Everything scene.js holds (see the module doc).

  Args:
    params: the splat backbone's parameters (see PARAMS).
    views: split name -> Dataset or Cameras (anything with camtoworlds, fx,
      fy, cx, cy, width, height): the page's named start views `split:i`;
      the first is the default, the "train" split (else all) gives the
      orbit's up axis.
    white_bkgd: the background behind the Gaussians, white or black.
    low_pass, antialias: the screen filter the run trained with
      (config.splat_low_pass, config.splat_antialias; splatting.project).
  """
  g = gaussians(params)
  n, k = g["sh"].shape[:2]
  c = g["covs"]
  geometry = np.zeros((n, 3, 4), np.float32)
  geometry[:, 0, :3] = g["means"]
  geometry[:, 0, 3] = g["opacity"]
  geometry[:, 1] = np.stack([c[:, 0, 0], c[:, 0, 1], c[:, 0, 2],
                             c[:, 1, 1]], -1)
  geometry[:, 2, :2] = np.stack([c[:, 1, 2], c[:, 2, 2]], -1)
  layers = -(-3 * k // 4)
  sh = np.zeros((n, 4 * layers), np.float16)
  sh[:, :3 * k] = np.clip(g["sh"].reshape(n, 3 * k), -_HALF_MAX, _HALF_MAX)
  cams = {name: getattr(v, "cameras", v) for name, v in views.items()}
  if not cams or not all(len(v) for v in cams.values()):
    raise ValueError("scene_data: no views")
  axes = np.concatenate([np.asarray(v.camtoworlds)[:, :3, 1] for v in (
      [cams["train"]] if "train" in cams else cams.values())])
  up = axes.sum(0)
  up = up / max(np.linalg.norm(up), 1e-12)
  return {
      "count": n, "sh_degree": math.isqrt(k) - 1, "sh_layers": layers,
      "texture_width": TEXTURE_WIDTH, "white_bkgd": bool(white_bkgd),
      "near": NEAR, "low_pass": float(low_pass), "antialias": bool(antialias),
      "max_alpha": splatting.MAX_ALPHA, "min_alpha": splatting.MIN_ALPHA,
      "max_mahalanobis": splatting.MAX_MAHALANOBIS,
      "geometry": _b64(_layers(geometry)),
      "sh": _b64(_layers(sh.reshape(n, layers, 4))),
      "views": {f"{name}:{i}": _camera(v, i) for name, v in cams.items()
                for i in range(len(v))},
      "up": up.tolist(), "method": method, "step_trained": int(step)}


def export(params, views: dict, out_dir: str, white_bkgd: bool,
           method: str = "splat", step: int = 0, **filters) -> tuple[int, int]:
  """Writes index.html, splat_viewer.js and scene.js to out_dir (made if
  missing; other files in it are left alone), each atomically, after
  checking that none of them is in the way (cli.check_output_file: only
  files jaxnerf wrote are replaced). Arguments as scene_data's.

  Returns:
    (total bytes written, Gaussians on the page).
  Raises:
    ConfigError: out_dir or a file in it cannot be written (names it).
  """
  from jaxnerf.engine import cli
  cli.check_output_folder(out_dir, "--out")
  for name in FILES:
    cli.check_output_file(os.path.join(out_dir, name), "--out")
  data = scene_data(params, views, white_bkgd, method, step, **filters)
  os.makedirs(out_dir, exist_ok=True)
  with files.atomic_open(os.path.join(out_dir, "scene.js")) as f:
    f.write(f"// {files.SIGNATURE} (export.py webgl)\nwindow.SPLATS = ")
    json.dump(data, f)
    f.write(";\n")
  for name, source in (("splat_viewer.js", "splat_viewer.js"),
                       ("index.html", "splat_index.html")):
    with files.atomic_path(os.path.join(out_dir, name)) as tmp:
      shutil.copyfile(os.path.join(WEB_DIR, source), tmp)
  size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in FILES)
  return size, data["count"]


def export_run(config, out_dir: str) -> tuple[int, int, int]:
  """export.py webgl for a splat run: the page of config.train_dir's latest
  checkpoint. Returns (bytes, Gaussians, step)."""
  from jaxnerf.engine import runs
  from jaxnerf.errors import CheckpointError
  field = runs.restore_field(config)
  params = field.variables["params"]
  missing = [k for k in PARAMS if k not in params]
  if missing:
    raise CheckpointError(
        f"config.train_dir: the checkpoint of method {config.method!r} "
        f"has no Gaussians ({', '.join(missing)} missing)")
  # As export.py splat: a broken or empty checkpoint is no page.
  for k in PARAMS:
    if not np.all(np.isfinite(params[k])):
      raise CheckpointError(f"config.train_dir: the checkpoint of step "
                            f"{field.step} has non-finite {k}; nothing "
                            "written")
  if not len(gaussians(params)["means"]):
    raise CheckpointError(f"config.train_dir: no Gaussian of the checkpoint "
                          f"of step {field.step} is in use (opacity >= "
                          "1/255); nothing written")
  size, count = export(params, runs.named_views(config), out_dir,
                       bool(config.white_bkgd), config.method, field.step,
                       low_pass=config.splat_low_pass,
                       antialias=config.splat_antialias)
  return size, count, field.step
