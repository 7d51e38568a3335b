"""Exports a trained run: a coloured mesh, a point cloud, a static web
page that ray-marches the baked scene with WebGL, or a Gaussian-splat
run's Gaussians as a 3D Gaussian Splatting PLY.

  python export.py mesh --config=instant_ngp_demo [--resolution 256]
      [--threshold 10] [--out runs/instant_ngp_demo/mesh]
  python export.py pointcloud --config=instant_ngp_demo [--view_stride 5]
  python export.py webgl --config=instant_ngp_demo [--out DIR]
  python export.py splat --config=splat_demo [--out PATH] [--frame world]
  python export.py mesh --config=runs/instant_ngp_demo  # its recorded config

mesh: marching cubes on the field's density inside the scene box (an SDF
method's, e.g. neus: on its signed distance, the zero level set), vertex
colours from its radiance (mean over directions): <out>.ply and <out>.obj;
it reports vertices, faces, components, watertightness and the largest
component's share.
pointcloud: points at the rendered depth of the training views with their
rendered colours: <out>.ply. Both are written in the capture's own frame
(where the loader normalised the scene, the run's recorded world_from_scene
maps them back; --frame=scene keeps the normalised frame). webgl:
index.html + viewer.js + scene.js from the baked scene (bake.py;
`--config.baked_file` picks another file), or for a splat run the
Gaussians of its latest checkpoint, drawn sorted (splat_web.py, no bake);
open index.html in any browser, no server needed.
splat: a splat run's Gaussians in use (opacity >= 1/255: its unused slots
are left out) as the PLY of the 3DGS reference code, which its viewers and
tools read: <train_dir>/splats.ply by default, in the capture's frame as
the mesh (Gaussians, their rotations and view-dependent colours moved
exactly; --frame=scene keeps the trained frame).
jaxnerf.export.splat_ply.params_from_ply reads such a file back, ours or
another program's.
"""

import os
import sys

from jaxnerf.engine import cli


def flags():
  """The parser: one subcommand (mesh, pointcloud, webgl, splat) with its
  own flags; a flag of another subcommand is an error, not silently ignored."""
  p = cli.FlagParser(prog="export.py")
  sub = p.add_subparsers(dest="what", required=True, metavar="{mesh,"
                         "pointcloud,webgl,splat}")
  mesh_p = sub.add_parser("mesh", help="a coloured triangle mesh (PLY, OBJ)")
  mesh_p.add_argument("--out", default="",
                      help="<out>.ply and <out>.obj (default: "
                      "<train_dir>/mesh)")
  mesh_p.add_argument("--resolution", type=cli.integer(2), default=256,
                      help="grid cells per axis")
  mesh_p.add_argument("--threshold", type=cli.number(), default=None,
                      help="density of the surface (default 10); an SDF "
                      "method's: its signed distance (default 0, the zero "
                      "level set)")
  mesh_p.add_argument("--bound", type=cli.number(0.0), default=0.0,
                      help="scene box half-size (default 0: the config's)")
  cloud_p = sub.add_parser("pointcloud",
                           help="points at the rendered depth (PLY)")
  cloud_p.add_argument("--out", default="",
                       help="default: <train_dir>/pointcloud.ply")
  cloud_p.add_argument("--view_stride", type=cli.integer(1), default=5,
                       help="every this many training views")
  cloud_p.add_argument("--pixel_stride", type=cli.integer(1), default=1,
                       help="every this many pixels per axis")
  cloud_p.add_argument("--min_opacity", type=cli.number(0.0, below=1.0),
                       default=0.5,
                       help="rays more transparent are dropped")
  splat_p = sub.add_parser("splat", help="a splat run's Gaussians as a "
                           "3D Gaussian Splatting PLY")
  splat_p.add_argument("--out", default="",
                       help="default: <train_dir>/splats.ply")
  for q in (mesh_p, cloud_p, splat_p):
    q.add_argument("--frame", choices=("world", "scene"), default="world",
                   help="the capture's frame or the normalised one the run "
                   "trained in")
  web_p = sub.add_parser("webgl", help="a static page of the baked scene "
                         "(a splat run: of its Gaussians)")
  web_p.add_argument("--out", default="",
                     help="the page's folder (default: <train_dir>/webgl)")
  return p


