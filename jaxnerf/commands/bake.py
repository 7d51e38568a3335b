"""Bakes a trained run into a block-sparse grid (PlenOctrees / SNeRG) and
optionally fine-tunes the baked values on the training images.

  python bake.py --config=instant_ngp_demo [--resolution 256]
      [--finetune_steps 1000] [--out runs/instant_ngp_demo/baked.npz]

Writes <train_dir>/baked.npz (and <name>_finetuned.npz after fine-tuning);
score it with `python eval.py --config=... --config.render_baked=true
[--config.baked_file=PATH]`.
"""

import os
import sys
import time

from jaxnerf import cli
from jaxnerf.baking import BakeOptions
from jaxnerf.baked_finetune import FinetuneOptions


def flags():
  d, f = BakeOptions(), FinetuneOptions()
  p = cli.FlagParser(prog="bake.py")
  p.add_argument("--resolution", type=int, default=d.resolution)
  p.add_argument("--block_size", type=int, default=d.block_size)
  p.add_argument("--cull_threshold", type=float, default=d.cull_threshold)
  p.add_argument("--sh_degree", type=int, default=d.sh_degree)
  p.add_argument("--step_ratio", type=float, default=d.step_ratio)
  p.add_argument("--cull_ray_stride", type=int, default=d.cull_ray_stride)
  p.add_argument("--bound", type=float, default=0.0,
                 help="scene box half-size (default: config.scene_bound)")
  p.add_argument("--out", default="", help="default: <train_dir>/baked.npz")
  p.add_argument("--input", default="",
                 help="fine-tune this baked file instead of baking")
  p.add_argument("--finetune_steps", type=int, default=0)
  p.add_argument("--finetune_lr", type=float, default=f.lr)
  p.add_argument("--finetune_batch_size", type=int, default=f.batch_size)
  return p


def job(config, args):
  import dataclasses
  from jaxnerf import baked_finetune, baking, evaluator, exports
  out = args.out or os.path.join(config.train_dir, evaluator.BAKED_FILE)
  bound = exports.scene_bound(config, args.bound)
  options = BakeOptions(
      resolution=args.resolution, block_size=args.block_size,
      cull_threshold=args.cull_threshold, sh_degree=args.sh_degree,
      step_ratio=args.step_ratio, cull_ray_stride=args.cull_ray_stride)
  if args.input:
    scene = baking.load(args.input, config.method)
  else:
    baking.check_options(options)  # before restoring anything
    field = exports.restore_field(config)
    _, rays, _ = exports.training_rays(config)
    t0 = time.time()
    scene = baking.bake(field.model, field.variables, rays, bound,
                        config.white_bkgd, config.method, field.step,
                        options)
    size = baking.save(out, scene)
    print(f"baked {scene.num_blocks} blocks of {scene.block_size}^3 cells "
          f"({scene.resolution}^3 grid, SH degree {scene.sh_degree}) in "
          f"{time.time() - t0:.0f} s -> {out} ({size / 2**20:.1f} MiB)",
          flush=True)
  if args.finetune_steps > 0:
    _, rays, rgb = exports.training_rays(config)
    t0 = time.time()
    scene = baked_finetune.finetune(scene, rays, rgb, FinetuneOptions(
        steps=args.finetune_steps, lr=args.finetune_lr,
        batch_size=args.finetune_batch_size))
    base = args.input or out
    tuned = base[:-4] + "_finetuned.npz" if base.endswith(".npz") else \
        base + "_finetuned.npz"
    size = baking.save(tuned, dataclasses.replace(scene))
    print(f"fine-tuned {args.finetune_steps} steps in "
          f"{time.time() - t0:.0f} s -> {tuned} ({size / 2**20:.1f} MiB)",
          flush=True)


def main(argv=None) -> int:
  return cli.main("bake.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
