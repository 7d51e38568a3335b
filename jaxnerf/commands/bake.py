"""Bakes a trained run into a block-sparse grid (PlenOctrees / SNeRG) and
optionally fine-tunes the baked values on the training images.

  python bake.py --config=instant_ngp_demo [--resolution 256]
      [--finetune_steps 1000] [--out runs/instant_ngp_demo/baked.npz]
  python bake.py --config=runs/instant_ngp_demo  # the run's recorded config

Writes <train_dir>/baked.npz (and <name>_finetuned.npz after fine-tuning);
score it with `python eval.py --config=... --config.render_baked=true
[--config.baked_file=PATH]`.
"""

import os
import sys
import time

from jaxnerf.engine import cli
from jaxnerf.baked.bake import BakeOptions
from jaxnerf.baked.finetune import FinetuneOptions


def flags():
  from jaxnerf.fields import encoding
  d, f = BakeOptions(), FinetuneOptions()
  p = cli.FlagParser(prog="bake.py")
  p.add_argument("--resolution", type=cli.integer(1), default=d.resolution,
                 help="cells per axis (a multiple of --block_size)")
  p.add_argument("--block_size", type=cli.integer(1), default=d.block_size)
  p.add_argument("--cull_threshold", type=cli.number(0.0, below=1.0),
                 default=d.cull_threshold,
                 help="blocks no training ray weighs more are dropped")
  p.add_argument("--sh_degree", type=cli.integer(0, encoding.MAX_SH_DEGREE),
                 default=d.sh_degree)
  p.add_argument("--step_ratio", type=cli.number(above=0.0),
                 default=d.step_ratio, help="render step / cell size")
  p.add_argument("--cull_ray_stride", type=cli.integer(1),
                 default=d.cull_ray_stride)
  p.add_argument("--cell_cull_threshold", type=cli.number(0.0, below=1.0),
                 default=d.cell_cull_threshold,
                 help="vertices of no cell a training ray weighs more get "
                 "density 0 (0: off)")
  p.add_argument("--density_threshold", type=cli.number(0.0),
                 default=d.density_threshold,
                 help="vertices of lower density are empty (KiloNeRF's "
                 "occupancy rule; 0: off)")
  p.add_argument("--bound", type=cli.number(0.0), default=0.0,
                 help="scene box half-size (default 0: config.scene_bound)")
  p.add_argument("--out", default="", help="default: <train_dir>/baked.npz")
  p.add_argument("--input", default="",
                 help="fine-tune this baked file instead of baking")
  p.add_argument("--finetune_steps", type=cli.integer(0), default=0)
  p.add_argument("--finetune_lr", type=cli.number(above=0.0), default=f.lr)
  p.add_argument("--finetune_batch_size", type=cli.integer(1),
                 default=f.batch_size)
  return p


def finetuned_path(base: str) -> str:
  """Where the fine-tuned scene of `base` goes: <name>_finetuned.npz."""
  stem = base[:-4] if base.endswith(".npz") else base
  return stem + "_finetuned.npz"


def check(config, args) -> tuple[BakeOptions, str]:
  """Every flag, before any work: (the bake's options, its output path).

  Raises:
    UserError: naming the flag.
  """
  from jaxnerf.baked import bake as baking
  from jaxnerf.engine import evaluator, runs
  out = args.out or os.path.join(config.train_dir, evaluator.BAKED_FILE)
  options = BakeOptions(
      resolution=args.resolution, block_size=args.block_size,
      cull_threshold=args.cull_threshold, sh_degree=args.sh_degree,
      step_ratio=args.step_ratio, cull_ray_stride=args.cull_ray_stride,
      cell_cull_threshold=args.cell_cull_threshold,
      density_threshold=args.density_threshold)
  runs.scene_bound(config, args.bound)  # a scene that has a box
  if args.input:
    cli.check_input_file(args.input, "--input")
    if args.finetune_steps == 0:
      from jaxnerf.errors import ConfigError
      raise ConfigError("--input: fine-tunes a baked file; give "
                        "--finetune_steps N (> 0) too")
  else:
    cli.check_output_file(out, "--out", baking.is_baked_file)
    baking.check_options(options)
  if args.finetune_steps > 0:
    from jaxnerf import methods
    if baking.has_tiny_networks(
        methods.get(config.method, config.get("backbone", "")).build_model(
            config, None)):
      from jaxnerf.errors import ConfigError
      raise ConfigError("--finetune_steps: a scene of tiny networks keeps "
                        "no grid values to fine-tune; train the run longer "
                        "with train.py instead")
    cli.check_output_file(finetuned_path(args.input or out),
                          "--input" if args.input else "--out",
                          baking.is_baked_file)
  return options, out


def job(config, args):
  import dataclasses
  from jaxnerf.baked import bake as baking, finetune as baked_finetune
  from jaxnerf.engine import runs
  options, out = check(config, args)
  bound = runs.scene_bound(config, args.bound)
  if args.input:
    scene = baking.load(args.input, config.method)
  else:
    field = runs.restore_field(config)
    _, rays, _ = runs.training_rays(config)
    t0 = time.time()
    scene = baking.bake(field.model, field.variables, rays, bound,
                        config.white_bkgd, config.method, field.step,
                        options)
    size = baking.save(out, scene)
    colour = scene.describe_colour()
    print(f"baked {scene.num_blocks} blocks of {scene.block_size}^3 cells "
          f"({scene.resolution}^3 grid, {colour}) in "
          f"{time.time() - t0:.0f} s -> {out} ({size / 2**20:.1f} MiB)",
          flush=True)
  if args.finetune_steps > 0:
    _, rays, rgb = runs.training_rays(config)
    t0 = time.time()
    scene = baked_finetune.finetune(scene, rays, rgb, FinetuneOptions(
        steps=args.finetune_steps, lr=args.finetune_lr,
        batch_size=args.finetune_batch_size))
    tuned = finetuned_path(args.input or out)
    size = baking.save(tuned, dataclasses.replace(scene))
    print(f"fine-tuned {args.finetune_steps} steps in "
          f"{time.time() - t0:.0f} s -> {tuned} ({size / 2**20:.1f} MiB)",
          flush=True)


def main(argv=None) -> int:
  return cli.main("bake.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
