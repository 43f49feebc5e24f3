"""The import rules of the product code, read from the source (nothing is imported):

- `ccb.proxy` never imports `ccb.cli`, not even for type checking: the bridge stands on its own.
- `ccb.proxy.translate` is sans-I/O: neither it nor any ccb module it reaches imports a network, process or file
  library, and it calls no `open()`.
- Imports run at module load (the top level, class bodies, `if`/`try` blocks; not `if TYPE_CHECKING:`) form no
  circle. An import inside a function that closes a circle is allowed only while it is listed in
  `LAZY_CYCLE_EDGES`, a list of debts to pay off: an entry that no longer closes a circle must be removed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"ccb.cli": ROOT / "cli", "ccb.proxy": ROOT / "proxy", "ccb.profiles": ROOT / "profiles"}

# Imports inside functions that close an import circle, as (importer, imported). Each one hides a circle the module
# graph would otherwise show; remove the entry when the circle is gone (the test below says when).
LAZY_CYCLE_EDGES = {
    (
        "ccb.cli.commands.launch",
        "ccb.cli.commands.setup",
    ),  # resolve_profile's onboarding; setup imports launch's _launch
    ("ccb.cli.commands.setup", "ccb.cli.switch"),  # setup's "switch plain claude" step
    ("ccb.cli.switch", "ccb.cli.commands.launch"),  # switch's resolve_profile
    ("ccb.proxy.capabilities", "ccb.proxy.upstream"),  # read_capped; upstream imports Capabilities
    ("ccb.proxy.relay", "ccb.proxy.websearch.loop"),  # the search loop; it imports relay
}

# Libraries that do network, process or file I/O (top-level names, or dotted modules).
IO_MODULES = {
    "aiohttp", "httpx", "requests", "urllib3", "asyncio", "socket", "ssl", "selectors", "select", "subprocess",
    "multiprocessing", "os", "shutil", "tempfile", "pathlib", "io", "fcntl", "mmap", "signal", "http.client",
    "http.server", "urllib.request", "psutil", "platformdirs",
}  # fmt: skip


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    lazy: bool  # inside a function: runs when called, not when the module loads
    typing_only: bool  # under `if TYPE_CHECKING:`: never runs


def module_files(packages: dict[str, Path]) -> dict[str, Path]:
    """Every module of the packages by its dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for package, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(body: Iterable[ast.stmt], lazy: bool, typing_only: bool) -> Iterator[tuple[ast.stmt, bool, bool]]:
    """Every import statement with where it runs."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, lazy, typing_only
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _walk(node.body, True, typing_only)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.body, lazy, True)
            yield from _walk(node.orelse, lazy, typing_only)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from _walk([c for c in children if isinstance(c, ast.stmt)], lazy, typing_only)
                    for child in children:
                        if isinstance(child, (ast.ExceptHandler, ast.match_case)):
                            yield from _walk(child.body, lazy, typing_only)


def imports_of(name: str, path: Path, modules: Iterable[str]) -> list[Import]:
    """The imports of one module; `from X import Y` counts as an import of X.Y when that is a module."""
    known = set(modules)
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node, lazy, typing_only in _walk(ast.parse(path.read_text(encoding="utf-8")).body, False, False):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in dict.fromkeys(targets):
            found.append(Import(name, target, node.lineno, lazy, typing_only))
    return found


def all_imports(packages: dict[str, Path]) -> list[Import]:
    modules = module_files(packages)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def _graph(imports: Iterable[Import], modules: Iterable[str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.imported in graph and imp.imported != imp.importer:
            graph[imp.importer].add(imp.imported)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt in graph[node] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return False


def lazy_cycle_edges(imports: list[Import], modules: Iterable[str]) -> set[tuple[str, str]]:
    """The function-level imports that close a circle in the graph of every import that runs."""
    runtime = [imp for imp in imports if not imp.typing_only]
    graph = _graph(runtime, modules)
    return {
        (imp.importer, imp.imported)
        for imp in runtime
        if imp.lazy and imp.imported in graph and _reaches(graph, imp.imported, imp.importer)
    }


def _is_io(module: str) -> bool:
    return any(module == io or module.startswith(io + ".") for io in IO_MODULES)


def translate_io_problems(packages: dict[str, Path]) -> list[str]:
    """I/O imports (and open() calls) in ccb.proxy.translate and every ccb module it reaches."""
    modules = module_files(packages)
    imports = [imp for imp in all_imports(packages) if not imp.typing_only]
    by_module: dict[str, list[Import]] = {}
    for imp in imports:
        by_module.setdefault(imp.importer, []).append(imp)
    todo = [m for m in modules if m == "ccb.proxy.translate" or m.startswith("ccb.proxy.translate.")]
    reached, problems = set(todo), []
    while todo:
        name = todo.pop()
        for imp in by_module.get(name, []):
            if _is_io(imp.imported):
                problems.append(f"{name}:{imp.line} imports {imp.imported}")
            elif imp.imported in modules and imp.imported not in reached:
                reached.add(imp.imported)
                todo.append(imp.imported)
        for node in ast.walk(ast.parse(modules[name].read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                problems.append(f"{name}:{node.lineno} calls open()")
    return sorted(problems)


# -- the rules, on the product code ------------------------------------------------------------------------------


def test_proxy_never_imports_cli() -> None:
    offenders = [
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in all_imports(PACKAGES)
        if imp.importer.startswith("ccb.proxy") and (imp.imported == "ccb.cli" or imp.imported.startswith("ccb.cli."))
    ]
    assert offenders == []


def test_translate_does_no_io() -> None:
    assert translate_io_problems(PACKAGES) == []


def test_no_import_circle_at_module_load() -> None:
    modules = module_files(PACKAGES)
    at_load = [imp for imp in all_imports(PACKAGES) if not imp.lazy and not imp.typing_only]
    assert cycles(_graph(at_load, modules)) == []


def test_lazy_imports_close_no_circle_but_the_listed_ones() -> None:
    modules = module_files(PACKAGES)
    found = lazy_cycle_edges(all_imports(PACKAGES), modules)
    assert found - LAZY_CYCLE_EDGES == set(), "a new import circle, tied by an import inside a function"
    assert LAZY_CYCLE_EDGES - found == set(), "no longer closes a circle: remove it from LAZY_CYCLE_EDGES"


# -- the checker itself, on small trees --------------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = tmp_path / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {"ccb.proxy": tmp_path / "pkg"}


def test_checker_sees_a_circle_at_load_and_ignores_type_checking_imports(tmp_path: Path) -> None:
    packages = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from ccb.proxy import b\n",
            "b.py": "import ccb.proxy.c as c\n",
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ccb.proxy.d import X\n"
            "try:\n    from . import a\nexcept ImportError:\n    pass\n",
            "d.py": "from ccb.proxy.c import thing\n",
        },
    )
    at_load = [imp for imp in all_imports(packages) if not imp.lazy and not imp.typing_only]
    assert cycles(_graph(at_load, module_files(packages))) == [["ccb.proxy.a", "ccb.proxy.b", "ccb.proxy.c"]]


def test_checker_names_the_function_import_that_closes_a_circle(tmp_path: Path) -> None:
    packages = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "import ccb.proxy.b\n",
            "b.py": "def f():\n    from ccb.proxy import a\n\ndef g():\n    from ccb.proxy import c\n",
            "c.py": "",
        },
    )
    modules = module_files(packages)
    imports = all_imports(packages)
    assert cycles(_graph([i for i in imports if not i.lazy], modules)) == []
    assert lazy_cycle_edges(imports, modules) == {("ccb.proxy.b", "ccb.proxy.a")}


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import aiohttp\n", "imports aiohttp"),
        ("def f():\n    import subprocess\n", "imports subprocess"),
        ("from os import path\n", "imports os"),
        ("from urllib.request import urlopen\n", "imports urllib.request"),
        ("from ccb.proxy import upstream\n", "ccb.proxy.upstream:1 imports httpx"),
        ("def f(p):\n    return open(p).read()\n", "calls open()"),
    ],
)
def test_checker_finds_io_in_translate_and_what_it_reaches(tmp_path: Path, source: str, problem: str) -> None:
    packages = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "upstream.py": "import httpx\n",
            "translate/__init__.py": "",
            "translate/ok.py": "import json\nfrom urllib.parse import urlsplit\n",
            "translate/bad.py": source,
        },
    )
    problems = translate_io_problems(packages)
    assert len(problems) == 1 and problem in problems[0]