def check(config, args) -> str:
  """Every flag and path, before any work: returns the output path (a
  stem for mesh).

  Raises:
    UserError: naming the flag.
  """
  from jaxnerf.engine import evaluator, runs
  from jaxnerf.export import geometry
  if args.what == "mesh":
    runs.scene_bound(config, args.bound)
    geometry.check_resolution(args.resolution)
    geometry.bake.check_memory(
        geometry.mesh_memory_bytes(args.resolution),
        f"marching cubes on a {args.resolution}^3 grid", "--resolution")
    stem = args.out or os.path.join(config.train_dir, "mesh")
    for ext in (".ply", ".obj"):
      cli.check_output_file(stem + ext, "--out")
    return stem
  if args.what in ("pointcloud", "splat"):
    name = "pointcloud.ply" if args.what == "pointcloud" else "splats.ply"
    path = args.out or os.path.join(config.train_dir, name)
    cli.check_output_file(path, "--out")
    return path
  out = args.out or os.path.join(config.train_dir, "webgl")
  cli.check_output_folder(out, "--out")
  from jaxnerf.export import splat_web, webgl
  if splat_web.renders_splats(config):  # the page draws the Gaussians
    for name in splat_web.FILES:
      cli.check_output_file(os.path.join(out, name), "--out")
    return out
  for name in webgl.FILES:
    cli.check_output_file(os.path.join(out, name), "--out")
  if config.baked_file:
    cli.check_input_file(config.baked_file, "config.baked_file")
  else:
    baked = os.path.join(config.train_dir, evaluator.BAKED_FILE)
    if not os.path.isfile(baked):
      from jaxnerf.errors import BakedFileError
      raise BakedFileError(f"{baked}: no baked scene; run bake.py first")
  return out


def output_frame(config, args, points):
  """points [K, 3] in the frame --frame asks for."""
  from jaxnerf.export import geometry
  from jaxnerf.engine import trainer
  if args.frame == "scene":
    return points
  world = trainer.read_scene_info(config.train_dir).world_from_scene
  return geometry.to_world(points, world)


def mesh(config, args, stem):
  import jax
  from jaxnerf.engine import runs
  from jaxnerf.export import geometry
  bound = runs.scene_bound(config, args.bound)
  field = runs.restore_field(config)
  apply = field.model.apply
  variables = field.variables
  radiance = jax.jit(lambda p, d: apply(variables, p, d, method="radiance"))
  if hasattr(field.model, "sdf"):  # a level set of the signed distance
    threshold = 0.0 if args.threshold is None else args.threshold
    what = "signed distance"
    # Negated: high inside, as a density (geometry.extract_mesh's faces
    # then face out).
    level_fn = jax.jit(lambda p: -apply(variables, p, method="sdf"))
    level = -threshold
  else:
    threshold = 10.0 if args.threshold is None else args.threshold
    what = "density"
    level_fn = jax.jit(lambda p: apply(variables, p, method="density"))
    level = threshold
  verts, faces = geometry.extract_mesh(level_fn, bound, args.resolution,
                                       level)
  if not len(faces):
    from jaxnerf.errors import UserError
    raise UserError(f"--threshold {threshold:g}: the {what} never crosses "
                    "it inside the scene box; no surface")
  colours = geometry.diffuse_colours(radiance, verts)
  verts = output_frame(config, args, verts)
  paths = geometry.write_mesh(stem, verts, faces, colours)
  report = geometry.mesh_report(verts, faces)
  print(f"mesh ({what} {threshold:g}): {report['vertices']} vertices, "
        f"{report['faces']} faces, {report['components']} components, "
        f"{'' if report['watertight'] else 'not '}watertight, largest "
        f"component {100 * report['largest_share']:.1f}% of the vertices, "
        f"bounds {verts.min(0).round(3).tolist()} .. "
        f"{verts.max(0).round(3).tolist()} -> {', '.join(paths)}",
        flush=True)


