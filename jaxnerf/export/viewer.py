"""The viewer behind view.py: a local web page (the standard library's
http.server, no extra dependency) where the user orbits, pans and zooms
around a trained scene, rendered on this machine by the field or the baked
scene, coarse first and refined to full resolution once the camera rests.

Routes: `/` the page (jaxnerf/export/web/viewer.html); `/scene.json` the image
size, focal, the training cameras and the poses of the dataset's views
(`?view=test:0` on the page starts there), and whether the method takes a
light; `/render?c2w=12 numbers&w=&h=&f=&mode=rgb|depth|acc[&light=x,y,z]`
a PNG, lit (relighting methods) by a point light of the config's
`light_intensity` at x, y, z, or by a flash at the camera without
`light`.
"""

from __future__ import annotations

import errno
import http.server
import io
import json
import os
import threading
import urllib.parse
from typing import Callable

import jax
import numpy as np

from jaxnerf.core import cameras as cameras_lib
from jaxnerf.core import lighting
from jaxnerf.data import images
from jaxnerf.data.dataset import Dataset
from jaxnerf.errors import ConfigError, ResourceError

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
MODES = {"rgb": "rgb", "depth": "depth", "acc": "acc"}
MAX_PIXELS = 4096 * 4096


def scene_info(train: Dataset, views: dict[str, Dataset],
               relightable: bool = False) -> dict:
  """/scene.json: the training cameras, named view poses, image size,
  whether a light can be placed."""
  c2w = lambda d, i: np.asarray(d.camtoworlds[i], np.float64).tolist()
  up = np.asarray(train.camtoworlds)[:, :3, 1].sum(0)
  return dict(width=train.width, height=train.height, focal=train.focal,
              near=train.near, far=train.far,
              up=(up / np.linalg.norm(up)).tolist(),
              train_cameras=[c2w(train, i) for i in range(len(train))],
              views={f"{split}:{i}": c2w(d, i) for split, d in views.items()
                     for i in range(len(d))},
              light=relightable)


def render_png(render_camera: Callable, outputs: dict, c2w: np.ndarray,
               width: int, height: int, focal: float, near: float,
               far: float, mode: str, light=None) -> bytes:
  """One view as PNG bytes: rgb, colour-mapped depth or opacity; `light`:
  the view's [LIGHT_DIM] light (None: the data's absence of one)."""
  cams = cameras_lib.Cameras.create(
      c2w[None], focal, width, height, near, far,
      light=None if light is None else np.asarray(light)[None])
  out = render_camera(cams, 0)
  pictures = images.output_images(
      {k: v for k, v in outputs.items() if k in ("rgb", "depth", "acc")},
      out, False, near, far)
  buffer = io.BytesIO()
  import imageio.v3 as iio
  iio.imwrite(buffer, images.to_uint8(pictures[MODES[mode]]),
              extension=".png")
  return buffer.getvalue()


def make_handler(info: dict, render_camera: Callable, outputs: dict,
                 light_intensity: float = 0.0):
  """The request handler; `light_intensity`: of a placed light (where
  info["light"])."""
  lock = threading.Lock()  # one render at a time (JAX uses every core)
  with open(os.path.join(WEB_DIR, "viewer.html"), "rb") as f:
    page = f.read()

  class Handler(http.server.BaseHTTPRequestHandler):

    def log_message(self, fmt, *args):  # quiet: one line per render
      pass

    def _send(self, code: int, body: bytes, kind: str):
      self.send_response(code)
      self.send_header("Content-Type", kind)
      self.send_header("Content-Length", str(len(body)))
      self.send_header("Cache-Control", "no-store")
      self.end_headers()
      self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's name)
      url = urllib.parse.urlparse(self.path)
      if url.path in ("/", "/index.html"):
        return self._send(200, page, "text/html; charset=utf-8")
      if url.path == "/scene.json":
        return self._send(200, json.dumps(info).encode(), "application/json")
      if url.path != "/render":
        return self._send(404, b"not found", "text/plain")
      try:
        q = urllib.parse.parse_qs(url.query)
        c2w = np.array([float(x) for x in q["c2w"][0].split(",")],
                       np.float64).reshape(3, 4)
        w, h = int(q["w"][0]), int(q["h"][0])
        f = float(q["f"][0])
        mode = q.get("mode", ["rgb"])[0]
        if mode not in MODES or not 0 < w * h <= MAX_PIXELS:
          raise ValueError(f"bad mode {mode!r} or size {w}x{h}")
        light = None
        if "light" in q:
          if not info.get("light"):
            raise ValueError("this method takes no light")
          position = [float(x) for x in q["light"][0].split(",")]
          if len(position) != 3 or not np.all(np.isfinite(position)):
            raise ValueError("light must be 3 finite numbers")
          light = lighting.point_light(position, light_intensity)
      except (KeyError, ValueError) as e:
        return self._send(400, f"bad request: {e}".encode(), "text/plain")
      with lock:
        png = render_png(render_camera, outputs, c2w, w, h, f, info["near"],
                         info["far"], mode, light)
      print(f"rendered {w}x{h} {mode}", flush=True)
      return self._send(200, png, "image/png")

  return Handler


