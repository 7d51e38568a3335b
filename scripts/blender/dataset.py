"""Renders a plan into a dataset folder in our Blender layout.

  <out>/transforms_<split>.json   camera_angle_x and frames: file_path,
                                  transform_matrix, lights (lights.py's
                                  records), ground_truth (where the view
                                  has maps), and time for animated
                                  scenes
  <out>/<split>/r_<i>.png         RGBA, 8-bit sRGB, straight alpha
  <out>/<split>/r_<i>_gt.npz      ground_truth.py's maps (on the plan's
                                  ground_truth_splits; flow on a path's
                                  frames where objects move)
  <out>/environments/env_<k>.npz  each environment's radiance map ("map",
                                  equirectangular) and its SH ("sh")
  <out>/mesh.ply                  the scene's triangles at time 0 (world
                                  units; a face property "index" per
                                  triangle)
  <out>/scene.json                the plan's scene record, seed and size,
                                  the command, and the rendering's cost

The folder is filled beside its final name and renamed when complete, so
an interruption leaves no partial dataset; an existing `out` is never
touched. Runs inside Blender's Python (imports `scene`).
"""

from __future__ import annotations

import copy
import json
import os
import time

import numpy as np
import plyfile

from jaxnerf import files
from jaxnerf.synthetic import ground_truth, lights, paths

from blender import scene as blender

PROGRAM = "scripts/render_synthetic.py"
ENV_SIZE = (32, 64)  # rows, columns of each environment's map


def write_mesh(path: str, verts: np.ndarray, faces: np.ndarray,
               labels: np.ndarray) -> None:
  vertex = np.empty(len(verts), [("x", "f4"), ("y", "f4"), ("z", "f4")])
  vertex["x"], vertex["y"], vertex["z"] = verts.T
  face = np.empty(len(faces), [("vertex_indices", "i4", (3,)),
                               ("index", "u1")])
  face["vertex_indices"], face["index"] = faces, labels
  data = plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex"),
                          plyfile.PlyElement.describe(face, "face")],
                         comments=[files.SIGNATURE])
  with files.atomic_path(path) as tmp:
    data.write(tmp)


def _environments(plan: dict, folder: str) -> dict:
  """Renders each distinct environment of the plan once; {its JSON: the
  map's file name relative to the dataset}."""
  out = {}
  for split in plan["splits"].values():
    for view in split:
      for record in view["lights"]:
        key = json.dumps(record, sort_keys=True)
        if record["type"] != "environment" or key in out:
          continue
        name = f"environments/env_{len(out)}.npz"
        radiance = blender.render_environment(record, *ENV_SIZE)
        sh = lights.sh_project(radiance)
        os.makedirs(os.path.join(folder, "environments"), exist_ok=True)
        with open(os.path.join(folder, name), "wb") as f:
          np.savez_compressed(f, map=radiance.astype(np.float16),
                              sh=sh.astype(np.float32))
        out[key] = (name, sh)
  return out


def render(plan: dict, out: str, samples: int, command: str,
           threads: int = 0, log=print, only=None) -> dict:
  """Renders `plan` (its splits in `only`, default all) into the new
  folder `out`; returns the cost record (seconds a view, megabytes)."""
  start = time.time()
  blender.reset()
  blender.configure(plan["width"], plan["height"], samples, plan["seed"],
                    threads)
  path_split = plan.get("path_split")
  n_path = len(plan["splits"][path_split]) if path_split else 2
  last_frame = max(n_path, 2)
  blender.build(plan["scene"], last_frame)
  free = blender.camera("camera", plan["camera_angle_x"])
  track = None
  if path_split:
    track = blender.camera("path", plan["camera_angle_x"])
    blender.key_path(track, [v["transform_matrix"]
                             for v in plan["splits"][path_split]])
  scene = blender.bpy.context.scene
  # Flow is stored where objects move; in a still scene it is the depth
  # reprojected into the next camera (jaxnerf.synthetic.paths.flow).
  moving = any("motion" in s for s in plan["scene"]["shapes"])
  n_views = 0
  with files.atomic_dir(out) as folder:
    envs = _environments(plan, folder)
    for split, views in plan["splits"].items():
      if only is not None and split not in only:
        continue
      os.makedirs(os.path.join(folder, split))
      frames = []
      for i, view in enumerate(views):
        c2w = np.asarray(view["transform_matrix"])
        on_path = split == path_split
        if on_path:
          scene.camera = track
          scene.frame_set(i + 1)
        else:
          scene.camera = free
          free.matrix_world = blender.Matrix(c2w.tolist())
          blender.set_time(view.get("time", 0.0), last_frame)
        blender.set_lights(view["lights"], c2w[:3, 3].tolist())
        stem = f"{split}/r_{i}"
        blender.render_image(os.path.join(folder, stem + ".png"), samples)
        frame = {"file_path": f"./{stem}",
                 "transform_matrix": c2w.tolist(),
                 "lights": copy.deepcopy(view["lights"])}
        if split in plan["ground_truth_splits"]:
          maps = blender.render_ground_truth(flow=on_path and moving)
          if on_path and moving:
            ahead = views[min(i + 1, len(views) - 1)]["transform_matrix"]
            maps["flow"] = np.concatenate([paths.flow(
                maps["depth"], maps["index"], c2w, np.asarray(ahead),
                plan["camera_angle_x"], blender.object_moves(i + 1, i + 2)),
                maps.pop("flow_back")], -1)
          ground_truth.write(os.path.join(folder, stem + "_gt.npz"), maps)
          frame["ground_truth"] = f"./{stem}_gt.npz"
        for record in frame["lights"]:
          if record["type"] == "collocated":
            record["position"] = c2w[:3, 3].tolist()
          key = json.dumps(record, sort_keys=True)
          if key in envs:
            record["map"] = envs[key][0]
            record["sh"] = envs[key][1].tolist()
        if "time" in view:
          frame["time"] = view["time"]
        frames.append(frame)
        n_views += 1
        log(f"{stem}: {time.time() - start:.1f} s")
      files.write_json(
          os.path.join(folder, f"transforms_{split}.json"),
          {"camera_angle_x": plan["camera_angle_x"], "frames": frames},
          indent=1)
    blender.set_time(0.0, last_frame)
    write_mesh(os.path.join(folder, "mesh.ply"), *blender.scene_mesh())
    seconds = time.time() - start
    size = sum(os.path.getsize(os.path.join(d, f))
               for d, _, names in os.walk(folder) for f in names)
    cost = {"seconds": round(seconds, 1),
            "seconds_per_view": round(seconds / max(n_views, 1), 3),
            "views": n_views, "megabytes": round(size / 2 ** 20, 2),
            "samples": samples}
    files.write_json(os.path.join(folder, "scene.json"), {
        "written_by": files.SIGNATURE, "command": command,
        "dataset": plan["name"], "seed": plan["seed"],
        "width": plan["width"], "height": plan["height"],
        "path_split": path_split, "scene": plan["scene"], "cost": cost},
        indent=1)
    files.mark(folder, PROGRAM)
  return cost
