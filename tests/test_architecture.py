"""The layering, checked from the source: no import circle anywhere in the product,
chat adapters that reach the core only through its API (`bot.core.api`, the messages),
and functions that fit on a screen.

Every import counts, those inside functions and under TYPE_CHECKING too: an import
moved into a function still ties the two modules together, it only hides the circle
from the interpreter."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from bot.core.api import AdminAPI, JobAPI

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "providers", "local_engine", "storage")
ADAPTERS = ("bot.discord", "bot.telegram")
ADAPTER_MAY_IMPORT_OF_THE_CORE = {"bot.core.api", "bot.core.messages"}
BEHIND_THE_CORE = ("providers", "storage", "local_engine")


# --- reading imports ---------------------------------------------------------------------


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import in the file that names a known module."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _known(alias.name, known, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node.module, node.level)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:  # from bot.core import messages
                    yield submodule, node.lineno
                else:
                    yield from _known(base, known, node.lineno)


def _absolute(name: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = name.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, *([module] if module else [])])


def _known(module: str, known: set[str], line: int) -> Iterator[tuple[str, int]]:
    while module and module not in known:  # import a.b.c where a.b.c is a name in a.b
        module = module.rpartition(".")[0]
    if module:
        yield module, line


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    found = modules(root, packages)
    known = set(found)
    return {
        name: {imported for imported, _ in imports_of(name, path, known) if imported != name}
        for name, path in found.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def adapter_violations(root: Path) -> list[str]:
    """Imports of the core beyond its API, and uses of the service beyond `JobAPI`."""
    found = modules(root, PRODUCT)
    known = set(found)
    allowed, admin_allowed = _members(JobAPI), _members(AdminAPI)
    problems = []
    for name, path in found.items():
        if not name.startswith(ADAPTERS):
            continue
        where = path.relative_to(root)
        for imported, line in imports_of(name, path, known):
            if imported.startswith("bot.core") and imported not in ADAPTER_MAY_IMPORT_OF_THE_CORE:
                problems.append(f"{where}:{line} imports {imported}")
            if imported.startswith(BEHIND_THE_CORE):
                problems.append(f"{where}:{line} imports {imported}")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            if _is_named(node.value, "service") and node.attr not in allowed:
                problems.append(f"{where}:{node.lineno} uses service.{node.attr}")
            if _is_named(node.value, "admin") and node.attr not in admin_allowed:
                problems.append(f"{where}:{node.lineno} uses admin.{node.attr}")
    return sorted(problems)


def _members(protocol: type) -> set[str]:
    return {name for name in dir(protocol) if not name.startswith("_")}


def _is_named(node: ast.expr, name: str) -> bool:
    """`service`, `self.service`, `bot.service`, `parts_of(x).service` (or `admin`)."""
    return (isinstance(node, ast.Name) and node.id == name) or (
        isinstance(node, ast.Attribute) and node.attr == name
    )


# --- the rules ---------------------------------------------------------------------------


def test_the_product_has_no_import_circle() -> None:
    graph = import_graph(ROOT, PRODUCT)
    assert len(graph) > 80  # every product module was read
    assert circles(graph) == []


def test_adapters_reach_the_core_only_through_its_api() -> None:
    assert adapter_violations(ROOT) == []


MAX_FUNCTION_LINES = 60  # a function longer than a screen is several functions


def test_no_product_function_is_longer_than_a_screen() -> None:
    long = []
    for name, path in modules(ROOT, PRODUCT).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []


def test_tests_share_only_tests_support() -> None:
    """What tests share is in tests/support/ (fixtures in conftest.py); no test imports
    another test module."""
    tests = ROOT / "tests"
    stray = [
        str(path.relative_to(ROOT))
        for path in tests.rglob("*.py")
        if not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
        and tests / "support" not in path.parents
        and tests / "data" not in path.parents  # files made by earlier versions
    ]
    assert stray == []
    found = modules(ROOT, ("tests",))
    from_tests = [
        f"{name} imports {imported}"
        for name, path in found.items()
        for imported, _ in imports_of(name, path, set(found))
        if imported.startswith("tests.test_")
    ]
    assert from_tests == []


# --- the checks themselves can fail ---------------------------------------------------------


def _package(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_circle_hidden_in_a_function_or_a_relative_import_is_found(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def later():\n    from . import c\n",
            "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
            "pkg/d.py": "import pkg.a\n",
        },
    )
    graph = import_graph(tmp_path, ("pkg",))
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_an_adapter_reaching_past_the_api_is_caught(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/core/__init__.py": "",
            "bot/core/api.py": "",
            "bot/core/messages.py": "",
            "bot/core/quotas.py": "",
            "bot/discord/__init__.py": "",
            "bot/discord/cog.py": (
                "from bot.core import messages\n"
                "from bot.core.api import JobAPI\n"
                "from bot.core.quotas import subject_key\n"
                "async def f(self):\n"
                "    await self.service.submit(None)\n"
                "    await self.service.store.jobs.get('x')\n"
                "    self.service.admin.require_admin(None)\n"
                "    self.service.admin.authority.may_cancel()\n"
            ),
            "providers/__init__.py": "",
            "storage/__init__.py": "",
            "local_engine/__init__.py": "",
            "bot/telegram/__init__.py": "import storage\n",
        },
    )
    assert adapter_violations(tmp_path) == [
        "bot/discord/cog.py:3 imports bot.core.quotas",
        "bot/discord/cog.py:6 uses service.store",
        "bot/discord/cog.py:8 uses admin.authority",
        "bot/telegram/__init__.py:1 imports storage",
    ]