def bind(host: str, port: int, handler) -> http.server.ThreadingHTTPServer:
  """The server on host:port (0: any free port); a port in use or out of
  range is a one-line error."""
  if not 0 <= port <= 65535:  # socket raises OverflowError, not OSError
    raise ConfigError(f"--port: {port} is not in 0..65535")
  try:  # socket fails on a name IDNA cannot encode with a TypeError
    host.encode("idna")
  except UnicodeError:
    raise ConfigError(f"--host: {host!r} is not a host name") from None
  try:
    return http.server.ThreadingHTTPServer((host, port), handler)
  except OSError as e:
    if e.errno == errno.EADDRINUSE:
      raise ResourceError(f"--port {port}: already in use on {host}; pick "
                          "another with --port") from None
    raise ResourceError(f"--host {host} --port {port}: cannot listen "
                        f"({e.strerror})") from None


def start(config, host: str, port: int):
  """Binds first (so a taken port fails before any loading), then loads the
  field or the baked scene (`config.render_baked`).

  Returns:
    (server, step): call server.serve_forever().
  """
  from jaxnerf.engine import evaluator, parallel, runs

  holder = {}

  def handler(*args, **kwargs):
    return holder["handler"](*args, **kwargs)

  server = bind(host, port, handler)
  try:
    renderer = (evaluator.baked_renderer(config) if config.render_baked else
                evaluator.field_renderer(config, parallel.make_mesh()))
    views = runs.named_views(config)
    train = views["train"]
  except BaseException:  # the port is released, whatever stops the start
    server.server_close()
    raise
  # Relighting methods (the reflectance component's field) take a light.
  intensity = config.get("light_intensity")
  holder["handler"] = make_handler(
      scene_info(train, views, intensity is not None),
      camera_renderer(renderer, config.chunk), renderer.outputs,
      intensity or 0.0)
  return server, renderer.step


def camera_renderer(renderer, chunk: int) -> Callable:
  """(host Cameras, i) -> maps: through the rays `padded` where the
  renderer takes rays, else the renderer's own."""
  if renderer.render_rays is None:
    return renderer.render_camera
  render = padded(renderer.render_rays, chunk)
  return lambda cams, i: render(cameras_lib.image_rays(cams, i))


def padded(render_rays: Callable, chunk: int) -> Callable:
  """render_rays on at least `chunk` rays (the last one repeated), so every
  image size the page asks for runs the one compiled chunk."""
  def render(rays):
    shape = rays.origins.shape[:-1]
    flat = jax.tree.map(lambda x: np.asarray(x).reshape(-1, x.shape[-1]),
                        rays)
    n = flat.origins.shape[0]
    if n < chunk:
      flat = jax.tree.map(lambda x: np.concatenate(
          [x, np.repeat(x[-1:], chunk - n, 0)]), flat)
    out = render_rays(flat)
    return {k: np.asarray(v)[:n].reshape(shape + np.shape(v)[1:])
            for k, v in out.items()}
  return render


def serve(config, host: str, port: int) -> None:
  server, step = start(config, host, port)
  what = "baked scene" if config.render_baked else "field"
  print(f"Serving the {what} of {config.train_dir} (step {step}) "
        f"at http://{host}:{server.server_address[1]}/  (Ctrl-C stops)",
        flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
