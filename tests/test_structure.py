"""The package's shape: no import cycle between its modules, and no module reaching into another's private names."""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, str]]:
    """(module imported, name imported from it) for every import in the file, at any depth (function-local too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, "") if sub in mods else (base, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return [(m, n) for m, n in found if m in mods and m != name]


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    # a package's __init__ re-exports its children, and a child may import its package's siblings through it: not
    # a cycle between two modules of the library
    return {m: {t for t, _ in _imports(m, p, mods) if not t.startswith(m + ".") and not m.startswith(t + ".")}
            for m, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    graph = _graph()
    assert "course_lib.models.core" in graph and graph["course_lib.models.core"]      # the graph is read
    assert _cycles(graph) == []


def test_no_module_imports_or_calls_another_modules_private_names():
    mods = _modules()
    short = {m.rsplit(".", 1)[-1] for m in mods}
    offenders = []
    for name, path in mods.items():
        for module, imported in _imports(name, path, mods):
            if imported.startswith("_") and not imported.startswith("__") and module != name:
                offenders.append(f"{name} imports {module}.{imported}")
        for m in re.finditer(r"\b([a-z_]+)\.(_[a-z][a-z0-9_]*)\(", path.read_text()):
            if m.group(1) in short and m.group(1) not in ("self", "cls"):
                offenders.append(f"{name} calls {m.group(1)}.{m.group(2)}")
    assert offenders == []


def test_labs_use_only_public_names_of_the_kit():
    import json

    mods = {m.rsplit(".", 1)[-1] for m in _modules()}
    offenders = []
    for nb in sorted((PACKAGE.parent / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            for m in re.finditer(r"\b([a-z_]+)\.(_[a-z][a-z0-9_]*)\b", "".join(cell["source"])):
                if m.group(1) in mods:
                    offenders.append(f"{nb.name}: {m.group(0)}")
    assert offenders == []
