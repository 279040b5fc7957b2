"""The package's import graph: no circles, and no module imports the package root back."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "motclassify"


def imports_of(path: Path) -> set[str]:
    """Sibling modules a module imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module.split(".")[0]] if node.module else [alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("motclassify"):
            found.add(node.module.split(".")[1] if "." in node.module else "__init__")
    return found


def test_no_module_imports_the_package_root_and_the_graph_has_no_circle():
    graph = {p.stem: imports_of(p) for p in PACKAGE.glob("*.py")}
    assert not [name for name, targets in graph.items() if "__init__" in targets and name != "__init__"]
    visiting, done = set(), set()

    def visit(name, path):
        assert name not in visiting, f"import circle: {' -> '.join(path + [name])}"
        if name in done or name not in graph:
            return
        visiting.add(name)
        for target in sorted(graph[name]):
            visit(target, path + [name])
        visiting.discard(name)
        done.add(name)

    for module in graph:
        if module != "__init__":
            visit(module, [])
