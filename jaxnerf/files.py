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
and is never removed (`check_ours`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from typing import IO, Iterator

TMP_PREFIX = ".tmp-"
MARKER = ".jaxnerf"  # a folder's marker: this program wrote the folder


def _clear_stale(path: str) -> None:
  """Removes temporaries a killed write of `path` left behind."""
  folder, name = os.path.split(os.path.abspath(path))
  for stale in glob.glob(os.path.join(glob.escape(folder),
                                      f"{TMP_PREFIX}{glob.escape(name)}.*")):
    with contextlib.suppress(FileNotFoundError):
      if os.path.isdir(stale) and not os.path.islink(stale):
        shutil.rmtree(stale)
      else:
        os.remove(stale)


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
  """Yields a temporary path beside `path`; on a clean exit it becomes
  `path` (replacing it), on an exception it is removed. `suffix` keeps an
  extension writers look at (np.savez appends .npz to names without it)."""
  folder, name = os.path.split(os.path.abspath(path))
  _clear_stale(path)
  fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{name}.", suffix=suffix,
                             dir=folder)
  os.close(fd)
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


def mark(folder: str, program: str) -> None:
  """Marks `folder` as written by `program` (a file inside it)."""
  write_json(os.path.join(folder, MARKER), {"written_by": program})


def is_ours(folder: str) -> bool:
  """True if `folder` carries the marker of this package's programs."""
  return os.path.isfile(os.path.join(folder, MARKER))
