"""Writing files so that an interruption never leaves a half-written one
under the final name, and so that only what this program wrote is ever
replaced.

Every output that a reader later trusts (transforms.json, report.json, a
baked scene, exports, a run's scene.json, metrics) is written to a temporary
name in the same folder and renamed over the final name when complete:
`os.replace` is atomic on POSIX, so a reader sees the old file or the new
one, never a prefix. A kill at any point leaves at most a `.tmp-*` file,
which the next write of the same name removes.

Folders this program fills (process_data.py's outputs) carry a marker file
naming the program; a folder in the way without the marker is the user's,
and is never removed. A marker may list the entries of the folder the
program wrote (`mark(..., outputs=...)`, `read_mark`): then only those are
its own, the rest of the folder the user's (process_data.py writes into
the user's capture folder beside their photos).

Temporaries get the permissions of an ordinary new file (the umask's), not
tempfile's private 0600/0700.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from typing import IO, Iterator, Optional

TMP_PREFIX = ".tmp-"
MARKER = ".jaxnerf"  # a folder's marker: this program wrote the folder


def clear_stale(path: str) -> None:
  """Removes temporaries a killed write of `path` left behind."""
  folder, name = os.path.split(os.path.abspath(path))
  for stale in glob.glob(os.path.join(glob.escape(folder),
                                      f"{TMP_PREFIX}{glob.escape(name)}.*")):
    with contextlib.suppress(FileNotFoundError):
      if os.path.isdir(stale) and not os.path.islink(stale):
        shutil.rmtree(stale)
      else:
        os.remove(stale)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def temporary_beside(path: str, suffix: str = "", folder: bool = False
                     ) -> str:
  """A new empty file (or folder) beside `path` named `.tmp-<name>.*`,
  after removing the ones a killed write of `path` left behind. The caller
  renames it over `path` when complete (or removes it)."""
  parent, name = os.path.split(os.path.abspath(path))
  clear_stale(path)
  if folder:
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name}.", suffix=suffix,
                           dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())
  else:
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{name}.", suffix=suffix,
                               dir=parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
  return tmp


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
  """Yields a temporary path beside `path`; on a clean exit it becomes
  `path` (replacing it), on an exception it is removed. `suffix` keeps an
  extension writers look at (np.savez appends .npz to names without it)."""
  tmp = temporary_beside(path, suffix)
  try:
    yield tmp
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[IO]:
  """`open(path, mode)` that only appears under `path` when closed
  cleanly ("w" or "wb")."""
  if mode not in ("w", "wb"):
    raise ValueError(f"atomic_open: mode {mode!r}; 'w' or 'wb'")
  with atomic_path(path) as tmp:
    with open(tmp, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())


def write_json(path: str, obj, **kwargs) -> None:
  """json.dump(obj) to `path`, atomically."""
  with atomic_open(path) as f:
    json.dump(obj, f, **kwargs)


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
  """Yields a new empty folder beside `path` to fill; on a clean exit it is
  renamed to `path`, on an exception removed with what it holds. `path`
  must not exist by then (the caller removes an old one it owns first):
  a folder is never merged into or replaced here.

  Raises:
    FileExistsError: `path` exists when the folder is complete.
  """
  tmp = temporary_beside(path, folder=True)
  try:
    yield tmp
    if os.path.lexists(path):
      raise FileExistsError(f"{path}: exists; not replaced")
    os.rename(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def mark(folder: str, program: str, **fields) -> None:
  """Marks `folder` as written by `program` (a file inside it), with
  further JSON `fields` (e.g. `outputs`: the entries it wrote)."""
  write_json(os.path.join(folder, MARKER), {"written_by": program, **fields},
             indent=1)


def read_mark(folder: str) -> Optional[dict]:
  """The marker's fields (`written_by`, ...), None if `folder` has none.

  Raises:
    ValueError: a file named like the marker that is not one (not JSON,
      not an object, no `written_by`): someone else's file.
    OSError: it cannot be read.
  """
  path = os.path.join(folder, MARKER)
  if not os.path.lexists(path):
    return None
  if os.path.islink(path) or not os.path.isfile(path):
    raise ValueError(f"{path}: not a marker file")
  with open(path, encoding="utf-8") as f:
    try:
      fields = json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
      raise ValueError(f"{path}: not a marker ({e})") from None
  if not isinstance(fields, dict) or not isinstance(
      fields.get("written_by"), str):
    raise ValueError(f"{path}: not a marker (no written_by)")
  return fields



# What this program writes into the head of each output file it may later
# replace (a PLY/OBJ header comment, an HTML/JS comment, a JSON field): a
# file at an output path without it is someone else's and is never
# replaced.
SIGNATURE = "written by jaxnerf"


def signed(path: str, head: int = 4096) -> bool:
  """Whether `path` is a regular file (not a link) whose first `head` bytes
  hold SIGNATURE."""
  if os.path.islink(path) or not os.path.isfile(path):
    return False
  try:
    with open(path, "rb") as f:
      return SIGNATURE.encode() in f.read(head)
  except OSError:
    return False
