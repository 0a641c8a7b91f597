"""Imports point down the flow: no import circle in pegasus_jax, not even behind a lazy import.

The graph is read from the source (every `import`, at module level or inside a function), so a
circle hidden in a function body counts; then a fresh interpreter imports every module in
dependency order (leaves first), which fails on a module that only imports in a lucky order.
"""

import ast
import graphlib
import pathlib
import subprocess
import sys

from conftest import REPO

PACKAGE = REPO / "pegasus_jax"


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(REPO).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
  """module -> the pegasus_jax modules it imports (submodules named in `from x import y` too)."""
  modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
  graph: dict[str, set[str]] = {}
  for name, path in modules.items():
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        targets.update(a.name for a in node.names)
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        targets.add(node.module)
        targets.update(f"{node.module}.{a.name}" for a in node.names)
    graph[name] = {t for t in targets if t in modules and t != name}
  return graph


def test_no_import_cycles():
  graph = import_graph()
  assert len(graph) > 30  # the walk found the package
  try:
    order = list(graphlib.TopologicalSorter(graph).static_order())
  except graphlib.CycleError as e:
    raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None
  assert set(order) == set(graph)


ENTRY_POINT = "pegasus_jax.main"  # defines absl flags at import: imported last, on its own


def test_every_module_imports_alone_in_dependency_order():
  order = [m for m in graphlib.TopologicalSorter(import_graph()).static_order()
           if m != ENTRY_POINT] + [ENTRY_POINT]
  script = "import importlib\nfor m in %r:\n  importlib.import_module(m)\nprint('OK', len(%r))" % (
      order, order)
  out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.strip().endswith(f"OK {len(order)}")
