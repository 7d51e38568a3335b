"""Runs iMAP (online SLAM with a field as the map) over a split of frames,
in order.

  python slam.py --config=imap_lego [--train_dir runs/imap_lego]
      [--config.slam_mode=rgbd|rgb] [--config.slam_frames=N]
      [--config.FIELD=VALUE ...]

Flags take `--flag value` or `--flag=value`; `--train_dir DIR` is
`--config.train_dir=DIR`, and any `--config.FIELD=VALUE` works (the
slam_* fields: jaxnerf/methods/imap.py; slam_frames=N streams the first N
frames, 0 all).
The folder must not hold a run already. It gets the map as a run folder
(scene.json, checkpoints/: eval.py, view.py and export.py open it with the
same config), the estimated and reference trajectories in TUM format
(trajectory.txt, reference.txt: timestamp tx ty tz qx qy qz qw, the frame
index as timestamp), a plot of both (trajectory.png) and slam_metrics.json
(ATE after SE(3) and Sim(3) alignment, rotation errors, keyframes, time).
Bad flags, files or values are one-line errors (exit status 1).
"""

import sys

from jaxnerf.engine import cli


def flags():
  p = cli.FlagParser(prog="slam.py")
  p.add_config_field("--train_dir", "train_dir",
                     help="the new run folder (= --config.train_dir)")
  return p


def job(config, args):
  del args  # their values are in the config
  import json
  from jaxnerf.posing import slam
  from jaxnerf.engine import trainer
  settings = slam.read_settings(config)
  trainer.check_fields(config, {"batch_size": 1, "max_steps": 1,
                                "keep_checkpoints": 1},
                       trainer.TRAIN_FIELDS_POSITIVE,
                       trainer.TRAIN_FIELDS_FRACTION)
  slam.check_train_dir(config)
  stream = slam.load_stream(config, settings)
  print(f"{len(stream.images)} frames of {stream.images.shape[2]}x"
        f"{stream.images.shape[1]}, {settings.mode}", flush=True)
  result = slam.run_stream(config, settings, stream,
                           log=lambda line: print(line, flush=True))
  metrics = slam.write_outputs(config, settings, stream, result)
  print(json.dumps({k: v for k, v in metrics.items()
                    if k not in ("comment", "keyframe_indices")}, indent=1))


def main(argv=None) -> int:
  return cli.main("slam.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
