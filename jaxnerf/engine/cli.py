"""What the commands share: the entry wrapper (huge pages, arguments,
multi-host set-up, one-line errors)."""

from __future__ import annotations

import argparse
import math
import os
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
    from jaxnerf.engine import host_memory
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
  from jaxnerf.engine import config as config_lib
  from jaxnerf.errors import UserError
  usage = (f"usage: python {script} --config=NAME|PATH "
           "[--config.FIELD=VALUE ...]  (NAME resolves to configs/NAME.py)")
  try:
    config = config_lib.parse_args(argv[1:], usage)
    from jaxnerf.engine import parallel
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


# Flag values, checked while parsing: argparse reports a bad one as
# "argument --flag: <message>", one line through FlagParser.error.


def integer(minimum: Optional[int] = None,
            maximum: Optional[int] = None) -> Callable[[str], int]:
  """An argparse `type`: a whole number in [minimum, maximum]."""
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      value = None
    if (value is None or (minimum is not None and value < minimum) or
        (maximum is not None and value > maximum)):
      raise argparse.ArgumentTypeError(
          f"expected {_range('an integer', minimum, maximum)}, got {text!r}")
    return value
  return parse


def number(minimum: Optional[float] = None, maximum: Optional[float] = None,
           above: Optional[float] = None,
           below: Optional[float] = None) -> Callable[[str], float]:
  """An argparse `type`: a finite number in [minimum, maximum] and in
  (above, below)."""
  def parse(text: str) -> float:
    try:
      value = float(text)
    except ValueError:
      value = math.nan
    if (not math.isfinite(value) or
        (minimum is not None and value < minimum) or
        (maximum is not None and value > maximum) or
        (above is not None and value <= above) or
        (below is not None and value >= below)):
      bounds = [f">= {minimum:g}" if minimum is not None else None,
                f"> {above:g}" if above is not None else None,
                f"<= {maximum:g}" if maximum is not None else None,
                f"< {below:g}" if below is not None else None]
      bounds = " and ".join(b for b in bounds if b)
      raise argparse.ArgumentTypeError(
          f"expected a finite number{' ' + bounds if bounds else ''}, got "
          f"{text!r}")
    return value
  return parse


def _range(what: str, minimum, maximum) -> str:
  if minimum is not None and maximum is not None:
    return f"{what} from {minimum} to {maximum}"
  if minimum is not None:
    return f"{what} >= {minimum}"
  if maximum is not None:
    return f"{what} <= {maximum}"
  return what


# Paths, checked before any work: nothing is created until every flag has
# passed.


def check_input_file(path: str, flag: str) -> None:
  """Raises ConfigError unless `path` is an existing file."""
  from jaxnerf.errors import ConfigError
  if not os.path.isfile(path):
    what = "is a folder, not a file" if os.path.isdir(path) else "not found"
    raise ConfigError(f"{flag}: {path}: {what}")


def check_creatable_folder(folder: str, flag: str, given: str = "") -> None:
  """Raises ConfigError unless `folder` is, or can be made, a folder this
  process writes in: it is one, or its nearest existing ancestor is a
  writable folder (nothing is created here). `given`: the flag's value,
  if not `folder` itself, for the message."""
  from jaxnerf.errors import ConfigError
  given = given or folder
  probe = os.path.abspath(folder)
  while not os.path.lexists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise ConfigError(f"{flag}: {given}: {probe} is a file, not a folder")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise ConfigError(f"{flag}: {given}: cannot write in {probe} "
                      "(permission denied)")


def check_output_file(path: str, flag: str) -> None:
  """Raises ConfigError unless a file can be written at `path`: not an
  existing folder, and its folder exists or can be created."""
  from jaxnerf.errors import ConfigError
  if not path or path.endswith(os.sep):
    raise ConfigError(f"{flag}: {path!r}: a file name is needed")
  if os.path.isdir(path):
    raise ConfigError(f"{flag}: {path}: is a folder; give a file name")
  check_creatable_folder(os.path.dirname(os.path.abspath(path)), flag, path)


def check_output_folder(path: str, flag: str) -> None:
  """Raises ConfigError unless `path` is, or can be made, a writable
  folder."""
  from jaxnerf.errors import ConfigError
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ConfigError(f"{flag}: {path}: is a file, not a folder")
  check_creatable_folder(path, flag)
