"""Own photos end to end: SfM (process_data.py) -> the hash-grid field ->
held-out PSNR/SSIM, with the wall time of every stage.

  flock /tmp/cpu.lock python bench/capture_end_to_end.py --scene fern
  flock /tmp/cpu.lock python bench/capture_end_to_end.py --scene cake

fern: `nerf_llff_data/fern/images_8` (20 photos, 504x378) through
process_data.py, configs/instant_ngp_capture.py trained on every image but
each 8th and evaluated on those (0, 8, 16); then the same config on the
same photos posed by `poses_bounds.npy` instead (written as a
transforms.json; its sparse points are SfM's, moved into the reference
frame by the similarity that aligns the two sets of poses, so near/far
agree). Target (issue #10): PSNR within 1 dB of the provided poses, the
whole SfM path under 15 minutes on 2 cores.

cake: `captures/cake/rgb/1x` (100 frames) through process_data.py with
sequential matching, trained with the same unbounded config at half size
(240x428) on dataset.json's train_ids, evaluated on its val_ids; an orbit
of the scene as a GIF. --config splat_capture trains Gaussian splats on the
same scene instead; docs/BENCHMARKS.md rows G24-G28 compare the two at
equal time (both at once, and in sequence).

--sfm_dir reuses a process_data.py output (bench/sfm_accuracy.py's) and
counts its recorded time. --data defaults to $JAXNERF_SHARED_DATA, else
../shared/data.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

from jaxnerf.data import colmap_model
from jaxnerf.engine import cli
from jaxnerf.posing import pipeline, sfm
from jaxnerf.posing.capture import Log
from jaxnerf.data.loaders import llff, nerfstudio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("JAXNERF_SHARED_DATA",
                      os.path.join(os.path.dirname(REPO), "shared", "data"))


def run(cmd, log_path):
  """Runs a command (output to a log file, its wall and CPU seconds last);
  returns its wall time."""
  start, cpu = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
  with open(log_path, "w") as f:
    result = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO})
    wall = time.time() - start
    end = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = end.ru_utime - cpu.ru_utime + end.ru_stime - cpu.ru_stime
    # On a shared machine the CPU time, not the wall, compares speeds.
    f.write(f"wall {wall:.1f} s, CPU {used:.1f} s\n")
  if result.returncode:
    raise SystemExit(f"failed ({result.returncode}): {' '.join(cmd)}; see "
                     f"{log_path}")
  return wall


def process(images, output, matching, sfm_dir=None):
  """process_data.py's output (reused from sfm_dir if given): (folder,
  seconds)."""
  if sfm_dir:
    report = json.load(open(os.path.join(sfm_dir, pipeline.REPORT_FILE)))
    return sfm_dir, report["seconds"]["total"]
  os.makedirs(output, exist_ok=True)
  start = time.time()
  pipeline.process(pipeline.Request(output=output, images=images,
                                    sfm=sfm.SfmOptions(matching=matching)),
                 Log(os.path.join(output, pipeline.LOG_FILE)))
  return output, time.time() - start


def train_and_eval(data_dir, train_dir, fields, split="test",
                   config="instant_ngp_capture"):
  """(train seconds, eval seconds, metrics.json of the eval, the extra
  render flags: a field's render samples per ray and chunk)."""
  if os.path.isdir(train_dir):
    shutil.rmtree(train_dir)
  os.makedirs(train_dir)
  args = [f"--config={config}", f"--config.data_dir={data_dir}",
          f"--config.train_dir={train_dir}"] + [
              f"--config.{k}={v}" for k, v in fields.items()]
  t_train = run([sys.executable, "train.py"] + args,
                os.path.join(train_dir, "train.log"))
  if config.startswith("splat"):  # cameras rasterised: no sample budget
    t_eval = run([sys.executable, "eval.py"] + args +
                 [f"--config.eval_split={split}",
                  "--config.save_video=false", "--config.compute_lpips=true"],
                 os.path.join(train_dir, "eval.log"))
    return t_train, t_eval, eval_metrics(train_dir, split), []
  # Size the packed render budget to the trained grid (bench/probe_samples.py)
  # and keep about 2^18 samples per render call.
  probe_log = os.path.join(train_dir, "probe.log")
  t_probe = run([sys.executable, os.path.join("bench", "probe_samples.py")]
                + args + [f"--config.eval_split={split}"], probe_log)
  per_ray = int(open(probe_log).read().split(
      "suggested render_samples_per_ray")[-1].split()[0])
  chunk = max(64, (2**18 // per_ray) // 64 * 64)
  t_eval = t_probe + run(
      [sys.executable, "eval.py"] + args +
      [f"--config.eval_split={split}", "--config.save_video=false",
       "--config.compute_lpips=true",
       f"--config.render_samples_per_ray={per_ray}",
       f"--config.chunk={chunk}"], os.path.join(train_dir, "eval.log"))
  return t_train, t_eval, eval_metrics(train_dir, split), [
      f"--config.render_samples_per_ray={per_ray}", f"--config.chunk={chunk}"]


def eval_metrics(train_dir, split):
  evals = [d for d in os.listdir(train_dir) if d.startswith(f"eval_{split}")]
  return json.load(open(os.path.join(train_dir, evals[0], "metrics.json")))


def per_image(metrics):
  return ", ".join(f"{r['name']} {r['psnr']:.2f}" for r in metrics["images"])


def provided_fern(data, sfm_out, output):
  """fern posed by poses_bounds.npy, as a transforms.json next to links to
  the photos; the SfM points moved into its frame."""
  fern = os.path.join(data, "nerf_llff_data", "fern")
  poses, _ = llff.read_poses_bounds(os.path.join(fern, "poses_bounds.npy"))
  reference = llff.reorder_poses(poses)[:, :, :4]
  names = [os.path.basename(p) for p in
           llff.list_images(os.path.join(fern, "images_8"))]
  os.makedirs(output, exist_ok=True)
  for folder in ("images",):
    link = os.path.join(output, folder)
    if not os.path.exists(link):
      os.symlink(os.path.join(fern, "images_8"), link)
  h, w, focal = poses[0, :, 4]
  width, height = 504, 378
  estimated = {os.path.basename(f["file_path"]):
               np.asarray(f["transform_matrix"])[:3]
               for f in nerfstudio.read_transforms(os.path.join(
                   sfm_out, "transforms.json"))["frames"]}
  common = [n for n in names if n in estimated]
  errors = sfm.pose_errors(np.stack([estimated[n] for n in common]),
                           np.stack([reference[names.index(n)]
                                     for n in common]))
  points, colours = colmap_model.read_ply(os.path.join(sfm_out,
                                                      pipeline.PLY_FILE))
  points = points @ errors["rotation"].T * errors["scale"] + errors[
      "translation"]
  colmap_model.write_ply(
      os.path.join(output, pipeline.PLY_FILE), points,
      np.zeros_like(points, np.uint8) if colours is None else
      np.round(colours * 255))
  nerfstudio.write_transforms(
      os.path.join(output, "transforms.json"),
      [f"images/{n}" for n in names], reference,
      dict(fl_x=focal * width / w, fl_y=focal * width / w, cx=width / 2,
           cy=height / 2, w=width, h=height),
      ply_file_path=pipeline.PLY_FILE)
  return output


def fern(args):
  data = args.data
  work = os.path.join(args.work, "fern")
  sfm_out, t_sfm = process(os.path.join(data, "nerf_llff_data", "fern",
                                        "images_8"),
                           os.path.join(work, "sfm"), "exhaustive",
                           args.sfm_dir)
  fields = dict(max_steps=args.steps, max_time_minutes=args.minutes,
                schedule_clock=args.clock)
  t_train, t_eval, m_sfm, _ = train_and_eval(
      sfm_out, os.path.join(work, "run_sfm"), fields, config=args.config)
  ref = provided_fern(data, sfm_out, os.path.join(work, "provided"))
  r_train, r_eval, m_ref, _ = train_and_eval(
      ref, os.path.join(work, "run_provided"), fields, config=args.config)
  total = t_sfm + t_train + t_eval
  print(f"\nfern, SfM poses: psnr {m_sfm['mean']['psnr']:.2f} ssim "
        f"{m_sfm['mean']['ssim']:.4f} at step {m_sfm['step']} "
        f"({per_image(m_sfm)})"
        f"; SfM {t_sfm:.0f} s + train {t_train:.0f} s + eval {t_eval:.0f} s "
        f"= {total / 60:.1f} min")
  print(f"fern, provided poses: psnr {m_ref['mean']['psnr']:.2f} ssim "
        f"{m_ref['mean']['ssim']:.4f} at step {m_ref['step']} "
        f"({per_image(m_ref)})"
        f"; train {r_train:.0f} s + eval {r_eval:.0f} s")
  diff = m_sfm["mean"]["psnr"] - m_ref["mean"]["psnr"]
  print(f"difference {diff:+.2f} dB (target: within 1 dB); total "
        f"{total / 60:.1f} min (target < 15)")


def cake(args):
  data = args.data
  work = os.path.join(args.work, "cake")
  root = os.path.join(data, "captures", "cake")
  sfm_out, t_sfm = process(os.path.join(root, "rgb", "1x"),
                           os.path.join(work, "sfm"), "sequential",
                           args.sfm_dir)
  # The capture's split, as nerfstudio's split lists, in a copy of the
  # transforms.json next to the SfM output's images.
  split = json.load(open(os.path.join(root, "dataset.json")))
  scene = os.path.join(work, "scene")
  os.makedirs(scene, exist_ok=True)
  for sub in ("images", "images_2", "images_4", "images_8", pipeline.PLY_FILE):
    link = os.path.join(scene, sub)
    if not os.path.exists(link):
      os.symlink(os.path.abspath(os.path.join(sfm_out, sub)), link)
  meta = nerfstudio.read_transforms(os.path.join(sfm_out, "transforms.json"))
  registered = {os.path.basename(f["file_path"]) for f in meta["frames"]}
  meta["train_filenames"] = [f"images/{i}.png" for i in split["train_ids"]
                             if f"{i}.png" in registered]
  meta["val_filenames"] = [f"images/{i}.png" for i in split["val_ids"]]
  missing = [n for n in meta["val_filenames"]
             if os.path.basename(n) not in registered]
  if missing:
    raise SystemExit(f"val images not registered by SfM: {missing}")
  with open(os.path.join(scene, "transforms.json"), "w") as f:
    json.dump(meta, f, indent=1)
  fields = dict(max_steps=args.steps, max_time_minutes=args.minutes,
                schedule_clock=args.clock, factor=2)
  run_dir = os.path.join(work, "run_" + args.config)
  t_train, t_eval, m, render_flags = train_and_eval(
      scene, run_dir, fields, split="val", config=args.config)
  print(f"\ncake, {args.config} (rgb/1x -> SfM, "
        f"{len(meta['train_filenames'])} train "
        f"views at 240x428): val psnr {m['mean']['psnr']:.2f} ssim "
        f"{m['mean']['ssim']:.4f} lpips {m['mean']['lpips']:.4f} "
        f"at step {m['step']} "
        f"({per_image(m)})"
        f"; SfM {t_sfm:.0f} s + train {t_train:.0f} s + eval {t_eval:.0f} s")
  if args.orbit:
    t = run([sys.executable, os.path.join("bench", "render_orbit.py"),
             f"--config={args.config}", f"--config.data_dir={scene}",
             f"--config.train_dir={run_dir}",
             "--config.factor=4", f"--out={args.orbit}"] + render_flags,
            os.path.join(work, "orbit.log"))
    print(f"orbit: {args.orbit} ({os.path.getsize(args.orbit) / 1e3:.0f} kB,"
          f" {t:.0f} s)")


def flags():
  p = cli.FlagParser(prog="bench/capture_end_to_end.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--scene", choices=["fern", "cake"], required=True)
  p.add_argument("--work", default="/tmp/capture_end_to_end")
  p.add_argument("--data", default=DATA)
  p.add_argument("--sfm_dir", default=None)
  p.add_argument("--config", default="instant_ngp_capture",
                 choices=("instant_ngp_capture", "splat_capture"),
                 help="the method trained on the posed photos")
  p.add_argument("--steps", type=cli.integer(1), default=2000)
  p.add_argument("--minutes", type=cli.number(0.0), default=0.0)
  p.add_argument("--orbit", default=None, help="cake: write an orbit GIF")
  p.add_argument("--clock", choices=("steps", "time"), default="steps",
                 help="what the schedules follow (config.schedule_clock); "
                 "'time' needs --minutes")
  return p


def job(args):
  {"fern": fern, "cake": cake}[args.scene](args)


def main(argv=None) -> int:
  return cli.main("bench/capture_end_to_end.py", job, flags(), argv,
                  config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
