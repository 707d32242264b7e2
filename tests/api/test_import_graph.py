"""The package's layering, from its import graph: no import circle, the proxy independent of the
SDK, and no module grown past ~500 lines without saying why.

The graph is built with :mod:`ast` from every ``.py`` file under ``cloudstate/`` (generated
``*_pb2*`` modules included): absolute and relative imports, at module level or inside functions
or ``if TYPE_CHECKING:`` blocks. ``import a.b.c`` and ``from a.b import c`` (``c`` a module)
depend on ``a.b.c`` only, not on the packages above it. One exception: the package face,
``cloudstate/__init__.py``, names its exports for type checkers under ``TYPE_CHECKING`` and loads
them lazily (``test_exports.py`` pins that importing it loads no submodule); it has no edges, and
this test checks that it imports nothing else at run time.

The proxy's side is ``cloudstate.proxy``, ``cloudstate.protocol``, the generated modules kept at
the package root and the face; it must be closed (no module of it imports anything else), so the
proxy reaches no SDK module even indirectly.

Run as a script to print the graph's circles and the proxy's imports of other code::

    .venv/bin/python tests/api/test_import_graph.py
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "cloudstate"
FACE = "cloudstate"

#: What a module of ``cloudstate.proxy`` may import from the rest of the package: the proxy, the
#: protocol's generated code, and the package face for ``__version__`` only.
PROXY_MAY_IMPORT = ("cloudstate.proxy", "cloudstate.protocol")
#: Generated modules kept at the package root under their protoc names (user code imports them).
ROOT_GENERATED_SUFFIXES = ("_pb2", "_pb2_grpc")

#: A module longer than this says, in its docstring, the one concern it holds ("One concern: ...").
MAX_LINES = 500
ONE_CONCERN = "One concern:"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, name: str, is_package: bool) -> Iterator[tuple[str, str, bool]]:
    """``(base, imported name or "", type_checking_only)`` for every import in ``tree``."""
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                type_checking.update(id(n) for n in ast.walk(child))
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        guarded = id(node) in type_checking
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", guarded
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                yield base, alias.name, guarded


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for base, imported, guarded in _imports(tree, name, path.name == "__init__.py"):
            if not (base == FACE or base.startswith(FACE + ".")):
                continue
            if name == FACE and guarded:
                continue  # the face's type-only names (module docstring)
            target = f"{base}.{imported}" if imported and f"{base}.{imported}" in known else base
            if target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
    return sorted(found)


def is_root_generated(module: str) -> bool:
    head, _, leaf = module.rpartition(".")
    return head == FACE and leaf.endswith(ROOT_GENERATED_SUFFIXES)


def proxy_may_import(module: str) -> bool:
    return (
        module == FACE
        or is_root_generated(module)
        or any(module == p or module.startswith(p + ".") for p in PROXY_MAY_IMPORT)
    )


def proxy_imports_of_other_code(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Module -> what it imports outside the proxy's side, for every module on the proxy's side
    (the proxy and what it may import). Empty: the proxy's side is closed, so nothing the proxy
    imports, directly or not, is SDK code."""
    found: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module == FACE or not proxy_may_import(module):
            continue
        bad = {t for t in targets if not proxy_may_import(t)}
        if bad:
            found[module] = bad
    return found


def test_the_package_has_no_import_circle() -> None:
    circles = cycles(import_graph())
    assert circles == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_proxy_imports_nothing_of_the_sdk() -> None:
    found = proxy_imports_of_other_code(import_graph())
    assert found == {}, "\n".join(f"{m} imports {sorted(t)}" for m, t in sorted(found.items()))


def test_the_proxy_takes_only_the_version_from_the_package_face() -> None:
    for name, path in modules().items():
        if not name.startswith("cloudstate.proxy"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for base, imported, _ in _imports(tree, name, path.name == "__init__.py"):
            if base == FACE and imported:
                assert imported == "__version__" or is_root_generated(f"{FACE}.{imported}"), (
                    f"{name} imports {imported} from the package face"
                )
            assert not (base == FACE and not imported), f"{name}: import cloudstate"


def test_the_package_face_imports_no_submodule_at_run_time() -> None:
    """Its imports of the package are all under TYPE_CHECKING (loaded lazily by __getattr__)."""
    path = PACKAGE / "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    runtime = [
        base + (f".{imported}" if imported else "")
        for base, imported, guarded in _imports(tree, FACE, True)
        if not guarded and (base == FACE or base.startswith(FACE + "."))
    ]
    assert runtime == []


def test_the_graph_sees_every_kind_of_import() -> None:
    """The builder itself: relative, function-level and TYPE_CHECKING imports are edges."""
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import cloudstate.a.b\n"
        "from . import sibling\n"
        "from .sibling import name\n"
        "from .. import up\n"
        "if TYPE_CHECKING:\n"
        "    from cloudstate.typed import T\n"
        "def f():\n"
        "    from cloudstate.late import g\n"
    )
    found = {
        (base, imported)
        for base, imported, _ in _imports(ast.parse(source), "cloudstate.pkg.mod", False)
    }
    assert found >= {
        ("cloudstate.a.b", ""),
        ("cloudstate.pkg", "sibling"),
        ("cloudstate.pkg.sibling", "name"),
        ("cloudstate", "up"),
        ("cloudstate.typed", "T"),
        ("cloudstate.late", "g"),
    }
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    # The proxy's side must be closed: protocol code importing the SDK would leak it too.
    leaky = {
        "cloudstate.proxy.x": {"cloudstate.protocol.y", "cloudstate"},
        "cloudstate.protocol.y": {"cloudstate.sdk_module"},
        "cloudstate.sdk_module": {"cloudstate.proxy.x"},
    }
    assert proxy_imports_of_other_code(leaky) == {
        "cloudstate.protocol.y": {"cloudstate.sdk_module"}
    }


def test_the_graph_is_the_package() -> None:
    """Known edges of each kind are in it: the checks above do not pass on an empty graph."""
    graph = import_graph()
    assert len(graph) > 150
    assert "cloudstate.discovery" in graph["cloudstate.server"]  # absolute
    assert "cloudstate.proxy.server" in graph["cloudstate.proxy.cli"]  # inside a function
    assert "cloudstate.protocol.entity_pb2" in graph["cloudstate.protocol.event_sourced_pb2"]
    assert "cloudstate.event_sourced.servicer" in graph["cloudstate.event_sourced"]
    assert graph["cloudstate"] == set()  # the face: its exports only for type checkers


def test_no_module_is_over_500_lines_unless_it_is_one_concern() -> None:
    long = []
    for name, path in modules().items():
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        text = path.read_text()
        lines = text.count("\n")
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if ONE_CONCERN not in docstring:
            long.append(f"{name} ({lines} lines)")
    assert long == [], (
        f"over {MAX_LINES} lines without '{ONE_CONCERN} ...' in the docstring: " + ", ".join(long)
    )


if __name__ == "__main__":
    graph = import_graph()
    for circle in cycles(graph):
        print("circle:", " <-> ".join(circle))
    for module, targets in sorted(proxy_imports_of_other_code(graph).items()):
        print("proxy:", module, "->", ", ".join(sorted(targets)))
