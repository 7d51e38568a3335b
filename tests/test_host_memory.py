import os
import subprocess
import sys

import pytest

from jaxnerf.engine import host_memory

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Mallocs, touches and frees 256 MiB twice; prints the page faults of the
# second round (what every training step after the first pays).
_PROBE = """
import ctypes, resource
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
size = 256 << 20
def cycle():
  block = libc.malloc(size)
  libc.memset(block, 1, size)
  libc.free(block)
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

_REEXEC = """
import os, sys
sys.path.insert(0, {root!r})
from jaxnerf.engine import host_memory
print("start", os.environ.get("GLIBC_TUNABLES"), flush=True)
host_memory.reexec_with_huge_pages()
print("done", os.environ.get("GLIBC_TUNABLES"), sys.argv[1:])
"""

needs_huge_pages = pytest.mark.skipif(
    not host_memory.wanted({}), reason="no glibc >= 2.35 with THP here")


def clean_env(**extra):
  env = {k: v for k, v in os.environ.items()
         if k not in ("GLIBC_TUNABLES", "JAXNERF_HUGE_PAGES")}
  env.update(extra)
  return env


def test_environment_adds_the_tunable_once():
  env = host_memory.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2",
                                 "HOME": "/x"})
  assert env == {"GLIBC_TUNABLES":
                 "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1",
                 "HOME": "/x"}
  assert not host_memory.wanted(env)  # the re-executed process stops here
  assert not host_memory.wanted({"JAXNERF_HUGE_PAGES": "0"})
  # A user's own choice of the tunable is left alone.
  assert not host_memory.wanted({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})


@needs_huge_pages
def test_huge_pages_cut_the_page_faults_of_a_freed_and_remalloced_block():
  pages = (256 << 20) // os.sysconf("SC_PAGE_SIZE")
  run = lambda env: int(subprocess.run(
      [sys.executable, "-c", _PROBE], env=env, check=True,
      capture_output=True, text=True).stdout.split()[-1])
  # glibc's default: a fresh mmap each time, faulted in 4 KiB at a time.
  assert run(clean_env()) > pages // 2
  assert run(host_memory.environment(clean_env())) < pages // 4


@needs_huge_pages
def test_reexec_restarts_once_with_the_tunable_and_the_same_arguments():
  out = subprocess.run(
      [sys.executable, "-c", _REEXEC.format(root=REPO_ROOT), "--config=x"],
      env=clean_env(), check=True, capture_output=True, text=True).stdout
  assert out.splitlines() == [
      "start None", "start glibc.malloc.hugetlb=1",
      "done glibc.malloc.hugetlb=1 ['--config=x']"]
  out = subprocess.run(
      [sys.executable, "-c", _REEXEC.format(root=REPO_ROOT)],
      env=clean_env(JAXNERF_HUGE_PAGES="0"), check=True, capture_output=True,
      text=True).stdout
  assert out.splitlines() == ["start None", "done None []"]
