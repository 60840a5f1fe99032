"""Static checks of the package shape (docs/architecture.md): no import cycles, size budgets, and
the torch-free modules staying torch-free.

Everything here reads the source with :mod:`ast`; nothing of ``medunet`` is imported, so a cycle or
a heavy import cannot break the checks themselves. The package is found the way Python would find
it (``PYTHONPATH`` first), which lets a planted violation in a copy be checked with the same test.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 50

#: modules that must not import torch when imported (imports inside functions are allowed there)
TORCH_FREE = ("medunet.evaluation", "medunet.cli", "medunet.config", "medunet.metrics",
              "medunet.distances", "medunet.data.check")
#: the one module under a torch-free package allowed to import torch (loaded on demand)
TORCH_ALLOWED = ("medunet.evaluation.run",)
HEAVY = "torch"


@dataclass(frozen=True)
class Import:
    """One imported module, as the importing module names it."""

    target: str
    line: int
    #: executed when the importing module is imported: not inside a function, nor under
    #: ``if TYPE_CHECKING:`` (which only the type checker follows)
    top_level: bool


def _package_root() -> Path:
    spec = importlib.util.find_spec("medunet")  # finds without importing
    assert spec is not None and spec.origin is not None, "medunet is not importable"
    return Path(spec.origin).parent


@cache
def _modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__``)."""
    root = _package_root()
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = ("medunet", *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


@cache
def _tree(module: str) -> ast.Module:
    path = _modules()[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _lazy_exports(package: str) -> dict[str, str]:
    """A package's PEP 562 table (``_EXPORTS = {name: module}``): names resolved on first access."""
    if package not in _modules():
        return {}
    for node in _tree(package).body:
        if (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "_EXPORTS"
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
            return {k.value: v.value for k, v in zip(node.value.keys, node.value.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return {}


def _is_type_checking(test: ast.expr) -> bool:
    """The test of ``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _walk(node: ast.AST, deferred: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node`` with whether it is deferred: inside a function body or a
    ``TYPE_CHECKING`` block (so not run when the module is imported)."""
    for child in ast.iter_child_nodes(node):
        inside = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body:
            inside = True
        yield child, inside
        yield from _walk(child, inside)


def _from_base(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names, resolving relative levels."""
    if not node.level:
        return node.module or ""
    is_package = _modules()[module].name == "__init__.py"
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def _imports(module: str) -> tuple[Import, ...]:
    """All imports of ``module``; ``from pkg import sub`` counts as importing ``pkg.sub`` and a
    lazily re-exported name as importing the module that defines it."""
    out = []
    for node, deferred in _walk(_tree(module)):
        if isinstance(node, ast.Import):
            out += [Import(a.name, node.lineno, not deferred) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(module, node)
            lazy = _lazy_exports(base)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in _modules() else lazy.get(alias.name, base)
                out.append(Import(target, node.lineno, not deferred))
    return tuple(out)


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    """module -> imported modules (package modules by dotted name, others by top-level name)."""
    graph: dict[str, set[str]] = {}
    for module in _modules():
        edges = graph.setdefault(module, set())
        for imp in _imports(module):
            if top_level_only and not imp.top_level:
                continue
            if imp.target == "medunet" or imp.target.startswith("medunet."):
                # `import medunet.a.b` where only medunet.a is a module still imports medunet.a
                name = imp.target
                while name not in _modules() and "." in name:
                    name = name.rsplit(".", 1)[0]
                edges.add(name)
            else:
                edges.add(imp.target.split(".")[0])
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected component with more than one module,
    or a module importing itself (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(_cycle_in(graph, v, component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _cycle_in(graph: dict[str, set[str]], start: str, component: set[str]) -> list[str]:
    """A shortest path ``start -> ... -> start`` inside one strongly connected component."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is not on a cycle")


def _path_to(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A shortest import chain ``start -> ... -> goal``, or None. Importing ``a.b.c`` also runs the
    ``__init__`` of ``a`` and ``a.b``, so those count as reached."""
    def parents(module: str) -> list[str]:
        parts = module.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts))]

    seen = {start: ""}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, set()) | {p for p in parents(v) if p in graph}):
                if w in seen:
                    continue
                seen[w] = v
                if w == goal:
                    chain = [w]
                    while chain[-1] != start:
                        chain.append(seen[chain[-1]])
                    return chain[::-1]
                nxt.append(w)
        frontier = nxt
    return None


def _code_lines(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, without its docstring, blank lines and comment-only lines."""
    body = node.body
    if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:]
    if not body:
        return 0
    first, last = body[0].lineno, max(n.end_lineno or n.lineno for n in body)
    return sum(1 for text in lines[first - 1:last] if text.strip() and not text.strip().startswith("#"))


# --- the checks ------------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph(top_level_only=False))
    assert not cycles, "import cycles (imports inside functions count too):\n" + "\n".join(
        "  " + " -> ".join(c) for c in cycles)


def test_no_file_over_the_line_budget() -> None:
    too_long = []
    for module, path in _modules().items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_FILE_LINES:
            too_long.append(f"  {module} ({path.name}): {n} lines > {MAX_FILE_LINES}")
    assert not too_long, "files over the budget:\n" + "\n".join(too_long)


def test_no_function_over_the_line_budget() -> None:
    too_long = []
    for module, path in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(_tree(module)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _code_lines(lines, node)
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"  {module}:{node.lineno} {node.name}(): {n} lines of code "
                                    f"> {MAX_FUNCTION_LINES}")
    assert not too_long, "functions over the budget:\n" + "\n".join(too_long)


def test_torch_free_modules_do_not_import_torch() -> None:
    graph = _graph(top_level_only=True)
    checked = [m for m in _modules()
               if any(m == p or m.startswith(p + ".") for p in TORCH_FREE) and m not in TORCH_ALLOWED]
    assert set(TORCH_FREE) <= set(checked), f"torch-free modules missing: {set(TORCH_FREE) - set(checked)}"
    chains = [chain for m in checked if (chain := _path_to(graph, m, HEAVY))]
    assert not chains, f"{HEAVY} imported at import time by torch-free modules:\n" + "\n".join(
        f"  {chain[0]}: " + " -> ".join(chain) for chain in chains)


# --- the checker itself, on tiny graphs ------------------------------------------------------------


def test_cycle_finder_reports_the_cycle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c", "x"}, "c": {"a"}, "d": {"d"}, "e": {"a"}, "x": set()}
    assert sorted(_cycles(graph)) == [["a", "b", "c", "a"], ["d", "d"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_path_to_follows_parent_packages() -> None:
    graph = {"p": {"torch"}, "p.sub": set(), "q": {"p.sub"}}
    assert _path_to(graph, "q", "torch") == ["q", "p.sub", "p", "torch"]
    assert _path_to({"q": set()}, "q", "torch") is None
