"""Poses your own photos or video with Structure-from-Motion (pycolmap).

  python process_data.py --images DIR --output DIR
  python process_data.py --video FILE --output DIR [--num_frames N]

Writes a nerfstudio-style transforms.json (train with
--config.dataset_type=nerfstudio --config.data_dir=DIR), the COLMAP model,
downscaled copies, the sparse points, report.json and a log (see
jaxnerf/posing/pipeline.py). Photos given as DIR/images (nerfstudio's layout)
are used in place. Nothing in the input is modified, and nothing in the output
folder that this program did not write is replaced. Bad input is one line
on stderr and exit status 1, before anything is written.
"""

import sys

from jaxnerf.engine import cli


def flags():
  from jaxnerf.posing import sfm
  p = cli.FlagParser(prog="process_data.py",
                     description="Pose photos or a video with SfM (pycolmap).")
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--images", help="a folder of photos (PNG or JPG)")
  source.add_argument("--video", help="a video file")
  p.add_argument("--output", required=True,
                 help="the output folder (its parent must exist); DIR/images "
                 "may hold the photos already (--images DIR/images)")
  p.add_argument("--num_frames", type=int, default=None,
                 help="video only: frames to take, evenly spaced (default "
                 "100, at least 3)")
  p.add_argument("--camera_model", default="OPENCV", choices=sfm.CAMERA_MODELS,
                 help="the shared camera's model (default OPENCV)")
  p.add_argument("--matching", choices=sfm.MATCHERS, default=None,
                 help="exhaustive (default for photos) or sequential "
                 "(default for a video)")
  p.add_argument("--overlap", type=int, default=None,
                 help="sequential matching only: neighbours per frame "
                 "(default 10, at least 1)")
  p.add_argument("--max_features", type=int, default=8192,
                 help="SIFT features per image (default 8192, at least 1)")
  p.add_argument("--max_image_size", type=int, default=3200,
                 help="SIFT runs on images at most this large (default 3200,"
                 f" at least {sfm.MIN_IMAGE_SIZE})")
  p.add_argument("--num_threads", type=int, default=-1,
                 help="COLMAP's threads (default -1: all cores); with "
                 "several, SfM is not deterministic, 1 gives the same poses "
                 "on every run")
  return p


def request(args):
  """The posing.Request of parsed flags."""
  from jaxnerf.posing import pipeline, sfm
  from jaxnerf.errors import ConfigError
  matching = args.matching or ("sequential" if args.video else "exhaustive")
  if args.overlap is not None and matching != "sequential":
    raise ConfigError(f"--overlap: only for sequential matching (--matching "
                      f"sequential; the default for a video), not {matching}")
  overlap = sfm.SfmOptions.overlap if args.overlap is None else args.overlap
  return pipeline.Request(
      output=args.output, images=args.images, video=args.video,
      num_frames=args.num_frames,
      sfm=sfm.SfmOptions(camera_model=args.camera_model, matching=matching,
                         overlap=overlap, max_features=args.max_features,
                         max_image_size=args.max_image_size,
                         num_threads=args.num_threads))


def job(args):
  from jaxnerf.posing import pipeline
  pipeline.process(request(args))


def main(argv=None) -> int:
  return cli.main("process_data.py", job, flags(), argv, config=cli.NONE)


if __name__ == "__main__":
  sys.exit(main())
