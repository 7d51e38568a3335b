"""Poses your own photos or video with Structure-from-Motion (pycolmap).

  python process_data.py --images DIR --output DIR
  python process_data.py --video FILE --output DIR [--num_frames N]

Writes a nerfstudio-style transforms.json (train with
--config.dataset_type=nerfstudio --config.data_dir=DIR), the COLMAP model,
downscaled copies, the sparse points, report.json and a log (see
jaxnerf/posing.py). Nothing in the input is modified. Bad input is one line
on stderr and exit status 1.
"""

import sys

from jaxnerf import cli


def flags():
  from jaxnerf import sfm
  p = cli.FlagParser(prog="process_data.py",
                     description="Pose photos or a video with SfM (pycolmap).")
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--images", help="a folder of photos (PNG or JPG)")
  source.add_argument("--video", help="a video file")
  p.add_argument("--output", required=True, help="the output folder")
  p.add_argument("--num_frames", type=int, default=100,
                 help="video: frames to take, evenly spaced (default 100)")
  p.add_argument("--camera_model", default="OPENCV", choices=sfm.CAMERA_MODELS,
                 help="the shared camera's model (default OPENCV)")
  p.add_argument("--matching", choices=sfm.MATCHERS, default=None,
                 help="exhaustive (default for photos) or sequential "
                 "(default for a video)")
  p.add_argument("--overlap", type=int, default=10,
                 help="sequential matching: neighbours per frame")
  p.add_argument("--max_features", type=int, default=8192)
  p.add_argument("--max_image_size", type=int, default=3200,
                 help="SIFT runs on images at most this large")
  return p


def request(args):
  """The posing.Request of parsed flags."""
  from jaxnerf import posing, sfm
  matching = args.matching or ("sequential" if args.video else "exhaustive")
  return posing.Request(
      output=args.output, images=args.images, video=args.video,
      num_frames=args.num_frames,
      sfm=sfm.SfmOptions(camera_model=args.camera_model, matching=matching,
                         overlap=args.overlap, max_features=args.max_features,
                         max_image_size=args.max_image_size))


def parse(argv):
  """The posing.Request of command-line flags (without the program name)."""
  return request(flags().parse_args(list(argv)))


def job(args):
  from jaxnerf import posing
  posing.process(request(args))


def main(argv=None) -> int:
  return cli.main("process_data.py", job, flags(), argv, config=False)


if __name__ == "__main__":
  sys.exit(main())
