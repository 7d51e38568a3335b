"""Repository hygiene: no machine paths in the tracked files, and the
README's methods table names configs that exist and results-table rows
that exist.

Pure file reads (no JAX): the whole module runs in well under 2 s.
"""

import os
import re
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Absolute paths of a particular machine: a home or work folder, a mount,
# a folder on a Windows drive. /tmp is allowed (tests and benchmarks write
# there). The folder names are joined at run time so this file does not
# match itself. A path is absolute only where nothing path-like precedes the
# slash, so "https://host/home/..." and "../shared/..." do not count; a
# drive needs a folder of two or more characters and a separator after it,
# so escapes in code ("f:\\n") do not count.
_ROOTS = "|".join(["work", "home", "root", "Users", "mnt"])
MACHINE_PATH = re.compile(
    r"(?<![\w.~/-])/(?:" + _ROOTS + r")/"
    r"|(?<![\w])[A-Za-z]:(?:\\{1,2}|/)[\w .-]{2,}[\\/]")


def tracked_files(root):
  """Relative paths of the files git tracks under `root`; without git (an
  unpacked archive), every file of the tree outside .git."""
  try:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root,
                         capture_output=True, check=True).stdout
    return [p for p in out.decode("utf-8").split("\0") if p]
  except (OSError, subprocess.CalledProcessError):
    paths = []
    for folder, dirs, files in os.walk(root):
      dirs[:] = [d for d in dirs if d != ".git"]
      paths += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return paths


def text_lines(path):
  """The lines of a text file; [] for a binary one (NUL bytes, or not
  UTF-8) or one that a concurrent checkout removed."""
  try:
    with open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    return []
  if b"\0" in data:
    return []
  try:
    return data.decode("utf-8").splitlines()
  except UnicodeDecodeError:
    return []


def machine_paths(root):
  """'file:line: text' for every line of a tracked text file holding an
  absolute machine path."""
  found = []
  for rel in tracked_files(root):
    for number, line in enumerate(text_lines(os.path.join(root, rel)), 1):
      if MACHINE_PATH.search(line):
        found.append(f"{rel}:{number}: {line.strip()[:120]}")
  return found


def test_the_machine_path_pattern():
  """The pattern catches machine paths and leaves relative paths, URLs and
  /tmp alone (so the repository scan below can fail, and fails only on
  what it should)."""
  home = "/" + "home" + "/alice/data"
  assert MACHINE_PATH.search(f"--config.data_dir={home}")
  assert MACHINE_PATH.search("see /" + "work" + "/shared/BASELINES.md")
  assert MACHINE_PATH.search('{"source": "/' + 'Users' + '/bob/lego"}')
  assert MACHINE_PATH.search("D:" + "\\" + "scenes" + "\\" + "lego")
  assert MACHINE_PATH.search("c:/" + "scenes/lego")
  for fine in ("../shared/data/fern", "/tmp/cpu.lock",
               "https://example.org/" + "home" + "/x", "runs/lego/",
               "data/lego_100", "ratio 1:2", "a " + "http://host/mnt/x",
               "as f:" + "\\" + 'n"', "s:" + "\\" + "t" + "\\" + "n"):
    assert not MACHINE_PATH.search(fine), fine


def test_no_machine_paths_in_tracked_files():
  found = machine_paths(REPO_ROOT)
  assert not found, ("absolute machine paths (use a path relative to the "
                     "repository):\n" + "\n".join(found))


def readme_section(title):
  with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
    text = f.read()
  match = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", text,
                    re.M | re.S)
  assert match, f"README.md has no '## {title}' section"
  return match.group(1)


def table_column(section, header):
  """The cells of the column `header` of the first table in `section`."""
  rows = [line for line in section.splitlines() if line.startswith("|")]
  assert len(rows) > 2, "no table in the section"
  split = lambda row: [c.strip() for c in row.strip().strip("|").split("|")]
  index = split(rows[0]).index(header)
  return [split(row)[index] for row in rows[2:]]


def test_readme_methods_table_names_configs_that_exist():
  cells = table_column(readme_section("Methods"), "configs")
  names = [n for cell in cells for n in re.findall(r"`([^`]+)`", cell)]
  configs = [n for n in names if not n.endswith(".py")]
  scripts = [n for n in names if n.endswith(".py")]
  assert len(configs) >= 10, configs
  missing = [n for n in configs
             if not os.path.isfile(os.path.join(REPO_ROOT, "configs",
                                                n + ".py"))]
  missing += [n for n in scripts
              if not os.path.isfile(os.path.join(REPO_ROOT, n))]
  assert not missing, f"README's methods table names missing files: {missing}"


def results_rows():
  """The row names of docs/BENCHMARKS.md's results table."""
  with open(os.path.join(REPO_ROOT, "docs", "BENCHMARKS.md"),
            encoding="utf-8") as f:
    text = f.read()
  table = text[text.index("## Results table"):text.index("# The notebook")]
  return set(re.findall(r"^\| ([A-Z]\d+) \|", table, re.M))


def test_readme_results_cite_rows_of_the_results_table():
  rows = results_rows()
  assert {"T1", "N1", "I1"} <= rows, sorted(rows)
  cited = table_column(readme_section("Results"), "row")
  headline = table_column(readme_section("Methods"),
                          "headline figure (row)")
  cited += [r for cell in headline for r in re.findall(r"\b([A-Z]\d+)\b",
                                                        cell)]
  assert cited
  unknown = sorted(set(cited) - rows)
  assert not unknown, f"README cites rows the results table lacks: {unknown}"
