"""Scores a mesh (export.py mesh's, or any PLY/OBJ) against ground truth:
Chamfer distance to points back-projected from the ground-truth depth maps
of a split, and to the scene's exact mesh where the data has one.

  python bench/mesh_scores.py --config=neus_demo \
      [--mesh runs/neus_demo/mesh.ply] [--points 200000] [--out scores.json]

Chamfer (jaxnerf.core.geometry_metrics.chamfer): accuracy (mesh -> truth),
completeness (truth -> mesh) and their mean, scene units, both sets cropped
to the scene box. "depth" judges every mesh point; "depth_seen" judges only
those a view with depth could have seen (geometry_metrics.seen: not hidden
behind its true surface by more than --seen_tolerance), as DTU's
observation mask: the exact relight mesh scores accuracy 0.051 against its
own depth points on all of it (its unseen underside), which "depth_seen"
leaves out. The mesh is sampled uniformly on its surface (--points,
seeded). The depth points are the camera-z depths of config.eval_split's
views (every view must carry depth) at their pixel centres, moved into the
capture's frame as export.py writes meshes (the run's world_from_scene,
when it recorded one). <data_dir>/mesh.ply, where present (the synthetic
scenes'), is sampled the same way as a second truth.

Why a separate script rather than an eval.py metric: the mesh is made by
export.py with its own choices (resolution, level), and any mesh, from
another program too, can be scored here; eval.py keeps scoring renders
(depth MAE and RMSE where the data has depth, normal error where it has
normals).

The Blender lego's depth PNGs are 8-bit (distance 8 (1 - v)): 8 / 255 =
0.031 units a step, whose rounding alone gives depth errors of MAE 0.008,
RMSE 0.009 at full resolution (geometry_metrics.quantisation_floor); the
100-pixel maps average 8x8 of them (docs/methods/neus.md).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from jaxnerf.engine import cli

# Where the synthetic scenes keep their exact mesh.
EXACT_MESH = "mesh.ply"


def flags():
  p = cli.FlagParser(prog="bench/mesh_scores.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--mesh", default="",
                 help="the mesh to score (default: <train_dir>/mesh.ply)")
  p.add_argument("--points", type=cli.integer(100), default=200_000,
                 help="points sampled on each mesh's surface")
  p.add_argument("--seed", type=cli.integer(0), default=0,
                 help="of the surface samples")
  p.add_argument("--seen_tolerance", type=cli.number(0.0), default=0.05,
                 help="scene units a mesh point may lie behind a view's "
                 "true surface and count as seen by it (depth_seen; 0.05: "
                 "about two pixel footprints of the 100-pixel lego)")
  p.add_argument("--out", default="", help="also write the scores (JSON)")
  p.add_argument("--truth", choices=("depth", "none"), default="depth",
                 help="none: the mesh's report (and --picture) only, for "
                 "a scene without depth maps (a capture)")
  p.add_argument("--picture", default="",
                 help="also draw the mesh with its vertex colours (PNG, "
                 "bench/bake_lego.py's view)")
  return p


def load_mesh(path: str, flag: str):
  """(vertices [V, 3], faces [F, 3], colours [V, 3] in [0, 1], grey where
  the file has none) of a mesh file; a one-line error for a file that is
  no triangle mesh."""
  import trimesh
  from jaxnerf.errors import ConfigError
  try:
    mesh = trimesh.load(path, force="mesh", process=False)
  except (ValueError, KeyError, IndexError, OSError) as e:
    raise ConfigError(f"{flag}: {path}: not a mesh trimesh reads ({e})") \
        from None
  if not len(getattr(mesh, "faces", ())):
    raise ConfigError(f"{flag}: {path}: has no faces")
  colours = getattr(mesh.visual, "vertex_colors", None)
  colours = (np.asarray(colours)[:, :3] / 255.0 if colours is not None
             and len(colours) == len(mesh.vertices)
             else np.full((len(mesh.vertices), 3), 0.7))
  return np.asarray(mesh.vertices), np.asarray(mesh.faces), colours


def depth_truth(config):
  """(points [K, 3] back-projected from the depth maps of
  config.eval_split, in the scene's frame; that split's Dataset)."""
  from jaxnerf.core import geometry_metrics
  from jaxnerf.data.dataset import load_dataset
  from jaxnerf.errors import DatasetError
  data = load_dataset(config, config.eval_split)
  if data.depths is None:
    raise DatasetError(f"config.data_dir: {config.data_dir}: the "
                       f"{config.eval_split} split carries no depth maps")
  points = []
  for i in range(len(data)):
    rays = data.image_rays(i)
    points.append(geometry_metrics.depth_points(
        rays.origins, rays.directions, data.depths[i]))
  return np.concatenate(points), data


def world_from_scene(config):
  """The run's recorded similarity (None: none recorded, or no run)."""
  from jaxnerf.engine import trainer
  path = os.path.join(config.train_dir, trainer.SCENE_FILE)
  if not os.path.isfile(path):
    return None
  return trainer.read_scene_info(config.train_dir).world_from_scene


