"""Import hygiene (issue #19): no import cycle, and one flavour does not load the other.

The threaded client must not pay for (nor depend on) the asyncio websocket,
and importing the asyncio websocket must not load the threaded one.  Each
check runs in a fresh interpreter, as ``sys.modules`` of the test process
already holds everything.  The cycle check reads every module's imports
(module level and inside functions alike: a deferred import is still a
dependency) from the source.  No module reaches another module's private
(underscore) names: those are free to change without looking elsewhere.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ws4py

pytestmark = pytest.mark.timeout(60)

PACKAGE = Path(ws4py.__file__).parent


def loaded_after(statement: str) -> set[str]:
    """The ws4py modules a fresh interpreter holds after running ``statement``."""
    listing = "print(' '.join(m for m in sys.modules if m.startswith('ws4py')))"
    code = f"{statement}\nimport sys\n{listing}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    return set(done.stdout.split())


def test_the_threaded_client_does_not_load_the_asyncio_websocket() -> None:
    statement = (
        "import ws4py.client.threadedclient, sys; "
        "assert 'ws4py.async_websocket' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", statement], check=True, timeout=30)
    loaded = loaded_after("import ws4py.client.threadedclient")
    assert "ws4py.client.threadedclient" in loaded and "ws4py.client.reconnect_policy" in loaded
    asyncio_modules = {"ws4py.async_websocket", "ws4py.asyncio.connection"}
    asyncio_modules.add("ws4py.client.reconnect")
    assert not loaded & asyncio_modules


def test_the_asyncio_websocket_does_not_load_the_threaded_flavour() -> None:
    statement = (
        "import ws4py.async_websocket, sys; "
        "assert 'ws4py.client.threadedclient' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", statement], check=True, timeout=30)
    loaded = loaded_after("import ws4py.async_websocket")
    assert "ws4py.asyncio.connection" in loaded
    assert not {m for m in loaded if m == "ws4py.websocket" or m.startswith("ws4py.client")}
    # connect() brings the client machinery, still not the threaded client.
    loaded = loaded_after("from ws4py.async_websocket import connect")
    assert "ws4py.client._async_connect" in loaded and "ws4py.client.threadedclient" not in loaded


def test_the_asyncio_names_stay_where_they_were() -> None:
    from ws4py import async_websocket
    from ws4py.asyncio import connection
    from ws4py.client import _async_connect, reconnect, reconnect_policy

    for name in async_websocket.__all__:
        assert getattr(async_websocket, name) is (
            _async_connect.connect if name == "connect" else getattr(connection, name)
        )
    for name in reconnect_policy.__all__:
        assert getattr(reconnect, name) is getattr(reconnect_policy, name)
    with pytest.raises(AttributeError):
        async_websocket.no_such_name  # noqa: B018


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The ws4py modules ``path`` imports, outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ws4py"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ws4py"))
    return found & modules


def test_no_import_cycle_in_the_package() -> None:
    paths = _package_sources()
    graph = {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}
    assert graph["ws4py.async_websocket"]  # the scan sees imports

    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            name, trail = stack.pop()
            for dep in graph[name]:
                if dep == start:
                    return trail
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, [*trail, dep]))
        return None

    cycles = [c for name in sorted(graph) if (c := cycle_from(name))]
    assert cycles == []


# -- private names ------------------------------------------------------------------------


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_reaches(source: str, modules: set[str]) -> set[str]:
    """The other modules' private names ``source`` reaches, as dotted paths.

    Three ways in: ``from ws4py.m import _name``; ``m._name`` where ``m``
    was imported (``import ws4py.m``, ``from ws4py import m``); and
    ``Name._name`` where ``Name`` was imported from a ws4py module (a private
    method of another module's class).  A private *module* of the package
    (``ws4py.client._async_connect``) is an implementation module meant to
    be imported by its facade, not a private name; ``ws4py._speedups`` is
    the C extension behind ``ws4py.masking``.
    """
    tree = ast.parse(source)
    bound: dict[str, str] = {}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ws4py"):
            if node.module == "ws4py._speedups":
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if _is_private(alias.name) and full not in modules:
                    found.add(full)
                bound[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ws4py"):
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
            continue
        chain: list[str] = []
        value: ast.expr = node.value
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in bound:
            target = ".".join([bound[value.id], *chain])
            if not target.startswith("ws4py._speedups"):
                found.add(f"{target}.{node.attr}")
    return found


def _package_sources() -> dict[str, Path]:
    sources = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        sources[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return sources


def test_the_private_name_scan_sees_each_way_in() -> None:
    modules = set(_package_sources())
    source = (
        "import ws4py.streaming\n"
        "from ws4py import utf8validator\n"
        "from ws4py.client import WebSocketBaseClient, _async_connect\n"
        "from ws4py.utf8validator import _DFA, dfa_state\n"
        "from ws4py._speedups import mask\n"
        "ws4py.streaming._x\n"
        "utf8validator._y\n"
        "WebSocketBaseClient._z\n"
        "_async_connect.connect, dfa_state.__name__, mask\n"
    )
    assert _private_reaches(source, modules) == {
        "ws4py.utf8validator._DFA",
        "ws4py.streaming._x",
        "ws4py.utf8validator._y",
        "ws4py.client.WebSocketBaseClient._z",
    }


def test_no_module_reaches_another_modules_private_names() -> None:
    reaches = {
        (str(path.relative_to(PACKAGE)), name)
        for module, path in _package_sources().items()
        for name in _private_reaches(path.read_text(encoding="utf-8"), set(_package_sources()))
        if not name.startswith(f"{module}.")
    }
    assert reaches == set()