def pointcloud(config, args, path):
  import numpy as np
  import jax
  from jaxnerf.engine import evaluator, parallel
  from jaxnerf.export import geometry
  from jaxnerf.data.dataset import load_dataset
  renderer = (evaluator.baked_renderer(config) if config.render_baked else
              evaluator.field_renderer(config, parallel.make_mesh()))
  dataset = load_dataset(config, "train")
  points, colours = [], []
  s = args.pixel_stride
  views = range(0, len(dataset), args.view_stride)
  for i in views:
    rays = jax.tree.map(lambda x: x[::s, ::s], dataset.image_rays(i))
    if renderer.render_rays is None:  # renders whole cameras
      out = {k: v[::s, ::s] for k, v in renderer.render_camera(
          dataset.cameras, i).items()}
    else:
      out = renderer.render_rays(rays)
    p, c = geometry.depth_points(rays, out, args.min_opacity)
    points.append(p)
    colours.append(c)
  points, colours = np.concatenate(points), np.concatenate(colours)
  if not len(points):
    from jaxnerf.errors import UserError
    raise UserError(
        f"--min_opacity {args.min_opacity:g}: no ray of the {len(views)} "
        f"training views rendered (--view_stride {args.view_stride}, "
        f"--pixel_stride {s}) is that opaque; no points, nothing written. "
        "Lower it or take more rays")
  points = output_frame(config, args, points)
  geometry.write_point_cloud(path, points, colours)
  print(f"point cloud: {len(points)} points, bounds "
        f"{points.min(0).round(3).tolist()} .. "
        f"{points.max(0).round(3).tolist()} -> {path}", flush=True)


def webgl(config, args, out):
  from jaxnerf.baked import bake
  from jaxnerf.engine import evaluator, runs
  from jaxnerf.export import splat_web
  from jaxnerf.export import webgl as webgl_export
  if splat_web.renders_splats(config):
    size, count, step = splat_web.export_run(config, out)
    print(f"web page: {out}/index.html ({count} Gaussians of step {step}, "
          f"{size / 2**20:.1f} MiB in all); open it in a browser",
          flush=True)
    return
  path = config.baked_file or os.path.join(config.train_dir,
                                           evaluator.BAKED_FILE)
  scene = bake.load(path, config.method)
  if scene.networks is not None:
    from jaxnerf.errors import BakedFileError
    raise BakedFileError(f"{path}: colour by {scene.describe_colour()}; the "
                         "web page renders SH-baked scenes and FastNeRF "
                         "caches (render it with eval.py or view.py)")
  size = webgl_export.export(scene, runs.named_views(config), out)
  print(f"web page: {out}/index.html ({size / 2**20:.1f} MiB in all); open "
        "it in a browser", flush=True)


def splat(config, args, path):
  from jaxnerf.engine import runs, trainer
  from jaxnerf.errors import CheckpointError, ConfigError
  from jaxnerf.export import splat_ply
  world = None
  if args.frame == "world":
    world = trainer.read_scene_info(config.train_dir).world_from_scene
    if world is not None:  # a bad one is refused before the restore
      splat_ply.similarity_parts(world, os.path.join(
          config.train_dir, trainer.SCENE_FILE) + ": world_from_scene")
  field = runs.restore_field(config)
  params = splat_ply.splat_params(field.variables["params"])
  if params is None:
    raise ConfigError(
        f"--config.method: {config.method!r} is not a Gaussian-splat "
        f"method (the run's parameters are not Gaussians' "
        f"{', '.join(splat_ply.NAMES)}); export.py splat exports a splat "
        "run (e.g. --config=splat_demo)")
  bad = splat_ply.first_nonfinite(params)
  if bad is not None:
    raise CheckpointError(f"config.train_dir: the checkpoint of step "
                          f"{field.step} has non-finite {bad}; nothing "
                          "written")
  if not splat_ply.in_use(params).any():
    raise CheckpointError(f"config.train_dir: no Gaussian of the checkpoint "
                          f"of step {field.step} is in use (opacity >= "
                          "1/255); nothing written")
  count = splat_ply.write(path, params, world)
  total = params["means"].shape[0]
  frame = args.frame
  if frame == "world" and world is None:
    frame += " (the run's scene was not normalised: its own frame)"
  print(f"splats: {count} Gaussians of {total} slots (the rest unused: "
        f"opacity below 1/255), SH degree {splat_ply.sh_degree_of(params)}, "
        f"frame {frame} -> {path}", flush=True)


def job(config, args):
  out = check(config, args)
  {"mesh": mesh, "pointcloud": pointcloud, "webgl": webgl, "splat": splat}[
      args.what](config, args, out)


def main(argv=None) -> int:
  return cli.main("export.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
