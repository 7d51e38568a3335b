"""Backs XLA's large host buffers with transparent huge pages (Linux, glibc).

Why: XLA's CPU runtime mallocs each execution's buffers (hundreds of MB to
GBs for a NeRF step) and frees them at its end. glibc serves blocks this
large with a fresh mmap each time, so every step faults its working set in
again, 4 KiB at a time, and the kernel's page-fault handling becomes a large
share of the training's CPU time. glibc's `hugetlb=1` tunable madvises those
mappings for 2 MiB pages: far fewer faults and faster steps (the page-fault
counts and step times are in docs/BENCHMARKS.md, "Speed on CPU"). Memory is
still returned to the system at each free. (Keeping freed blocks instead,
with mmap off, was faster on small steps but fragmented the heap until the
full Blender config ran out of memory.)

glibc reads tunables only at process start, so entry points re-execute
themselves once with GLIBC_TUNABLES extended. Set JAXNERF_HUGE_PAGES=0 to
opt out.
"""

from __future__ import annotations

import os
import platform
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def wanted(environ=os.environ) -> bool:
  """True where re-executing with the tunable would change anything."""
  if environ.get("JAXNERF_HUGE_PAGES", "1") == "0":
    return False
  if any(t.startswith("glibc.malloc.hugetlb=")
         for t in environ.get("GLIBC_TUNABLES", "").split(":")):
    return False  # set by the user, or this is the re-executed process
  if not sys.executable:
    return False
  if not sys.platform.startswith("linux"):
    return False
  libc, version = platform.libc_ver()
  if libc != "glibc" or tuple(int(v) for v in version.split(".")[:2]) < (2, 35):
    return False  # the tunable exists from glibc 2.35 on
  try:
    with open(THP_SETTING) as f:
      setting = f.read()
  except OSError:
    return False
  return "[never]" not in setting


def environment(environ=os.environ) -> dict[str, str]:
  """A copy of `environ` with the tunable added to GLIBC_TUNABLES."""
  env = dict(environ)
  existing = env.get("GLIBC_TUNABLES", "")
  env["GLIBC_TUNABLES"] = f"{existing}:{TUNABLE}" if existing else TUNABLE
  return env


def reexec_with_huge_pages() -> None:
  """Replaces this process by itself with the tunable set, if `wanted()`.

  Call first thing in a script's `if __name__ == "__main__":` block (never
  from library code: it restarts the whole interpreter, same PID, same
  arguments).
  """
  if not wanted():
    return
  sys.stdout.flush()
  sys.stderr.flush()
  argv = [sys.executable] + list(getattr(sys, "orig_argv", sys.argv)[1:])
  os.execve(sys.executable, argv, environment())
