"""Shared test set-up: paths and small configs. The package is installed
(`pip install -r requirements.txt` installs this checkout), so tests
import it without path patching.

Tests that need the development data in ../shared/data skip without it,
with a reason that starts "needs ../shared/data/" (`needs_shared_data`);
under CI (the environment variable CI=true, as .ci/run sets it) such a skip
fails the run, so no CI result silently leaves them out.
"""

import os
import shutil
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Many tests compile the same small steps, in this process, in the
# train.py / eval.py subprocesses they start and in the other xdist workers
# (pyproject.toml's addopts; this file loads before they start): one
# persistent XLA cache for the session, inherited through the environment,
# compiles each once. Removed at the end when this session made it.
_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _OWN_CACHE = tempfile.mkdtemp(prefix="jaxnerf_test_xla_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"


def pytest_unconfigure(config):
  # Only the process that made the cache removes it (an xdist worker has
  # `workerinput`; the controller ends after every worker).
  if _OWN_CACHE and not hasattr(config, "workerinput"):
    shutil.rmtree(_OWN_CACHE, ignore_errors=True)

# Compiling, not running, is most of the suite's time on 2 cores: LLVM at -O0
# compiles about 40 % faster (tests/test_methods.py: 242 s -> 143 s), and
# XLA's older elemental fusion emitters (not the MLIR ones, jaxlib 0.10's
# default) about twice as fast again (the splat method's train step 6.3 s ->
# 3.2 s, instant_ngp's 3.9 s -> 1.4 s); the small programs the tests run
# barely notice either. Subprocesses inherit them.
OPT_FLAG = "--xla_backend_optimization_level=0"
EMITTER_FLAG = "--xla_cpu_use_fusion_emitters=false"
SUITE_FLAGS = (OPT_FLAG, EMITTER_FLAG)
for _flag in SUITE_FLAGS:
  if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " +
                               _flag).strip()


def xla_flags(*flags):
  """XLA_FLAGS for a subprocess: the suite's own plus `flags`."""
  return " ".join(SUITE_FLAGS + flags)


EMBEDDED_LEGO = os.path.join(REPO_ROOT, "data", "lego_100")

# The read-only development data (../shared/data of the checkout).
SHARED_DATA = os.environ.get("JAXNERF_SHARED_DATA",
                             os.path.join(REPO_ROOT, "..", "shared", "data"))
SHARED_SKIP = "needs ../shared/data/"


def shared_data_reason(relpath: str) -> str:
  """The skip reason of a test that needs ../shared/data/<relpath>."""
  return f"{SHARED_SKIP}{relpath} (not present)"


def shared_data_missing(relpath: str) -> bool:
  return not os.path.exists(os.path.join(SHARED_DATA, relpath))


def needs_shared_data(relpath: str) -> str:
  """The path of ../shared/data/<relpath>; skips the test without it."""
  if shared_data_missing(relpath):
    pytest.skip(shared_data_reason(relpath))
  return os.path.join(SHARED_DATA, relpath)


_shared_skips = []


def _skip_reason(report) -> str:
  if report.skipped and isinstance(report.longrepr, tuple):
    return str(report.longrepr[2])
  return ""


def pytest_runtest_logreport(report):
  if SHARED_SKIP in _skip_reason(report):
    _shared_skips.append(f"{report.nodeid}: {_skip_reason(report)}")


def pytest_collectreport(report):
  if SHARED_SKIP in _skip_reason(report):
    _shared_skips.append(f"{report.nodeid}: {_skip_reason(report)}")


def pytest_sessionfinish(session, exitstatus):
  if _shared_skips and os.environ.get("CI") == "true":
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
  if _shared_skips and os.environ.get("CI") == "true":
    terminalreporter.section("tests skipped for missing ../shared/data",
                             red=True)
    for line in _shared_skips:
      terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"CI=true: {len(_shared_skips)} test(s) that need ../shared/data "
        "skipped; the run fails")


@pytest.fixture
def tiny_config(tmp_path):
  """The demo config shrunk so a step takes milliseconds."""
  from jaxnerf.engine import config as config_lib
  c = config_lib.load_config("demo")
  with c.unlocked():
    c.data_dir = EMBEDDED_LEGO
    c.train_dir = str(tmp_path / "run")
    c.batch_size = 64
    c.num_coarse_samples = 8
    c.num_fine_samples = 8
    c.netdepth = 2
    c.netwidth = 32
    c.netwidth_condition = 16
    c.max_steps = 10
    c.print_every = 5
    c.save_every = 5
    c.render_every = 0
    c.chunk = 1024
  return c


def install_plugin(tmp_path, monkeypatch, source: str, module: str) -> None:
  """tests/<source> importable as `module` ("package.name", a package made
  in tmp_path, which goes on sys.path): a method from outside jaxnerf, as a
  user's own would be."""
  package, name = module.split(".")
  folder = tmp_path / package
  folder.mkdir(exist_ok=True)
  (folder / "__init__.py").write_text("")
  shutil.copy(os.path.join(REPO_ROOT, "tests", source), folder / f"{name}.py")
  monkeypatch.syspath_prepend(str(tmp_path))
