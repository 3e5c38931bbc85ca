"""The direction of dependencies holds (DESIGN.md): no import cycles among npuhub's
modules, `hub` never imports `spawners` except the JupyterHub config that wires a
deployment, and `extensions` (which runs in the user's container) imports neither."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"hub": "npuhub.hub", "spawners": "npuhub.spawners", "extensions": "npuhub.extensions"}
WIRING = {"hub/jupyterhub_config.py"}  # the one hub file that may name the spawners


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [PACKAGES[rel.parts[0]], *rel.with_suffix("").parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """Every npuhub module `path` imports (at any depth of the file, as Python would):
    `from pkg import sub` is an import of pkg.sub, not of pkg's __init__."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {  # `if TYPE_CHECKING:` imports are for type checkers, not run
        id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
        and "TYPE_CHECKING" in ast.unparse(block.test) for stmt in block.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            subs = {f"{base}.{a.name}" for a in node.names} & modules
            found.update(subs)
            if len(subs) < len(node.names):  # names defined in the module itself
                found.add(base)
    return {m for m in found if m.startswith("npuhub.")}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for d in PACKAGES for p in (ROOT / d).rglob("*.py")
             if "migrations" not in p.parts}
    modules = set(files)
    return {name: {m for m in imports_of(path, name, modules) if m in files and m != name}
            for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_cycles_are_found():  # the check itself sees a cycle when there is one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_dependencies_point_one_way():
    wrong = []
    for name, deps in graph().items():
        path = name.replace("npuhub.", "").replace(".", "/")
        for dep in deps:
            if name.startswith("npuhub.hub") and dep.startswith("npuhub.spawners"):
                if not any(path == w.removesuffix(".py") for w in WIRING):
                    wrong.append((name, dep))
            if name.startswith("npuhub.extensions") and not dep.startswith("npuhub.extensions"):
                wrong.append((name, dep))
    assert wrong == []
