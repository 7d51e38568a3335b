"""SfM accuracy: process_data.py on real captures vs their reference poses.

  flock /tmp/cpu.lock python bench/sfm_accuracy.py [--scenes fern,cake]
      [--work /tmp/sfm_accuracy] [--data ../shared/data]
  (--data defaults to $JAXNERF_SHARED_DATA, else ../shared/data)

fern: `nerf_llff_data/fern/images_8` alone (20 photos, 504x378) against
`poses_bounds.npy` (COLMAP poses of the original capture). cake:
`captures/cake/rgb/1x` (100 frames of a phone video, 480x856, matched
sequentially) against `camera/<id>.json` (the capture's own poses, 87 of
the frames). After a similarity alignment of the camera centres (Umeyama;
SfM fixes no scale, rotation or origin) it prints the registered images,
the RMS centre error relative to the cameras' spread (RMS distance from
their mean), and the mean and max rotation error. Targets (issue #10):
all registered, RMS centre error < 2 % of the spread, mean rotation error
< 1 degree.
"""

import glob
import json
import os
import sys
import time

import numpy as np

from jaxnerf.engine import cli
from jaxnerf.posing import pipeline, sfm
from jaxnerf.posing.capture import Log
from jaxnerf.data.loaders import llff, nerfies, nerfstudio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("JAXNERF_SHARED_DATA",
                      os.path.join(os.path.dirname(REPO), "shared", "data"))


def fern_reference(data: str) -> tuple[str, dict]:
  """(image folder, {name: reference c2w [3, 4]})."""
  folder = os.path.join(data, "nerf_llff_data", "fern", "images_8")
  poses, _ = llff.read_poses_bounds(os.path.join(data, "nerf_llff_data",
                                                 "fern", "poses_bounds.npy"))
  c2w = llff.reorder_poses(poses)[:, :, :4]
  names = [os.path.basename(p) for p in llff.list_images(folder)]
  return folder, dict(zip(names, c2w))


def cake_reference(data: str) -> tuple[str, dict]:
  root = os.path.join(data, "captures", "cake")
  reference = {}
  for path in sorted(glob.glob(os.path.join(root, "camera", "*.json"))):
    name = os.path.splitext(os.path.basename(path))[0] + ".png"
    reference[name] = nerfies.read_camera(path)["camtoworld"]
  return os.path.join(root, "rgb", "1x"), reference


SCENES = {"fern": (fern_reference, "exhaustive"),
          "cake": (cake_reference, "sequential")}


def estimated_poses(output: str) -> dict:
  meta = nerfstudio.read_transforms(os.path.join(output, "transforms.json"))
  return {os.path.basename(f["file_path"]):
          np.asarray(f["transform_matrix"])[:3, :4] for f in meta["frames"]}


def run_scene(name: str, data: str, work: str) -> dict:
  reference_fn, matching = SCENES[name]
  folder, reference = reference_fn(data)
  output = os.path.join(work, name)
  os.makedirs(output, exist_ok=True)
  log = Log(os.path.join(output, pipeline.LOG_FILE))
  start = time.time()
  report = pipeline.process(pipeline.Request(
      output=output, images=folder,
      sfm=sfm.SfmOptions(matching=matching)), log)
  seconds = time.time() - start
  estimated = estimated_poses(output)
  common = sorted(set(estimated) & set(reference))
  errors = sfm.pose_errors(np.stack([estimated[n] for n in common]),
                           np.stack([reference[n] for n in common]))
  worst = np.argsort(errors["rotation_errors_deg"])[::-1][:3]
  return dict(
      scene=name, registered=report["images_registered"],
      given=report["images_given"], compared=len(common),
      rms_center_rel=errors["rms_center_rel"],
      mean_rotation_deg=errors["mean_rotation_deg"],
      max_rotation_deg=errors["max_rotation_deg"],
      worst=[(common[i], float(errors["rotation_errors_deg"][i]))
             for i in worst],
      reprojection_px=report["mean_reprojection_error_px"],
      fl_x=report["intrinsics"]["fl_x"], fl_y=report["intrinsics"]["fl_y"],
      seconds=seconds, stage_seconds=report["seconds"])


def flags():
  p = cli.FlagParser(prog="bench/sfm_accuracy.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--scenes", default="fern,cake")
  p.add_argument("--work", default="/tmp/sfm_accuracy")
  p.add_argument("--data", default=DATA)
  return p


def job(args):
  results = []
  for name in args.scenes.split(","):
    r = run_scene(name, args.data, args.work)
    results.append(r)
    ok = (r["registered"] == r["given"] and r["rms_center_rel"] < 0.02 and
          r["mean_rotation_deg"] < 1.0)
    print(f"\n{name}: registered {r['registered']}/{r['given']}, compared "
          f"{r['compared']} with the reference; RMS centre error "
          f"{100 * r['rms_center_rel']:.2f} % of the spread, rotation error "
          f"mean {r['mean_rotation_deg']:.3f} deg, max "
          f"{r['max_rotation_deg']:.3f} deg; reprojection "
          f"{r['reprojection_px']:.3f} px; fl_x {r['fl_x']:.1f} fl_y "
          f"{r['fl_y']:.1f}; {r['seconds']:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in r['stage_seconds'].items())})"
          f"; targets {'met' if ok else 'MISSED'}", flush=True)
  with open(os.path.join(args.work, "results.json"), "w") as f:
    json.dump(results, f, indent=2)


def main(argv=None) -> int:
  return cli.main("bench/sfm_accuracy.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
