"""Serves a local web page to look around a trained scene.

  python view.py --config=instant_ngp_demo [--port 8000]
  python view.py --config=instant_ngp_demo --config.render_baked=true
  python view.py --config=runs/instant_ngp_demo  # the run's recorded config

Open the printed address; drag to orbit, shift-drag (or right-drag) to pan,
the wheel to zoom; rgb / depth / opacity buttons; `?view=test:0` starts at a
dataset view. It renders on this machine with the field, or with the baked
scene of bake.py (`--config.render_baked=true`, much faster on a CPU).
"""

import sys

from jaxnerf.engine import cli


def flags():
  p = cli.FlagParser(prog="view.py")
  p.add_argument("--port", type=cli.integer(0, 65535), default=8000,
                 help="0: any free port (the address is printed)")
  p.add_argument("--host", default="127.0.0.1",
                 help="the address to listen on (checked by binding, "
                 "before anything is loaded)")
  return p


def job(config, args):
  from jaxnerf.export import viewer
  viewer.serve(config, args.host, args.port)


def main(argv=None) -> int:
  return cli.main("view.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
