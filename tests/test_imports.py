"""Import hygiene (issue #19): no import cycle, and one flavour does not load the other.

The threaded client must not pay for (nor depend on) the asyncio websocket,
and importing the asyncio websocket must not load the threaded one.  Each
check runs in a fresh interpreter, as ``sys.modules`` of the test process
already holds everything.  The cycle check reads every module's imports
(module level and inside functions alike: a deferred import is still a
dependency) from the source.
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
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
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
