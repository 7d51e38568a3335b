import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Mallocs, touches and frees 256 MB twice; prints the page faults of the
# second round (what every training step after the first pays).
_PROBE = """
import ctypes, resource, sys
sys.path.insert(0, {root!r})
from jaxnerf import host_memory
if {reuse}:
  assert host_memory.reuse_freed_memory()
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


def faults_of_second_cycle(reuse: bool) -> int:
  out = subprocess.run(
      [sys.executable, "-c", _PROBE.format(root=REPO_ROOT, reuse=reuse)],
      check=True, capture_output=True, text=True).stdout
  return int(out.split()[-1])


def test_freed_blocks_are_reused_without_page_faults():
  pages = (256 << 20) // os.sysconf("SC_PAGE_SIZE")
  # glibc's default: the block is mmapped afresh and faulted in page by page
  # (or by huge pages where the kernel uses them for it).
  assert faults_of_second_cycle(reuse=False) > pages // 1024
  assert faults_of_second_cycle(reuse=True) < pages // 1024
