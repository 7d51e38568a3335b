"""Errors caused by the user's input. Entry points print these as one line
and exit with status 1; anything else is a bug and keeps its traceback."""


class UserError(Exception):
  """Bad input: the message names the offending file, field or flag."""


class ConfigError(UserError, ValueError):
  """A bad config name, field or value."""


class DatasetError(UserError, ValueError):
  """Bad input data: missing files, malformed metadata, mixed sizes."""


class CheckpointError(UserError):
  """A missing or unusable checkpoint."""


class TrainingError(UserError):
  """Training cannot go on (e.g. a non-finite loss)."""


class BakedFileError(UserError):
  """A missing baked scene, or one of another format version or method."""


class ResourceError(UserError):
  """A request that would not fit (memory) or a resource in use (a port)."""
