"""What the commands share: the entry wrapper (huge pages, arguments,
multi-host set-up, one-line errors)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence


def main(script: str, job: Callable, parser: Optional["FlagParser"] = None,
         argv: Optional[Sequence[str]] = None, config: bool = True) -> int:
  """The entry point of every command: returns its exit status.

  `argv` None means a real process start (`sys.argv`): the process first
  re-executes itself with huge pages (host_memory), never when a test calls
  in-process with an argv. With `config`, `--config...` arguments make the
  config and `parser` (if any) takes the rest: `job(config)` or
  `job(config, flags)`; without, `job(flags)` (process_data.py).
  """
  if argv is None:
    from jaxnerf import host_memory
    host_memory.reexec_with_huge_pages()  # faster XLA steps on CPU
    argv = sys.argv
  if not config:
    return guarded(lambda: job(parser.parse_args(list(argv[1:]))))
  if parser is None:
    return run(argv, script, job)
  return run_with_flags(argv, script, parser, job)


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

class FlagParser(argparse.ArgumentParser):
  """An entry point's own flags (besides --config...): a bad one is a
  one-line UserError, not argparse's usage dump and exit status 2."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, allow_abbrev=False, **kwargs)

  def error(self, message):
    from jaxnerf.errors import ConfigError
    raise ConfigError(f"{self.prog}: {message}")


def run_with_flags(argv: Sequence[str], script: str, parser: FlagParser,
                   job: Callable) -> int:
  """As `run`, for entry points with flags of their own: `parser` takes
  them, the `--config...` arguments make the config, and `job(config,
  flags)` runs."""
  from jaxnerf.errors import UserError
  try:
    config_args, own = [], []
    args = list(argv[1:])
    while args:
      arg = args.pop(0)
      if arg.startswith("--config"):
        config_args.append(arg)
        if "=" not in arg and args:  # --config NAME
          config_args.append(args.pop(0))
      else:
        own.append(arg)
    flags = parser.parse_args(own)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return run([argv[0], *config_args], script,
             lambda config: job(config, flags))
