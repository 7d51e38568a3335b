"""Exports a trained run: a coloured mesh, a point cloud, or a static web
page that ray-marches the baked scene with WebGL.

  python export.py mesh --config=instant_ngp_demo [--resolution 256]
      [--threshold 10] [--out runs/instant_ngp_demo/mesh]
  python export.py pointcloud --config=instant_ngp_demo [--view_stride 5]
  python export.py webgl --config=instant_ngp_demo [--out DIR]

mesh: marching cubes on the field's density inside the scene box, vertex
colours from its radiance (mean over directions): <out>.ply and <out>.obj.
pointcloud: points at the rendered depth of the training views with their
rendered colours: <out>.ply. Both are written in the capture's own frame
(where the loader normalised the scene, the run's recorded world_from_scene
maps them back; --frame=scene keeps the normalised frame). webgl:
index.html + viewer.js + scene.js from the baked scene (bake.py;
`--config.baked_file` picks another file); open index.html in any browser,
no server needed.
"""

import os
import sys

from jaxnerf import cli


def flags():
  p = cli.FlagParser(prog="export.py")
  p.add_argument("what", choices=("mesh", "pointcloud", "webgl"))
  p.add_argument("--out", default="",
                 help="default: <train_dir>/mesh, pointcloud.ply, webgl/")
  p.add_argument("--resolution", type=int, default=256,
                 help="mesh: grid cells per axis")
  p.add_argument("--threshold", type=float, default=10.0,
                 help="mesh: density of the surface")
  p.add_argument("--bound", type=float, default=0.0,
                 help="mesh: scene box half-size (default: the config's)")
  p.add_argument("--frame", choices=("world", "scene"), default="world",
                 help="mesh, pointcloud: the capture's frame or the "
                 "normalised one the run trained in")
  p.add_argument("--view_stride", type=int, default=5,
                 help="pointcloud: every this many training views")
  p.add_argument("--pixel_stride", type=int, default=1,
                 help="pointcloud: every this many pixels per axis")
  p.add_argument("--min_opacity", type=float, default=0.5,
                 help="pointcloud: rays more transparent are dropped")
  return p


def output_frame(config, args, points):
  """points [K, 3] in the frame --frame asks for."""
  from jaxnerf import geometry_export, trainer
  if args.frame == "scene":
    return points
  world = trainer.read_scene_info(config.train_dir).world_from_scene
  return geometry_export.to_world(points, world)


def mesh(config, args):
  import jax
  from jaxnerf import exports, geometry_export
  geometry_export.check_resolution(args.resolution)
  bound = exports.scene_bound(config, args.bound)
  geometry_export.baking.check_memory(
      geometry_export.mesh_memory_bytes(args.resolution),
      f"marching cubes on a {args.resolution}^3 grid", "--resolution")
  field = exports.restore_field(config)
  apply = field.model.apply
  density = jax.jit(lambda p: apply(field.variables, p, method="density"))
  radiance = jax.jit(lambda p, d: apply(field.variables, p, d,
                                        method="radiance"))
  verts, faces = geometry_export.extract_mesh(density, bound,
                                              args.resolution, args.threshold)
  if not len(faces):
    from jaxnerf.errors import UserError
    raise UserError(f"--threshold {args.threshold}: the density never "
                    "crosses it inside the scene box; no surface")
  colours = geometry_export.diffuse_colours(radiance, verts)
  verts = output_frame(config, args, verts)
  stem = args.out or os.path.join(config.train_dir, "mesh")
  paths = geometry_export.write_mesh(stem, verts, faces, colours)
  share = geometry_export.largest_component_fraction(verts, faces)
  print(f"mesh: {len(verts)} vertices, {len(faces)} faces, largest "
        f"component {100 * share:.1f}% of the vertices, bounds "
        f"{verts.min(0).round(3).tolist()} .. {verts.max(0).round(3).tolist()}"
        f" -> {', '.join(paths)}", flush=True)


def pointcloud(config, args):
  import numpy as np
  import jax
  from jaxnerf import evaluator, geometry_export, parallel
  from jaxnerf.datasets import load_dataset
  renderer = (evaluator.baked_renderer(config) if config.render_baked else
              evaluator.field_renderer(config, parallel.make_mesh()))
  dataset = load_dataset(config, "train")
  points, colours = [], []
  s = max(1, args.pixel_stride)
  for i in range(0, len(dataset), max(1, args.view_stride)):
    rays = jax.tree.map(lambda x: x[::s, ::s], dataset.image_rays(i))
    out = renderer.render_rays(rays)
    p, c = geometry_export.depth_points(rays, out, args.min_opacity)
    points.append(p)
    colours.append(c)
  points, colours = np.concatenate(points), np.concatenate(colours)
  points = output_frame(config, args, points)
  path = args.out or os.path.join(config.train_dir, "pointcloud.ply")
  geometry_export.write_point_cloud(path, points, colours)
  print(f"point cloud: {len(points)} points, bounds "
        f"{points.min(0).round(3).tolist()} .. "
        f"{points.max(0).round(3).tolist()} -> {path}", flush=True)


def webgl(config, args):
  from jaxnerf import baking, evaluator, webgl_export
  from jaxnerf.datasets import load_dataset
  path = config.baked_file or os.path.join(config.train_dir,
                                           evaluator.BAKED_FILE)
  scene = baking.load(path, config.method)
  views = {"train": load_dataset(config, "train")}
  try:
    views[config.eval_split] = load_dataset(config, config.eval_split)
  except Exception:  # pylint: disable=broad-except
    pass
  out = args.out or os.path.join(config.train_dir, "webgl")
  size = webgl_export.export(scene, views, out)
  print(f"web page: {out}/index.html ({size / 2**20:.1f} MiB in all); open "
        "it in a browser", flush=True)


def job(config, args):
  {"mesh": mesh, "pointcloud": pointcloud, "webgl": webgl}[args.what](
      config, args)


def main(argv=None) -> int:
  return cli.main("export.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
