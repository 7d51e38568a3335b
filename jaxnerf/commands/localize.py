"""Localises a photo in a trained scene (iNeRF): its camera-to-world pose by
gradient descent on the photometric loss through the frozen field.

  python localize.py --config=instant_ngp_demo --train_dir runs/instant_ngp_demo
      --image photo.png --init_pose guess.json [--sampling interest|random]
      [--iterations 300] [--batch_size 512] [--seed 0] [--output pose.json]

Flags take `--flag value` or `--flag=value`; `--train_dir DIR` is
`--config.train_dir=DIR`, and any `--config.FIELD=VALUE` works;
`--config=<train_dir>` alone loads the run's recorded config. The photo
must have the size of the run's cameras (the first training camera's
intrinsics are used). --init_pose is a .npy or JSON 4x4/3x4 camera-to-world
matrix (bare or under "transform_matrix", Blender convention). The result
({"transform_matrix": 4x4, "loss_first", "loss_last", "seconds"}) is printed
as JSON and, with --output, written there. Bad flags, files or values are
one-line errors (exit status 1).
"""

import os
import sys

from jaxnerf.engine import cli


def flags():
  from jaxnerf.posing.localization import Options, SAMPLINGS
  d = Options()
  p = cli.FlagParser(prog="localize.py")
  p.add_argument("--image", required=True, help="the photo")
  p.add_argument("--init_pose", required=True,
                 help="initial camera-to-world pose (.npy or JSON)")
  p.add_argument("--sampling", choices=SAMPLINGS, default=d.sampling)
  p.add_argument("--iterations", type=cli.integer(1), default=d.iterations)
  p.add_argument("--batch_size", type=cli.integer(1), default=d.batch_size)
  p.add_argument("--seed", type=cli.integer(0, 2**32 - 1), default=0)
  p.add_argument("--output", default="", help="also write the result here")
  p.add_config_field("--train_dir", "train_dir",
                     help="the trained run (= --config.train_dir)")
  return p


def check(config, args) -> None:
  """The paths, before any work (the values were checked while parsing).

  Raises:
    UserError: naming the flag.
  """
  from jaxnerf.engine import evaluator
  cli.check_input_file(args.image, "--image")
  cli.check_input_file(args.init_pose, "--init_pose")
  if args.output:
    cli.check_output_file(args.output, "--output")
  evaluator.check_checkpoints(config)  # --train_dir


def job(config, args):
  import json
  from jaxnerf import files
  from jaxnerf.posing import localization
  from jaxnerf.posing.localization import LocalizationError
  check(config, args)
  options = localization.Options(sampling=args.sampling,
                                 iterations=args.iterations,
                                 batch_size=args.batch_size)
  result = localization.localize_photo(config, args.image, args.init_pose,
                                       options, args.seed)
  text = json.dumps(result, indent=1)
  print(text)
  if args.output:
    try:
      os.makedirs(os.path.dirname(os.path.abspath(args.output)),
                  exist_ok=True)
      with files.atomic_open(args.output) as f:
        json.dump({"comment": f"{files.SIGNATURE} (localize.py)", **result},
                  f, indent=1)
        f.write("\n")
    except OSError as e:
      raise LocalizationError(f"--output: {args.output}: {e.strerror}") \
          from None


def main(argv=None) -> int:
  return cli.main("localize.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
