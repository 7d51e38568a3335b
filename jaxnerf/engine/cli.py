"""What the commands share: the entry wrapper (huge pages, arguments,
multi-host set-up, one-line errors).

Arguments are split in one place, `parse`: ml_collections' config_flags
takes the config's (`--config=NAME|PATH`, `--config.FIELD=VALUE`), typed
by the config's fields, and hands back the rest in order; the script's own
flags go to its `FlagParser` (argparse, no abbreviations). Scripts that
name their configs themselves (bench/) take `--config.FIELD=VALUE` for
every config they run (`ConfigOverrides`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from typing import Any, Callable, Optional, Sequence

# What a script's `--config...` arguments make (cli.main's `config`):
ONE = "one"  # --config=NAME|PATH and its overrides: one config
EACH = "each"  # overrides for every config the script names (ConfigOverrides)
NONE = "none"  # no config flags


def main(script: str, job: Callable, parser: Optional["FlagParser"] = None,
         argv: Optional[Sequence[str]] = None, *, config: str = ONE,
         default_config: str = "", paths: bool = True) -> int:
  """The entry point of every command and bench script: returns its exit
  status (the job's, where it returns an int).

  `argv` None means a real process start (`sys.argv`): the process first
  re-executes itself with huge pages (host_memory), never when a test calls
  in-process with an argv. `parse` splits the arguments; then, by
  `config`: ONE, `job(config)` without a parser, `job(config, flags)` with
  one (`--config` may be left out where `default_config` names one;
  `paths`: the config must name its train_dir and data_dir); EACH,
  `job(overrides, flags)`, and the job loads every config it will run
  before any work (`ConfigOverrides.load`: that is where a bad override
  shows); NONE, `job(flags)`. A UserError (bad flag, config, data,
  checkpoint, non-finite loss) is one line on stderr and exit status 1;
  anything else is a bug and keeps its traceback.
  """
  if argv is None:
    from jaxnerf.engine import host_memory
    host_memory.reexec_with_huge_pages()  # faster XLA steps on CPU
    argv = sys.argv
  own = parser is not None
  parser = parser or FlagParser(prog=script)
  from jaxnerf.errors import UserError
  try:
    made, flags = parse(argv, parser, config, default_config, paths)
    if config == ONE:
      from jaxnerf.engine import parallel
      parallel.initialize_distributed()  # multi-host: JAXNERF_* env vars
    args = (flags,) if config == NONE else (made, flags) if own else (made,)
    status = job(*args)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return status if isinstance(status, int) else 0


def parse(argv: Sequence[str], parser: "FlagParser", config: str = ONE,
          default_config: str = "", paths: bool = True) -> tuple[Any, Any]:
  """The one place a command line is split: returns (the config, a
  ConfigOverrides or None, by `config` as in `main`; the script's flags).

  ONE: config_flags takes `--config...` from `argv` first (it knows which
  `--config.FLAG` is a boolean and takes no value), the parser the rest,
  then the parser's config-field flags (`FlagParser.add_config_field`) set
  their fields. EACH: the parser takes its flags first and leaves the
  `--config.FIELD=VALUE` arguments for ConfigOverrides.

  Raises:
    UserError: naming the flag.
  """
  from jaxnerf.engine import config as config_lib
  from jaxnerf.errors import ConfigError
  _document_config(parser, config)
  if config == NONE:
    return None, parser.parse_args(list(argv[1:]))
  if config == EACH:
    flags, rest = parser.parse_known_args(list(argv[1:]))
    if config_lib.parse_flags([parser.prog, *rest])[0] is not None:
      raise ConfigError(f"{parser.prog}: --config: this script names its "
                        "configs itself (see --help); --config.FIELD=VALUE "
                        "sets a field of each")
    return ConfigOverrides(parser.prog, tuple(rest),
                           parser.config_values(flags), paths), flags
  made, rest = config_lib.parse_flags(argv)
  if made is None and default_config:  # its overrides are in `rest`
    made, rest = config_lib.parse_flags(
        [rest[0], "--config=" + default_config, *rest[1:]])
  if made is None:  # the script's own errors first, then this one
    _, extra = parser.parse_known_args(rest[1:])
    raise ConfigError(
        f"{parser.prog}: --config is required (--config=NAME for "
        "configs/NAME.py, a path, or a run folder)" +
        (f"; unrecognized arguments: {' '.join(extra)}" if extra else ""))
  flags = parser.parse_args(rest[1:])
  return _finish(made, parser.config_values(flags), paths), flags


def _finish(config, fields: dict, paths: bool):
  """`config` with the values of the script's config-field flags."""
  from jaxnerf.engine import config as config_lib
  for field, value in fields.items():
    config[field] = value
  if paths:
    config_lib.check_paths(config)
  return config


@dataclasses.dataclass(frozen=True)
class ConfigOverrides:
  """What a script that names its configs itself (config=EACH) was given
  for them: `args`, its `--config.FIELD=VALUE` arguments in their order
  (to pass on to a command it runs), and `fields`, the values of its
  config-field flags (e.g. bench's --data_dir)."""

  prog: str
  args: tuple[str, ...]
  fields: dict
  paths: bool = True

  def load(self, name: str, *more: str):
    """Config `name` (configs/NAME.py or a path) with `args`, then `more`
    (further `--config.FIELD=VALUE`), then `fields`: the config
    `--config=NAME` and the same arguments give a command.

    Raises:
      ConfigError: naming the config, field or argument.
    """
    from jaxnerf.engine import config as config_lib
    from jaxnerf.errors import ConfigError
    config, rest = config_lib.parse_flags(
        [self.prog, "--config=" + name, *self.args, *more])
    if len(rest) > 1:
      raise ConfigError(f"{self.prog}: unrecognized arguments: "
                        f"{' '.join(rest[1:])}")
    return _finish(config, self.fields, self.paths)


def guarded(job: Callable, *args) -> int:
  """Runs `job(*args)`; a UserError is one line on stderr and exit status 1
  (scripts/ that parse nothing of the config)."""
  from jaxnerf.errors import UserError
  try:
    job(*args)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


class FlagParser(argparse.ArgumentParser):
  """A script's own flags (besides --config...): no abbreviations, and a
  bad one is a one-line UserError, not argparse's usage dump and exit
  status 2."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, allow_abbrev=False, **kwargs)
    self._config_fields = {}  # dest -> config field

  def error(self, message):
    from jaxnerf.errors import ConfigError
    raise ConfigError(f"{self.prog}: {message}")

  def add_config_field(self, flag: str, field: str, **kwargs):
    """A flag that sets config field `field` (localize.py's `--train_dir
    DIR` is `--config.train_dir=DIR`): given, its value replaces the
    config's, after every `--config...` argument."""
    action = self.add_argument(flag, default=None, **kwargs)
    self._config_fields[action.dest] = field
    return action

  def config_values(self, flags) -> dict:
    """{config field: value} of the config-field flags given."""
    return {field: getattr(flags, dest)
            for dest, field in self._config_fields.items()
            if getattr(flags, dest) is not None}


def _document_config(parser: FlagParser, config: str) -> None:
  """Adds the config's flags to `parser`'s --help (config_flags takes them
  before the parser sees the arguments)."""
  if config == NONE or getattr(parser, "_config_documented", False):
    return
  parser._config_documented = True  # pylint: disable=protected-access
  group = parser.add_argument_group("config flags (ml_collections "
                                    "config_flags)")
  hidden = dict(dest=argparse.SUPPRESS, default=argparse.SUPPRESS)
  if config == ONE:
    group.add_argument("--config", metavar="NAME|PATH|RUN", **hidden,
                       help="configs/NAME.py, a config file, or a run "
                       "folder (the config train.py recorded there)")
  group.add_argument(
      "--config.FIELD", metavar="VALUE", **hidden,
      help="sets a field of the config" if config == ONE else
      "sets a field of every config this script runs")


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


def check_output_file(path: str, flag: str,
                      ours: Optional[Callable[[str], bool]] = None) -> None:
  """Raises ConfigError unless a file can be written at `path`: not an
  existing folder, its folder exists or can be created, and nothing is
  there but a file this program wrote (`ours(path)`, by default
  `files.signed`), which it may replace."""
  from jaxnerf import files
  from jaxnerf.errors import ConfigError
  if not path or path.endswith(os.sep):
    raise ConfigError(f"{flag}: {path!r}: a file name is needed")
  if os.path.isdir(path):
    raise ConfigError(f"{flag}: {path}: is a folder; give a file name")
  if os.path.lexists(path) and not (ours or files.signed)(path):
    raise ConfigError(f"{flag}: {path} exists and was not written by "
                      f"jaxnerf; it is left alone: move it or choose "
                      f"another {flag}")
  check_creatable_folder(os.path.dirname(os.path.abspath(path)), flag, path)


def check_output_folder(path: str, flag: str) -> None:
  """Raises ConfigError unless `path` is, or can be made, a writable
  folder."""
  from jaxnerf.errors import ConfigError
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ConfigError(f"{flag}: {path}: is a file, not a folder")
  check_creatable_folder(path, flag)
