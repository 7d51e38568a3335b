"""Keeps freed host memory in the process, so steps stop page-faulting.

Why: XLA's CPU runtime mallocs each execution's buffers (hundreds of MB for
a NeRF step) and frees them at its end. glibc serves blocks this large with
mmap and returns them with munmap, so every step faults its whole working
set in again: ~130 k page faults per 4 x 128 demo step, 22 % of the
training's CPU time spent in the kernel. With mmap off, one arena and no
trimming, freed blocks are reused as they are: 0.435 -> 0.37 s per step
(docs/BENCHMARKS.md). The price is that the process keeps its peak heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters, glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_NEVER_TRIM = 2**31 - 1  # bytes of free heap top kept (mallopt takes an int)

_configured = False


def reuse_freed_memory() -> bool:
  """Tunes glibc malloc to reuse freed blocks; True if it applied.

  Call before JAX runs anything (XLA's worker threads take their arenas
  when first used). A no-op returning False where libc is not glibc.
  """
  global _configured
  if _configured:
    return True
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  # One arena: a thread's own arena would fall back to mmap for blocks
  # larger than its 64 MB heaps, whatever M_MMAP_MAX says.
  _configured = all(mallopt(param, value) == 1 for param, value in (
      (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER_TRIM)))
  return _configured
