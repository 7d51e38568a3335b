"""The package's module imports form no cycle (data flows one way)."""

import ast
import os

from conftest import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "jaxnerf")


def module_imports() -> dict[str, set[str]]:
  """{module: jaxnerf modules it imports at any level}, from the source."""
  modules = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        rel = os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".")
        modules[rel.removesuffix(".__init__")] = path
  graph = {}
  for module, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read())
    deps = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module:
        names = [node.module] + [f"{node.module}.{a.name}"
                                 for a in node.names]
      else:
        continue
      deps |= {n for n in names if n in modules and n != module}
    graph[module] = deps
  return graph


def find_cycle(graph):
  state = {}

  def visit(node, path):
    state[node] = "open"
    for dep in sorted(graph[node]):
      if state.get(dep) == "open":
        return path + [node, dep]
      if dep not in state:
        cycle = visit(dep, path + [node])
        if cycle:
          return cycle
    state[node] = "done"
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node, [])
      if cycle:
        return cycle
  return None


def test_no_import_cycles():
  graph = module_imports()
  assert "jaxnerf.methods.nerf" in graph and "jaxnerf.data.dataset" in graph
  # A package importing its own submodules is not a cycle of concepts;
  # every other edge counts.
  cycle = find_cycle(graph)
  assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_commands_are_the_top_of_the_import_order():
  graph = module_imports()
  commands = {m for m in graph if m.startswith("jaxnerf.commands")}
  assert {"jaxnerf.commands.train", "jaxnerf.commands.process_data"} <= \
      commands
  importers = sorted(m for m, deps in graph.items()
                     if m not in commands and deps & commands)
  assert not importers, importers


# The architecture, lowest layer first: a module may import only from its
# own layer and those below it (errors and files are the ground).
LAYERS = ("errors", "files", "synthetic", "core", "fields", "data", "render",
          "baked", "methods", "engine", "export", "posing", "commands")


def layer_of(module: str) -> int:
  """Index in LAYERS of a jaxnerf module (its subpackage, or the ground
  module itself)."""
  parts = module.split(".")
  if len(parts) < 2 or parts[1] not in LAYERS:
    raise AssertionError(f"{module} is in no layer; LAYERS: {LAYERS}")
  return LAYERS.index(parts[1])


def layer_violations(graph) -> list[str]:
  return sorted(f"{m} ({LAYERS[layer_of(m)]}) imports {d} "
                f"({LAYERS[layer_of(d)]})"
                for m, deps in graph.items() if m != "jaxnerf"
                for d in deps if d != "jaxnerf" and layer_of(d) > layer_of(m))


def test_every_module_is_in_a_layer_and_imports_only_below():
  graph = module_imports()
  layers = {LAYERS[layer_of(m)] for m in graph if m != "jaxnerf"}
  assert layers == set(LAYERS), set(LAYERS) - layers
  assert not layer_violations(graph), "\n".join(layer_violations(graph))


def test_the_layer_check_finds_an_upward_import():
  graph = {"jaxnerf.core.rays": {"jaxnerf.engine.config"},
           "jaxnerf.engine.config": {"jaxnerf.core.rays"}}
  assert layer_violations(graph) == [
      "jaxnerf.core.rays (core) imports jaxnerf.engine.config (engine)"]
