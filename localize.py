"""Localises a photo in a trained scene (iNeRF): its camera-to-world pose by
gradient descent on the photometric loss through the frozen field.

  python localize.py --config=instant_ngp_demo --train_dir=runs/instant_ngp_demo \
      --image=photo.png --init_pose=guess.json [--sampling=interest|random] \
      [--iterations=300] [--batch_size=512] [--seed=0] [--output=pose.json]

The photo must have the size of the run's cameras (their intrinsics are
used). --init_pose is a .npy or JSON 4x4/3x4 camera-to-world matrix (bare or
under "transform_matrix", Blender convention). The result is printed and,
with --output, written as JSON with "transform_matrix".
"""

import json
import sys

from jaxnerf import cli, host_memory

FLAGS = ("image", "init_pose", "sampling", "iterations", "batch_size",
         "seed", "output", "train_dir")
USAGE = ("usage: python localize.py --config=NAME|PATH --train_dir=DIR "
         "--image=PHOTO --init_pose=POSE [--sampling=interest|random] "
         "[--iterations=N] [--batch_size=N] [--seed=N] [--output=FILE] "
         "[--config.FIELD=VALUE ...]")


def split_flags(argv):
  """(our flags {name: value}, the rest for the config parser)."""
  ours, rest = {}, []
  for arg in argv:
    name, _, value = arg[2:].partition("=") if arg.startswith("--") else \
        ("", "", "")
    if name in FLAGS:
      if name == "train_dir":
        rest.append(f"--config.train_dir={value}")
      else:
        ours[name] = value
    else:
      rest.append(arg)
  return ours, rest


def main(config, flags):
  from jaxnerf import localization
  from jaxnerf.localization import LocalizationError
  for required in ("image", "init_pose"):
    if not flags.get(required):
      raise LocalizationError(f"--{required} is required; {USAGE}")
  options = {}
  for name in ("iterations", "batch_size", "seed"):
    if name in flags:
      try:
        options[name] = int(flags[name])
        if options[name] < (0 if name == "seed" else 1):
          raise ValueError
      except ValueError:
        raise LocalizationError(f"--{name}: expected a positive integer, "
                                f"got {flags[name]!r}") from None
  seed = options.pop("seed", 0)
  sampling = flags.get("sampling", "interest")
  if sampling not in localization.SAMPLINGS:
    raise LocalizationError(f"--sampling: unknown {sampling!r}; known: "
                            f"{list(localization.SAMPLINGS)}")
  result = localization.localize_photo(
      config, flags["image"], flags["init_pose"],
      localization.Options(sampling=sampling, **options), seed)
  text = json.dumps(result, indent=1)
  print(text)
  if flags.get("output"):
    with open(flags["output"], "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  host_memory.reexec_with_huge_pages()
  flags, rest = split_flags(sys.argv[1:])
  sys.exit(cli.run([sys.argv[0]] + rest, "localize.py",
                   lambda config: main(config, flags)))
