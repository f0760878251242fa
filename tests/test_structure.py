"""The packages' shape: no import cycle between the modules of course_lib (or of tools/), no module reaching into
another's private names, and the build tools kept out of the installed kit (tools import course_lib's public names;
course_lib never imports tools; pyproject.toml installs only course_lib)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"
TOOLS = ROOT / "tools"


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    mods = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
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


def _graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    mods = _modules(package)
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
    tools = _graph(TOOLS)
    assert "tools.slides.render" in tools and tools["tools.slides.render"]            # the graph is read
    assert _cycles(tools) == []


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


def test_tools_use_only_public_names_of_the_kit():
    """tools/ may import any course_lib module or name that is public: no ``course_lib._x`` module, no ``_name``."""
    lib = _modules()
    mods = {**lib, **_modules(TOOLS)}
    short = {m.rsplit(".", 1)[-1] for m in lib}
    offenders = []
    for name, path in _modules(TOOLS).items():
        for module, imported in _imports(name, path, mods):
            if not module.startswith("course_lib"):
                continue
            if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                offenders.append(f"{name} imports the private module {module}")
            if imported.startswith("_") and not imported.startswith("__"):
                offenders.append(f"{name} imports {module}.{imported}")
        for m in re.finditer(r"\b([a-z_]+)\.(_[a-z][a-z0-9_]*)\(", path.read_text()):
            if m.group(1) in short and m.group(1) not in ("self", "cls"):
                offenders.append(f"{name} calls {m.group(1)}.{m.group(2)}")
    assert offenders == []


def test_the_kit_never_imports_the_build_tools():
    offenders = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{name} imports {t}" for t in targets if t == "tools" or t.startswith("tools.")]
    assert offenders == []


def test_only_course_lib_is_installed():
    """pip installs course_lib (what a learner's runtime imports); tools/ stays in the checkout."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["course_lib*"]
    from setuptools import find_packages

    found = find_packages(str(ROOT), include=["course_lib*"])
    assert "course_lib" in found and not [p for p in found if not p.startswith("course_lib")]
    assert (TOOLS / "__init__.py").is_file()


def test_labs_use_only_public_names_of_the_kit():
    import json

    mods = {m.rsplit(".", 1)[-1] for m in _modules()}
    offenders = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            for m in re.finditer(r"\b([a-z_]+)\.(_[a-z][a-z0-9_]*)\b", "".join(cell["source"])):
                if m.group(1) in mods:
                    offenders.append(f"{nb.name}: {m.group(0)}")
    assert offenders == []


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60


def _too_long(root: Path) -> tuple[list[str], list[str]]:
    modules, functions = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(root.parent)
        if text.count("\n") > MAX_MODULE_LINES:
            modules.append(f"{rel}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    functions.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    return modules, functions


def test_modules_and_functions_stay_small_enough_to_hold_in_your_head():
    """No module of the kit or its tools over 450 lines, no function over 60 (docstring included)."""
    for root in (PACKAGE, PACKAGE.parent / "tools"):
        modules, functions = _too_long(root)
        assert modules == [] and functions == [], (modules, functions)


def test_the_size_rule_finds_a_long_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "long.py").write_text("def f():\n" + "    x = 1\n" * 60 + "\n" * 400)
    modules, functions = _too_long(pkg)
    assert functions == ["pkg/long.py:1 f: 61 lines"] and modules == ["pkg/long.py: 461 lines"]


def test_every_registry_is_one_registry_class():
    """Data sets, claims, zoo models, detectors and offline weights are all looked up through ``_registry.Registry``."""
    from course_lib import _registry, claims, data, models, wildlife
    from course_lib.models import weights

    found = {"data sets": data.DATASETS, "claims": claims.CLAIMS, "zoo": models.ZOO, "detectors": wildlife.DETECTORS,
             "offline weights": weights.OFFLINE_WEIGHTS}
    assert all(isinstance(reg, _registry.Registry) for reg in found.values()), \
        {k: type(v).__name__ for k, v in found.items()}
    assert all(len(reg) > 0 for reg in found.values())
