"""Repository hygiene: no machine paths in the tracked files; the
README's methods table names configs that exist and results-table rows
that exist; the README and docs/ mention only package paths and modules
that exist.

Pure file reads (no JAX): the whole module runs in well under 2 s.
"""

import ast
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


# Mentions of the package's files and modules in the docs: a path
# (`jaxnerf/core/rays.py`, `jaxnerf/data/loaders/`, also behind `../` in a
# link) or a dotted name (`jaxnerf.methods.base.Method`, `from
# jaxnerf.render import losses`). Nothing path-like may precede them, so
# URLs (".../google/jaxnerf/...") and the `.jaxnerf` marker do not count; a
# placeholder such as `jaxnerf/methods/<name>.py` is checked up to its
# folder.
PATH_MENTION = re.compile(r"(?<![\w.~/-])((?:\.\./)*)(jaxnerf/[\w./-]*)")
DOTTED_MENTION = re.compile(r"(?<![\w./-])jaxnerf(?:\.\w+)+")
FROM_IMPORT = re.compile(r"\bfrom\s+(jaxnerf(?:\.\w+)*)\s+import\s+"
                         r"\(?\s*(\w+(?:\s*,\s*\w+)*)")


def doc_pages(root):
  """README.md and every docs/**/*.md, relative to `root`."""
  pages = ["README.md"]
  for folder, dirs, files in os.walk(os.path.join(root, "docs")):
    dirs.sort()
    pages += sorted(os.path.relpath(os.path.join(folder, f), root)
                    for f in files if f.endswith(".md"))
  return pages


def defined_names(body) -> dict:
  """{name: node} of what a module or class body defines at its level."""
  names = {}
  for node in body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
      names[node.name] = node
    elif isinstance(node, ast.Assign):
      for target in node.targets:
        for leaf in ast.walk(target):
          if isinstance(leaf, ast.Name):
            names[leaf.id] = node
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target,
                                                       ast.Name):
      names[node.target.id] = node
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      for alias in node.names:
        names[(alias.asname or alias.name).split(".")[0]] = node
    elif isinstance(node, (ast.If, ast.Try)):
      names.update(defined_names(node.body))
  return names


def missing_dotted(root, dotted, parsed):
  """Why the dotted name `jaxnerf.a.b...` names nothing in the tree under
  `root`, or None. The longest prefix that is a module or package must
  exist; the rest must be defined there (a name of the module, then of a
  class); deeper attributes are not followed."""
  parts = dotted.split(".")
  module_end, module_file = 0, None
  for end in range(1, len(parts) + 1):
    base = os.path.join(root, *parts[:end])
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
      if os.path.isfile(candidate):
        module_end, module_file = end, candidate
        break
    else:
      break
  if module_file is None:
    return "no such module"
  rest = parts[module_end:]
  if not rest:
    return None
  if module_file not in parsed:
    with open(module_file, encoding="utf-8") as f:
      parsed[module_file] = ast.parse(f.read())
  body = parsed[module_file].body
  module = ".".join(parts[:module_end])
  for depth, name in enumerate(rest[:2]):
    names = defined_names(body)
    # A package's submodule is a name of the package too.
    if name not in names and not (depth == 0 and os.path.exists(
        os.path.join(root, *parts[:module_end], name))):
      return f"{module} defines no {'.'.join(rest[:depth + 1])}"
    node = names.get(name)
    if not isinstance(node, ast.ClassDef):
      break
    body = node.body
  return None


def stale_mentions(root, rel, text, parsed):
  """'rel:line: mention (why)' for each mention of a jaxnerf path or
  module in `text` (the page `rel`) that the tree under `root` lacks."""
  found = []
  folder = os.path.dirname(os.path.join(root, rel))
  for number, line in enumerate(text.splitlines(), 1):
    for match in PATH_MENTION.finditer(line):
      ups, path = match.groups()
      path = re.sub(r"[./-]+$", lambda m: "/" if "/" in m.group() else "",
                    path)
      base = os.path.normpath(os.path.join(folder, ups)) if ups else root
      if not os.path.exists(os.path.join(base, path)):
        found.append(f"{rel}:{number}: {ups}{path} (no such file)")
    names = DOTTED_MENTION.findall(line)
    for module, imported in FROM_IMPORT.findall(line):
      names += [f"{module}.{n.strip()}" for n in imported.split(",")]
    for name in names:
      why = missing_dotted(root, name, parsed)
      if why:
        found.append(f"{rel}:{number}: {name} ({why})")
  return found


def test_stale_mentions_finds_moved_paths_and_names():
  """The check below can fail: it names what the tree lacks, and passes
  what it holds (files, folders, placeholders, names defined in a module
  or class, a package's submodules)."""
  text = "\n".join([
      "`jaxnerf/core/rays.py`, `jaxnerf/data/loaders/`, and",
      "`jaxnerf/methods/<name>.py`; [base](../jaxnerf/methods/base.py).",
      "`jaxnerf.methods.base.Method.casts_rays`, jaxnerf.core.rays.",
      "from jaxnerf.methods import base, nerf",
      "https://github.com/google-research/jaxnerf/blob/main/x.py .jaxnerf",
      "`jaxnerf/rendering.py` and [x](../jaxnerf/render/nope.py)",
      "`jaxnerf.training.train_step` `jaxnerf.core.rays.Nope`",
      "from jaxnerf import losses",
      "`jaxnerf.methods.base.Method.nope`",
  ])
  assert stale_mentions(REPO_ROOT, "docs/page.md", text, {}) == [
      "docs/page.md:6: jaxnerf/rendering.py (no such file)",
      "docs/page.md:6: ../jaxnerf/render/nope.py (no such file)",
      "docs/page.md:7: jaxnerf.training.train_step "
      "(jaxnerf defines no training)",
      "docs/page.md:7: jaxnerf.core.rays.Nope "
      "(jaxnerf.core.rays defines no Nope)",
      "docs/page.md:8: jaxnerf.losses (jaxnerf defines no losses)",
      "docs/page.md:9: jaxnerf.methods.base.Method.nope "
      "(jaxnerf.methods.base defines no Method.nope)",
  ]


def test_docs_mention_only_paths_and_modules_that_exist():
  """Every jaxnerf path and dotted module the README and docs/ mention
  exists. docs/BENCHMARKS.md's notebook is exempt: each entry describes
  the tree at its own commit."""
  parsed, found = {}, []
  for rel in doc_pages(REPO_ROOT):
    with open(os.path.join(REPO_ROOT, rel), encoding="utf-8") as f:
      text = f.read()
    if rel == os.path.join("docs", "BENCHMARKS.md"):
      text = text[:text.index("\n# The notebook")]
    found += stale_mentions(REPO_ROOT, rel, text, parsed)
  assert not found, ("docs mention what the tree lacks:\n" +
                     "\n".join(found))
