"""What train.py and eval.py share: arguments, multi-host set-up, errors."""

from __future__ import annotations

import sys
from typing import Callable, Sequence


def run(argv: Sequence[str], script: str, job: Callable) -> int:
  """Parses `--config...` arguments and runs `job(config)`.

  A UserError (bad config, data, checkpoint, non-finite loss) is printed as
  one line on stderr and gives exit status 1; anything else is a bug and
  keeps its traceback.
  """
  from jaxnerf import config as config_lib
  from jaxnerf.errors import UserError
  usage = (f"usage: python {script} --config=NAME|PATH "
           "[--config.FIELD=VALUE ...]  (NAME resolves to configs/NAME.py)")
  try:
    config = config_lib.parse_args(argv[1:], usage)
    from jaxnerf import parallel
    parallel.initialize_distributed()  # multi-host: JAXNERF_* env vars
    job(config)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


def guarded(job: Callable, *args) -> int:
  """Runs `job(*args)`; a UserError is one line on stderr and exit status 1
  (entry points without `--config` flags, e.g. process_data.py)."""
  from jaxnerf.errors import UserError
  try:
    job(*args)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0
