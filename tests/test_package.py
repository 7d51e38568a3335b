"""The package as a user installs it: the wheel built from this checkout,
installed into a fresh virtual environment, gives the eight commands and
resolves config names from its own copy of configs/.

Nothing is downloaded: the wheel is built without build isolation (the
installed setuptools and wheel, requirements.txt) and installed with
--no-deps into a venv that sees this interpreter's packages.
"""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO_ROOT

COMMANDS = ("train", "eval", "bake", "view", "export", "localize",
            "process_data", "slam")


def normalize(name: str) -> str:
  """A distribution name as PEP 503 compares them."""
  return re.sub(r"[-_.]+", "-", name).lower()


def run(args, **kwargs):
  return subprocess.run(args, capture_output=True, text=True, timeout=120,
                        check=False, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """(wheel path, venv folder) of the checkout's wheel installed in a fresh
  venv."""
  tmp = tmp_path_factory.mktemp("package")
  # A copy of what the wheel is built from: setuptools writes build/ and
  # *.egg-info next to the sources, which must not land in the checkout.
  src = tmp / "src"
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
  for name in ("jaxnerf", "configs"):
    shutil.copytree(os.path.join(REPO_ROOT, name), src / name, ignore=ignore)
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(os.path.join(REPO_ROOT, name), src / name)
  r = run([sys.executable, "-m", "pip", "wheel", "--no-deps",
           "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"),
           str(src)])
  assert r.returncode == 0, (
      "building the wheel failed (needs setuptools and wheel from "
      "requirements.txt):\n" + r.stdout[-2000:] + r.stderr[-2000:])
  [wheel] = (tmp / "dist").glob("jaxnerf-*.whl")

  venv = tmp / "venv"
  # This interpreter's pip and packages are visible from the venv, so it
  # needs no pip of its own and no downloads.
  r = run([sys.executable, "-m", "venv", "--system-site-packages",
           "--without-pip", str(venv)])
  assert r.returncode == 0, r.stderr
  # --ignore-installed: the checkout's editable install is visible too.
  r = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
           "--no-deps", "--no-index", "--ignore-installed", str(wheel)])
  assert r.returncode == 0, r.stdout + r.stderr
  return wheel, venv


def test_every_command_is_a_console_script(installed, tmp_path):
  _, venv = installed
  for command in COMMANDS:
    script = venv / "bin" / ("jaxnerf-" + command.replace("_", "-"))
    assert script.is_file(), script
    r = run([str(script), "--help"], cwd=tmp_path)
    assert r.returncode == 0, (command, r.stderr)
    assert r.stdout.startswith("usage:"), (command, r.stdout[:200])
    assert "Traceback" not in r.stderr, (command, r.stderr)


def test_config_names_resolve_from_the_installed_copy(installed, tmp_path):
  _, venv = installed
  code = ("import jaxnerf; from jaxnerf.engine import config as c; "
          "print(jaxnerf.__file__); print(c.CONFIGS_DIR); "
          "print(c.load_config('nerfa_demo').method)")
  site = subprocess.check_output([str(venv / "bin" / "python"), "-c", code],
                                 cwd=tmp_path, text=True).split("\n")
  # The venv's copy, not the checkout (whose editable install the venv
  # also sees), and its configs: a config loading another by name works.
  assert site[0].startswith(str(venv)), site
  assert site[1] == os.path.join(os.path.dirname(site[0]), "configs"), site
  assert site[2] == "nerfw"
  # The command resolves a name, then stops at the data (missing here).
  missing = tmp_path / "missing"
  r = run([str(venv / "bin" / "jaxnerf-train"), "--config=demo",
           f"--config.data_dir={missing}",
           f"--config.train_dir={tmp_path / 'run'}"], cwd=tmp_path)
  assert r.returncode == 1, r.stderr
  assert r.stderr.strip() == (f"error: config.data_dir: {str(missing)!r} is "
                              "not a directory"), r.stderr
  r = run([str(venv / "bin" / "jaxnerf-train"), "--config=nope"],
          cwd=tmp_path)
  assert r.returncode == 1
  assert "error: --config: no config 'nope'" in r.stderr
  assert re.search(r"known names: .*\bdemo\b.*\bnerfw_liberty\b", r.stderr)
  assert str(venv) in r.stderr  # the installed configs/ it looked in


def test_the_wheel_holds_every_module_and_config(installed):
  wheel, _ = installed
  with zipfile.ZipFile(wheel) as z:
    names = {n for n in z.namelist() if ".dist-info/" not in n}
  expected = set()
  for folder, target in (("jaxnerf", "jaxnerf"),
                         ("configs", "jaxnerf/configs")):
    root = os.path.join(REPO_ROOT, folder)
    for parent, dirs, files in os.walk(root):
      dirs[:] = [d for d in dirs if d != "__pycache__"]
      for f in files:
        if f.endswith(".pyc"):
          continue
        rel = os.path.relpath(os.path.join(parent, f), root)
        expected.add(f"{target}/{rel}".replace(os.sep, "/"))
  assert names == expected, (sorted(expected - names), sorted(names - expected))


def third_party_imports(sources: dict[str, str]) -> set[str]:
  """Top-level names of the modules `sources` import that are neither the
  standard library nor jaxnerf."""
  found = set()
  for text in sources.values():
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, ast.Import):
        found.update(a.name.split(".")[0] for a in node.names)
      elif (isinstance(node, ast.ImportFrom) and node.level == 0 and
            node.module):
        found.add(node.module.split(".")[0])
  return {m for m in found
          if m not in sys.stdlib_module_names and m != "jaxnerf"}


def test_requires_dist_is_what_the_package_imports(installed):
  """Every third-party import of the installed package has its
  distribution in the wheel's Requires-Dist, and every Requires-Dist is
  imported (no stale dependency; selenium and pytest are the tests')."""
  wheel, _ = installed
  with zipfile.ZipFile(wheel) as z:
    sources = {n: z.read(n).decode() for n in z.namelist()
               if n.endswith(".py")}
    [metadata] = [n for n in z.namelist()
                  if n.endswith(".dist-info/METADATA")]
    requires = {normalize(re.split(r"[ ;<>=!~\[(]", line.split(":", 1)[1]
                                   .strip())[0])
                for line in z.read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")}
  distributions = importlib.metadata.packages_distributions()
  imported = third_party_imports(sources)
  assert {"jax", "numpy", "pycolmap", "trimesh", "scipy"} <= imported
  missing, used = [], set()
  for module in sorted(imported):
    dists = {normalize(d) for d in distributions.get(module, [])}
    assert dists, f"{module}: imported but no installed distribution has it"
    if dists & requires:
      used |= dists & requires
    else:
      missing.append(f"{module} ({', '.join(sorted(dists))})")
  assert not missing, "not in pyproject.toml's dependencies: " + ", ".join(
      missing)
  assert requires == used, f"never imported: {sorted(requires - used)}"
  assert "selenium" not in requires and "pytest" not in requires