def job(config, args):
  from jaxnerf.core import geometry_metrics
  from jaxnerf.engine import runs
  from jaxnerf.export import geometry
  path = args.mesh or os.path.join(config.train_dir, "mesh.ply")
  cli.check_input_file(path, "--mesh")
  if args.out:
    cli.check_output_file(args.out, "--out")
  if args.picture:  # a PNG carries no signature: never over a file
    cli.check_output_file(args.picture, "--picture", ours=lambda p: False)
  bound = runs.scene_bound(config)
  verts, faces, colours = load_mesh(path, "--mesh")
  world = world_from_scene(config)
  if world is not None:  # the box is the scene's: crop there
    m = np.asarray(world, np.float64)
    scale = np.linalg.norm(m[:3, 0])
    to_scene = lambda p: (p - m[:3, 3]) @ m[:3, :3] / scale**2
  else:
    scale, to_scene = 1.0, lambda p: p
  samples = geometry_metrics.sample_surface(verts, faces, args.points,
                                            args.seed)
  from jaxnerf import files
  # The signature first: a later run may replace the file (and only then).
  scores = {"written_by": files.SIGNATURE, "mesh": os.path.abspath(path),
            "points": args.points,
            "bound": bound, **geometry.mesh_report(verts, faces)}
  if args.truth == "none":
    finish(args, scores, to_scene(verts), faces, colours)
    return
  depth_points, data = depth_truth(config)
  truth = {"depth": geometry.to_world(depth_points, world)}
  exact = os.path.join(config.data_dir, EXACT_MESH)
  if os.path.isfile(exact):
    truth["exact_mesh"] = geometry_metrics.sample_surface(
        *load_mesh(exact, "config.data_dir")[:2], args.points, args.seed)
  cams = data.cameras
  seen = geometry_metrics.seen(to_scene(samples), cams.camtoworlds, cams.fx,
                               cams.fy, cams.cx, cams.cy, data.depths,
                               args.seen_tolerance)
  scores["seen_share"] = float(seen.mean())
  truth["depth_seen"] = truth["depth"]
  for name, points in truth.items():
    try:
      result = geometry_metrics.chamfer(
          to_scene(samples), to_scene(points), bound,
          judged=seen if name == "depth_seen" else None)
    except ValueError as e:  # a set outside the box
      from jaxnerf.errors import UserError
      raise UserError(f"--mesh: {path}: against the {name} truth: {e}") \
          from None
    # In the capture's units, as the mesh.
    scores[name] = {k: v * scale for k, v in result.items()}
    scores[name]["truth_points"] = int(len(points))
  finish(args, scores, to_scene(verts), faces, colours)


def finish(args, scores, verts, faces, colours) -> None:
  """Draws the mesh (vertices in the scene's frame, bake_lego.py's view
  of it) and prints and writes the scores."""
  from jaxnerf import files
  if args.picture:
    import bake_lego  # bench scripts import each other
    bake_lego.mesh_picture(args.picture, verts, faces, colours)
  text = json.dumps(scores, indent=1)
  print(text, flush=True)
  if args.out:
    with files.atomic_open(args.out, "w") as f:
      f.write(text + "\n")


def main(argv=None) -> int:
  return cli.main("bench/mesh_scores.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
