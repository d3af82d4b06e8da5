"""Print the import graph of `distill/` and its cycles; exit 1 on a cycle or a private import.

    .venv/bin/python benchmarks/import_graph.py          # cycles, private names, upward imports
    .venv/bin/python benchmarks/import_graph.py --edges  # every edge too

Function-level imports count: a cycle broken only by a lazy import is still a tangle a reader
has to hold in their head. An "upward" import is a module importing its own package's
`__init__` (a child reaching back up to the package that hands its names on).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "distill"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Edges module -> distill modules it imports, and (module, source, name) private imports."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    private: list[tuple[str, str, str]] = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        graph[mod].add(a.name)
            elif isinstance(node, ast.ImportFrom):
                src = _resolve(mod, is_pkg, node)
                if not src.startswith("distill"):
                    continue
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    if sub in mods:  # `from distill.filter import verify`: the module verify
                        graph[mod].add(sub)
                    elif src in mods:
                        graph[mod].add(src)
                        if a.name.startswith("_") and src != mod:
                            private.append((mod, src, a.name))
    for m in graph:
        graph[m].discard(m)
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
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
        for w in sorted(graph[v]):
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

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward(graph: dict[str, set[str]], mods: dict[str, Path]) -> list[tuple[str, str]]:
    """A module importing a package that contains it (the package's __init__ hands names on)."""
    return [
        (m, t)
        for m, ts in graph.items()
        for t in sorted(ts)
        if mods[t].name == "__init__.py" and m.startswith(t + ".")
    ]


def main() -> int:
    mods = modules()
    graph, private = imports(mods)
    if "--edges" in sys.argv:
        for m in sorted(graph):
            print(m, "->", ", ".join(sorted(graph[m])))
    cyc = cycles(graph)
    up = upward(graph, mods)
    print(f"{len(mods)} modules, {sum(map(len, graph.values()))} edges")
    print(f"cycles: {len(cyc)}")
    for c in cyc:
        print("  cycle:", " <-> ".join(c))
    print(f"upward imports: {len(up)}")
    for m, t in up:
        print(f"  {m} imports its package {t}")
    print(f"private names imported across modules: {len(private)}")
    for m, src, name in private:
        print(f"  {m}: from {src} import {name}")
    return 1 if (cyc or up or private) else 0


if __name__ == "__main__":
    sys.exit(main())
