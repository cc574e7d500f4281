"""Issue #21, row 16: names ws4py 0.6.0's client and server modules had stay importable.

Scenarios: ``differential.scenarios_client`` (``module_names`` lists a module's
public names on each side; ours has more, never fewer), and
``get_connection`` used the classic way in a WSGI application of the
wsgiref recipe.
"""

from __future__ import annotations

import pytest

from differential import scenarios_client as scenarios
from differential.harness import Differential

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    "module",
    [
        "ws4py.client",
        "ws4py.server.wsgirefserver",
        "ws4py.server.wsgiutils",
        "ws4py.server.cherrypyserver",
    ],
)
def test_classic_names_are_importable(classic: Differential, module: str) -> None:
    ours, theirs = classic.both(scenarios.module_names, module)
    assert theirs, "the classic module has public names"
    assert sorted(set(theirs) - set(ours)) == []


def test_get_connection_in_a_wsgi_application(classic: Differential) -> None:
    result = classic.same(scenarios.get_connection_in_a_wsgi_app)
    assert result == {
        "status": b"HTTP/1.1 200 OK",
        "peer_is_the_client": True,
        "is_ws4py_socket": True,
    }
