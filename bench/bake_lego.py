"""Field vs baked vs baked + fine-tuned on a trained run: PSNR/SSIM of the
test split (eval.py's numbers), file size, bake and fine-tune time, and the
time to render one 100x100 and one 800x800 view with the field and with
the baked scene, in the same process; then the mesh (marching cubes) with
its largest component, and a picture of it.

  flock /tmp/cpu.lock python bench/bake_lego.py --config=instant_ngp_demo \
      --config.color_mode=sh --config.train_dir=runs/ngp_sh \
      [--resolution 256] [--finetune_steps 1000] [--picture docs/lego_mesh.png]

Run it after train.py; it writes baked.npz, baked_finetuned.npz, the eval
folders, mesh.ply/.obj in train_dir and prints one table.
"""

import json
import os
import sys
import time

import jax
import numpy as np

from jaxnerf.baked import bake as baking, finetune as baked_finetune, render
from jaxnerf.core import cameras
from jaxnerf.engine import cli, evaluator, parallel, runs
from jaxnerf.export import geometry
from jaxnerf.data.dataset import load_dataset


def timed(fn, repeats=3):
  """(best seconds, first call seconds, result): the first call compiles
  what it has not seen yet; the best of `repeats` more calls is the time."""
  t = time.perf_counter()
  out = fn()
  first = time.perf_counter() - t
  best = first if repeats == 0 else float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - t)
  return best, first, out


def view_rays(dataset, size):
  """Rays of test view 0 at size x size (focal scaled with the width)."""
  scale = size / dataset.width
  cams = cameras.Cameras.create(dataset.camtoworlds[:1],
                                dataset.focal * scale, size, size,
                                dataset.near, dataset.far)
  return cameras.image_rays(cams, 0)


def mesh_picture(path, verts, faces, colours, size=480):
  """A flat-shaded picture of the mesh (painter's algorithm, Pillow)."""
  from PIL import Image, ImageDraw
  c2w = cameras.pose_spherical(-30, -30, 4.0)
  rot, origin = c2w[:3, :3], c2w[:3, 3]
  cam = (verts - origin) @ rot  # camera coordinates, looking down -z
  focal = size * 1.3
  xy = np.stack([focal * cam[:, 0] / -cam[:, 2] + size / 2,
                 -focal * cam[:, 1] / -cam[:, 2] + size / 2], -1)
  tri = verts[faces]
  normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
  light = rot @ np.array([0.3, 0.5, 1.0])
  light /= np.linalg.norm(light)
  shade = 0.35 + 0.65 * np.abs(normal @ light)
  colour = colours[faces].mean(1) * shade[:, None]
  depth = cam[faces][:, :, 2].mean(1)
  image = Image.new("RGB", (size, size), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  for f in np.argsort(depth):  # far (most negative z) first
    draw.polygon([tuple(p) for p in xy[faces[f]]],
                 fill=tuple((np.clip(colour[f], 0, 1) * 255).astype(int)))
  image.save(path)


def job(config, args):
  mesh = parallel.make_mesh()
  out = {}
  test = load_dataset(config, config.eval_split)
  # PSNR of the field (eval.py).
  with config.unlocked():
    config.save_video = False
  out["field"] = evaluator.evaluate(config)["mean"]

  baked_path = os.path.join(config.train_dir, "baked.npz")
  field = runs.restore_field(config)
  _, rays, rgb = runs.training_rays(config)
  options = baking.BakeOptions(resolution=args.resolution)
  t = time.perf_counter()
  scene = baking.bake(field.model, field.variables, rays,
                      runs.scene_bound(config), config.white_bkgd,
                      config.method, field.step, options)
  out["bake_seconds"] = time.perf_counter() - t
  out["bake_mib"] = baking.save(baked_path, scene) / 2**20
  out["blocks"] = scene.num_blocks
  t = time.perf_counter()
  tuned = baked_finetune.finetune(scene, rays, rgb,
                                  baked_finetune.FinetuneOptions(
                                      steps=args.finetune_steps))
  out["finetune_seconds"] = time.perf_counter() - t
  tuned_path = os.path.join(config.train_dir, "baked_finetuned.npz")
  out["finetuned_mib"] = baking.save(tuned_path, tuned) / 2**20
  for name, path in (("baked", baked_path), ("finetuned", tuned_path)):
    with config.unlocked():
      config.render_baked, config.baked_file = True, path
    out[name] = evaluator.evaluate(config)["mean"]
  with config.unlocked():
    config.render_baked, config.baked_file = False, ""

  # One view at 100x100 and 800x800: field and baked, same process.
  field_render = evaluator.field_renderer(config, mesh).render_rays
  baked_renderer = render.make_renderer(baking.load(tuned_path))
  for size in (100, 800):
    view = view_rays(test, size)
    for name, fn in (("field", field_render),
                     ("baked", baked_renderer.render_image)):
      # The field's chunk is compiled by the 100x100 view already; its
      # 800x800 view (minutes) is timed once.
      repeats = 3 if name == "baked" else (1 if size == 100 else 0)
      best, first, image = timed(lambda fn=fn: fn(view), repeats)
      out[f"{name}_{size}_seconds"] = best
      out[f"{name}_{size}_first_seconds"] = first
      out[f"{name}_{size}_mean_rgb"] = float(np.mean(image["rgb"]))
  # The mesh of the field.
  apply = field.model.apply
  density = jax.jit(lambda p: apply(field.variables, p, method="density"))
  radiance = jax.jit(lambda p, d: apply(field.variables, p, d,
                                        method="radiance"))
  verts, faces = geometry.extract_mesh(
      density, runs.scene_bound(config), args.mesh_resolution,
      args.threshold)
  colours = geometry.diffuse_colours(radiance, verts)
  geometry.write_mesh(os.path.join(config.train_dir, "mesh"), verts,
                      faces, colours)
  out["mesh_vertices"], out["mesh_faces"] = len(verts), len(faces)
  out["mesh_largest_component"] = geometry.largest_component_fraction(
      verts, faces)
  out["mesh_bounds"] = [verts.min(0).tolist(), verts.max(0).tolist()]
  if args.picture:
    mesh_picture(args.picture, verts, faces, colours)
  print(json.dumps(out, indent=1))
  for name in ("field", "baked", "finetuned"):
    print(f"{name:10s} psnr {out[name]['psnr']:.2f}  ssim "
          f"{out[name]['ssim']:.4f}")
  for size in (100, 800):
    f, b = out[f"field_{size}_seconds"], out[f"baked_{size}_seconds"]
    print(f"{size}x{size}: field {f:.3f} s, baked {b:.3f} s ({f / b:.1f}x)")


def flags():
  parser = cli.FlagParser(prog="bench/bake_lego.py")
  parser.add_argument("--resolution", type=cli.integer(1), default=256)
  parser.add_argument("--finetune_steps", type=cli.integer(0), default=1000)
  parser.add_argument("--mesh_resolution", type=cli.integer(2), default=256)
  parser.add_argument("--threshold", type=cli.number(), default=10.0)
  parser.add_argument("--picture", default="")
  return parser


def main(argv=None) -> int:
  return cli.main("bench/bake_lego.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
