"""Renders a trained capture along an arc of its cameras into a GIF.

  python bench/render_orbit.py --config=instant_ngp_capture \
      --config.data_dir=DIR --config.train_dir=RUN --config.factor=4 \
      --out=docs/media/orbit.gif [--frames=24]

The arc (jaxnerf.core.cameras.arc_path) turns about the scene's +z (the cameras'
mean up after the loader's orientation) over the azimuths the training
cameras span, at their mean distance and elevation, looking at the origin;
it plays forth and back. Intrinsics are the first training camera's (no
distortion) at config.factor.
"""

import functools
import sys

import imageio.v3 as iio
import jax
import numpy as np

from jaxnerf import files
from jaxnerf.core import cameras
from jaxnerf.engine import cli, evaluator, parallel, training
from jaxnerf.data import images
from jaxnerf.data.dataset import load_dataset


def flags():
  p = cli.FlagParser(prog="bench/render_orbit.py")
  p.add_argument("--out", required=True, help="the GIF")
  p.add_argument("--frames", type=cli.integer(2), default=24)
  return p


def job(config, args):
  cli.check_output_file(args.out, "--out")  # before any work
  mesh = parallel.make_mesh()
  method, model, state = evaluator.restore_latest(config, mesh)
  data = load_dataset(config, "train")
  path = cameras.arc_path(data.camtoworlds, args.frames)
  variables = parallel.to_host(training.variables_of(state))
  variables["params"] = training.unseen_camera_params(
      method, variables["params"], 1)
  render = functools.partial(
      training.make_render_fn(method, model, config),
      parallel.put_replicated(variables, mesh), step=state.step)
  if method.image_space:  # a rasteriser renders cameras, not rays
    path_cameras = cameras.Cameras.create(path, data.focal, data.width,
                                          data.height, data.near, data.far)
    view = lambda i: evaluator.render_camera(method, config, mesh, render,
                                             path_cameras, i)
  else:
    rays = cameras.pinhole_rays(path, data.height, data.width, data.focal,
                                data.near, data.far)
    view = lambda i: parallel.render_image(
        functools.partial(render, cameras=None),
        jax.tree.map(lambda x: x[i], rays), config.chunk, mesh)
  frames = []
  for i in range(args.frames):
    image = view(i)
    frames.append(images.to_uint8(np.clip(image["rgb"], 0, 1)))
    print(f"frame {i + 1}/{args.frames}", flush=True)
  frames = frames + frames[-2:0:-1]  # forth and back
  iio.imwrite(args.out, np.stack(frames), duration=80, loop=0,
              comment=files.SIGNATURE)


def main(argv=None) -> int:
  return cli.main("bench/render_orbit.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
