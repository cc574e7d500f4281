"""ws4py.client against classic ws4py 0.6.0: URLs, the request, connect(), hooks, the thread.

Scenarios: ``differential.scenarios_client`` (a duck-typed socket patched in
on both sides; a real loopback TLS server for ``wss://``).  Where ours
differs on purpose the test takes both results and asserts each side:

* RFC 6455 section 4.1 checks always run: a response without
  ``Sec-WebSocket-Accept``, ``Upgrade`` or ``Connection``, or selecting a
  subprotocol that was not offered, is refused (0.6.0 accepted it), also
  when ``process_handshake_header`` is overridden without calling it;
  ``Connection: keep-alive, Upgrade`` is a list and is accepted (0.6.0
  refused it).
* After connect(), ``protocols`` and ``extensions`` are ``str`` as sent by
  the server (0.6.0: lowercased ``bytes``).
* The ``Host`` of a Unix socket URL is ``localhost`` (0.6.0:
  ``localhost:None``); an IPv6 host is bracketed (0.6.0: ``::1:9000``).
* permessage-deflate is offered by default (``extensions=[]``: not).
* The ``Origin`` ws4py generates is the web origin ``http(s)://host[:port]``
  (0.6.0: ``ws(s)://host[:port]``, which a server checking origins refuses):
  :func:`same` compares everything else exactly and the two origins by that
  rule.
* ``WS://`` (schemes are case-insensitive) is accepted; ``ws+unix://a/b``
  is the relative path ``a/b`` (0.6.0: host ``a``, path ``/b``).
* Setting ``url`` re-targets the client (0.6.0 kept connecting to the old
  host and only changed ``Origin``).
* ``wss://`` verifies the server's certificate and host name by default
  (0.6.0: no verification unless ``cert_reqs`` was given).
* Redirects answered to the upgrade are followed (``max_redirects=0``: not);
  ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` are used (``proxy=False``:
  not).
* Where 0.6.0 crashes on Python 3 (a status line without a reason, EOF in
  the middle of the response, frames arriving with the 101 to the threaded
  client), ours does the sensible thing.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import scenarios_client as scenarios
from differential.harness import Differential
from differential.scenarios_client import KEY, accept, response

pytestmark = pytest.mark.timeout(120)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the classic worker is session-wide

OK_101 = response()
REFUSED = ("raise", "HandshakeError")
UPGRADE = ("Upgrade", "websocket")
CONNECTION = ("Connection", "Upgrade")
ACCEPT = ("Sec-WebSocket-Accept", accept())


ORIGIN_RE = re.compile(rb"Origin: ([^\r]*://[^\r]*)\r\n")


def _ours_for(classic_origin: str) -> str:
    """The Origin we send where 0.6.0 sent ``classic_origin``."""
    parts = urlsplit(classic_origin)
    secure = parts.scheme.startswith("wss")
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port and parts.port != (443 if secure else 80) else ""
    return f"{'https' if secure else 'http'}://{host}{port}"


def _origins(value: Any, found: list[str]) -> Any:
    """``value`` with each generated Origin (a URL) replaced by ``*``, collected in ``found``."""
    if isinstance(value, bytes):
        found.extend(m.decode() for m in ORIGIN_RE.findall(value))
        return ORIGIN_RE.sub(b"Origin: *\r\n", value)
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "Origin" and "://" in value[1]:
        found.append(value[1])
        return ("Origin", "*")
    if isinstance(value, (list, tuple)):
        return type(value)(_origins(v, found) for v in value)
    if isinstance(value, dict):
        return {k: _origins(v, found) for k, v in value.items()}
    return value


def same(classic: Differential, scenario: Any, *args: Any, **kwargs: Any) -> Any:
    """``classic.same``, the generated Origin compared by the documented rule; ours returned."""
    ours, theirs = classic.both(scenario, *args, **kwargs)
    ours_origins: list[str] = []
    theirs_origins: list[str] = []
    assert _origins(ours, ours_origins) == _origins(theirs, theirs_origins), (
        f"{scenario.__name__}{args!r}: ours differs from ws4py 0.6.0\n"
        f"  ours:    {ours!r}\n  classic: {theirs!r}"
    )
    assert ours_origins == [_ours_for(origin) for origin in theirs_origins]
    return ours


def without(*names: str) -> list[tuple[str, str]]:
    return [pair for pair in (UPGRADE, CONNECTION, ACCEPT) if pair[0] not in names]


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------

SEGMENT = st.text("abcxyz019._-", min_size=1, max_size=8)
PATH = st.lists(SEGMENT, max_size=3).map(lambda parts: "".join("/" + p for p in parts))
QUERY = st.one_of(st.just(""), st.text("abc019=&", min_size=1, max_size=8).map(lambda q: "?" + q))
HOST = st.sampled_from(["localhost", "127.0.0.1", "example.org", "Example.ORG", "[::1]", "a-b.c"])
PORT = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
TCP_URL = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}{path}{query}",
    st.sampled_from(["ws", "wss"]),
    HOST,
    PORT,
    PATH,
    QUERY,
)
UNIX_URL = st.builds(
    lambda scheme, path, query: f"{scheme}://{path}{query}",
    st.sampled_from(["ws+unix", "wss+unix"]),
    PATH.filter(bool),
    QUERY,
)


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(url=st.one_of(TCP_URL, UNIX_URL))
def test_url_parsing(classic: Differential, url: str) -> None:
    kind, value = classic.same(scenarios.parse_url, url)
    assert kind == "ok"
    assert value["is_unix_socket"] == ("+unix" in url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/", "ftp://h/", "ws://", "ws://h:notaport/", "127.0.0.1:9000"]
)
def test_invalid_urls(classic: Differential, url: str) -> None:
    assert classic.same(scenarios.parse_url, url) == ("raise", "ValueError")


def test_scheme_is_case_insensitive(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.parse_url, "WS://127.0.0.1:9000/")
    assert theirs == ("raise", "ValueError")
    assert ours[0] == "ok" and ours[1]["scheme"] == "ws" and ours[1]["port"] == 9000


def test_unix_url_with_a_relative_path(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.parse_url, "ws+unix://run/app.sock")
    assert theirs[1]["host"] == "run" and theirs[1]["unix_socket_path"] == "/app.sock"
    assert ours[1]["host"] == "localhost" and ours[1]["unix_socket_path"] == "run/app.sock"


# ---------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------

TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=8)
EXTRA = st.lists(
    st.tuples(st.sampled_from(["X-Trace", "Cookie", "Authorization", "Origin", "X-A"]), TOKEN),
    max_size=3,
)
EXCLUDE = st.lists(
    st.sampled_from(["origin", "x-a", "cookie", "sec-websocket-version"]), max_size=2
)


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    url=TCP_URL.filter(lambda url: "[" not in url),
    protocols=st.one_of(st.none(), st.lists(TOKEN, min_size=1, max_size=3)),
    headers=EXTRA,
    exclude=EXCLUDE,
)
def test_handshake_request(
    classic: Differential,
    url: str,
    protocols: list[str] | None,
    headers: list[tuple[str, str]],
    exclude: list[str],
) -> None:
    result = same(
        classic,
        scenarios.handshake_request,
        url,
        protocols=protocols,
        headers=headers,
        exclude_headers=exclude,
        extensions=[],
    )
    assert result["request"].startswith(b"GET /")
    assert b"Sec-WebSocket-Key: " + KEY + b"\r\n" in result["request"]


def _host_line(request: bytes) -> bytes:
    return next(line for line in request.split(b"\r\n") if line.startswith(b"Host: "))


def test_host_of_a_unix_socket_and_of_ipv6(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.handshake_request, "ws+unix:///tmp/s.sock", extensions=[])
    assert _host_line(theirs["request"]) == b"Host: localhost:None"
    assert _host_line(ours["request"]) == b"Host: localhost"
    assert b"Origin: ws+unix://localhost\r\n" in theirs["request"]
    assert b"Origin: http://localhost\r\n" in ours["request"]
    assert ours["request"].replace(b"Host: localhost", b"").replace(
        b"Origin: http://", b"Origin: ws+unix://"
    ) == theirs["request"].replace(b"Host: localhost:None", b"")
    ours, theirs = classic.both(scenarios.handshake_request, "ws://[::1]:9000/", extensions=[])
    assert _host_line(theirs["request"]) == b"Host: ::1:9000"
    assert _host_line(ours["request"]) == b"Host: [::1]:9000"


def test_permessage_deflate_is_offered_by_default(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.handshake_request, "ws://127.0.0.1:9000/")
    assert b"Sec-WebSocket-Extensions" not in theirs["request"]
    offer = [line for line in ours["request"].split(b"\r\n") if b"Extensions" in line]
    assert offer == [b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]
    theirs_without = theirs["request"].replace(b"Origin: ws://", b"Origin: http://")
    assert ours["request"].replace(offer[0] + b"\r\n", b"") == theirs_without


# ---------------------------------------------------------------------------
# connect() through a mocked socket
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        ([OK_101], ("ok", None)),
        ([OK_101[:20], OK_101[20:]], ("ok", None)),  # the head in two reads
        ([], ("raise", "HandshakeError")),  # an empty response
        ([response("404 Not Found", [])], ("raise", "HandshakeError")),
        ([response("200 OK", [UPGRADE, CONNECTION, ACCEPT])], ("raise", "HandshakeError")),
        ([response("426 Upgrade Required", [UPGRADE, CONNECTION, ACCEPT])], REFUSED),
        ([response(headers=[UPGRADE, CONNECTION, ("Sec-WebSocket-Accept", accept(b"x"))])],
         ("raise", "HandshakeError")),
        ([response(headers=[("Upgrade", "h2c"), CONNECTION, ACCEPT])], REFUSED),
        ([response(headers=[UPGRADE, ("Connection", "close"), ACCEPT])], REFUSED),
        ([response(headers=[("upgrade", "WebSocket"), ("connection", "upgrade"), ACCEPT])],
         ("ok", None)),
    ],
    ids=["101", "two-reads", "empty", "404", "200", "426", "bad-accept", "bad-upgrade",
         "bad-connection", "case-insensitive"],
)  # fmt: skip
def test_connect(classic: Differential, incoming: list[bytes], expected: Any) -> None:
    result = same(classic, scenarios.connect, incoming)
    assert result["outcome"] == expected
    assert result["connected"] == [("127.0.0.1", 9000)]
    assert result["sent"].startswith(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n")
    assert result["socket_closed"] == (expected[0] == "raise")
    assert result["events"] == ([("opened",)] if expected[0] == "ok" else [])


@pytest.mark.parametrize(
    "headers",
    [without("Sec-WebSocket-Accept"), without("Upgrade"), without("Connection"),
     [*without(), ("Sec-WebSocket-Protocol", "not-offered")]],
    ids=["no-accept", "no-upgrade", "no-connection", "unoffered-subprotocol"],
)  # fmt: skip
def test_rfc_checks_0_6_0_skipped(classic: Differential, headers: list[tuple[str, str]]) -> None:
    ours, theirs = classic.both(scenarios.connect, [response(headers=headers)])
    assert theirs["outcome"] == ("ok", None)
    assert ours["outcome"] == ("raise", "HandshakeError")
    assert ours["socket_closed"] and ours["events"] == []
    assert _origins(ours["sent"], []) == _origins(theirs["sent"], [])


def test_connection_header_is_a_list(classic: Differential) -> None:
    headers = [UPGRADE, ("Connection", "keep-alive, Upgrade"), ACCEPT]
    ours, theirs = classic.both(scenarios.connect, [response(headers=headers)])
    assert theirs["outcome"] == ("raise", "HandshakeError")
    assert ours["outcome"] == ("ok", None) and ours["events"] == [("opened",)]


@pytest.mark.parametrize(
    "incoming",
    [[b"HTTP/1.1 101\r\n" + OK_101.split(b"\r\n", 1)[1]], [OK_101[:30]]],
    ids=["no-reason", "eof-inside-the-head"],
)
def test_responses_0_6_0_crashed_on(classic: Differential, incoming: list[bytes]) -> None:
    ours, theirs = classic.both(scenarios.connect, incoming)
    assert theirs["outcome"] == ("raise", "ValueError")  # its parser's tuple unpacking
    if incoming[0].startswith(b"HTTP/1.1 101\r\n"):
        assert ours["outcome"] == ("ok", None)
    else:
        assert ours["outcome"] == ("raise", "HandshakeError") and ours["socket_closed"]


def test_negotiated_protocols_are_text(classic: Differential) -> None:
    incoming = [response(headers=[*without(), ("Sec-WebSocket-Protocol", "Chat")])]
    ours, theirs = classic.both(scenarios.negotiated, incoming, ["Chat", "other"])
    assert theirs == {"outcome": ("ok", None), "protocols": ["chat"], "extensions": [],
                      "types": ["bytes"]}  # fmt: skip
    assert ours == {"outcome": ("ok", None), "protocols": ["Chat"], "extensions": [],
                    "types": ["str"]}  # fmt: skip


def test_no_protocol_selected(classic: Differential) -> None:
    result = classic.same(scenarios.negotiated, [OK_101], ["chat"])
    assert result["protocols"] == [] and result["extensions"] == []


# ---------------------------------------------------------------------------
# Row 15: the overridable hooks; the request a subclass changes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("call_super", [True, False])
def test_hooks_are_called_with_the_bytes(classic: Differential, call_super: bool) -> None:
    result = classic.same(scenarios.hooks, [OK_101], call_super)
    assert result["outcome"] == ("ok", None)
    assert result["seen"] == [
        ("line", b"HTTP/1.1 101 Switching Protocols"),
        ("headers", b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept().encode()),
    ]  # fmt: skip


def test_hook_status_line_of_a_refusal(classic: Differential) -> None:
    result = classic.same(scenarios.hooks, [response("403 Forbidden", [])], True)
    assert result == {"outcome": ("raise", "HandshakeError"),
                      "seen": [("line", b"HTTP/1.1 403 Forbidden")]}  # fmt: skip


@pytest.mark.parametrize("extra", [[], [("X-Required", "1")]])
def test_a_hook_may_refuse(classic: Differential, extra: list[tuple[str, str]]) -> None:
    result = classic.same(scenarios.hook_raises, [response(headers=[*without(), *extra])])
    assert result["outcome"] == (("ok", None) if extra else ("raise", "HandshakeError"))
    assert result["socket_closed"] == (not extra)


def test_a_hook_cannot_skip_the_accept_check(classic: Differential) -> None:
    bad = [response(headers=[UPGRADE, CONNECTION, ("Sec-WebSocket-Accept", accept(b"x"))])]
    ours, theirs = classic.both(scenarios.hooks, bad, False)
    assert theirs["outcome"] == ("ok", None)
    assert ours["outcome"] == ("raise", "HandshakeError")
    assert ours["seen"] == theirs["seen"]


@pytest.mark.parametrize("extra", [[("X-A", "1")], [("Cookie", "a=b"), ("X-B", "2")]])
def test_handshake_headers_override(classic: Differential, extra: list[tuple[str, str]]) -> None:
    result = same(classic, scenarios.request_override, extra)
    assert result["outcome"] == ("ok", None)
    assert result["sent"].endswith("".join(f"{n}: {v}\r\n" for n, v in extra).encode() + b"\r\n")


# ---------------------------------------------------------------------------
# Row 14: attributes set before connect()
# ---------------------------------------------------------------------------

OTHER_KEY = base64.b64encode(b"0123456789abcdef")


@pytest.mark.parametrize(
    "changes",
    [
        {"resource": "/ws?room=1"},
        {"key": OTHER_KEY},
        {"host": "10.0.0.7", "port": 8080},
        {"protocols": ["chat"]},
        {"extra_headers": [("X-Token", "t")]},
        {"exclude_headers": ["origin"]},
        {"resource": "/a", "key": OTHER_KEY, "extra_headers": [("Origin", "null")]},
    ],
    ids=[
        "resource",
        "key",
        "host-port",
        "protocols",
        "extra_headers",
        "exclude_headers",
        "several",
    ],
)
def test_attributes_set_before_connect(classic: Differential, changes: dict[str, Any]) -> None:
    result = same(classic, scenarios.attributes_set_before_connect, "ws://127.0.0.1:9000/", changes)
    assert result["outcome"] == ("ok", None)
    sent = result["sent"].decode()
    assert sent.startswith(f"GET {changes.get('resource', '/')} HTTP/1.1\r\n")
    assert f"Sec-WebSocket-Key: {changes.get('key', KEY).decode()}\r\n" in sent
    if "host" in changes:
        assert result["connected"] == [("10.0.0.7", 8080)]
        assert "Host: 10.0.0.7:8080\r\n" in sent


def test_the_unix_socket_recipe(classic: Differential) -> None:
    """0.6.0's documented recipe: ws+unix://path, then ``ws.resource = '/ws'``."""
    changes = {"resource": "/ws", "unix_socket_path": "/run/other.sock"}
    ours, theirs = classic.both(scenarios.attributes_set_before_connect, "ws+unix:///tmp/s.sock",
                                changes)  # fmt: skip
    for result in ours, theirs:
        assert result["outcome"] == ("ok", None)
        assert result["connected"] == ["/run/other.sock"]
        assert result["sent"].startswith(b"GET /ws HTTP/1.1\r\n")
    assert ours["sent"] == theirs["sent"].replace(b"localhost:None", b"localhost").replace(
        b"Origin: ws+unix://", b"Origin: http://"
    )


def test_setting_url_retargets(classic: Differential) -> None:
    changes = {"url": "ws://10.0.0.9:7000/other"}
    ours, theirs = classic.both(scenarios.attributes_set_before_connect, "ws://127.0.0.1:9000/",
                                changes)  # fmt: skip
    assert theirs["connected"] == [("127.0.0.1", 9000)]
    assert theirs["sent"].startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n")
    assert ours["connected"] == [("10.0.0.9", 7000)]
    assert ours["sent"].startswith(b"GET /other HTTP/1.1\r\nHost: 10.0.0.9:7000\r\n")
    assert b"Origin: ws://10.0.0.9:7000\r\n" in theirs["sent"]  # only the Origin followed
    assert b"Origin: http://10.0.0.9:7000\r\n" in ours["sent"]


# ---------------------------------------------------------------------------
# The threaded client: its thread starts once connected
# ---------------------------------------------------------------------------


def test_threaded_client_starts_its_thread_once_connected(classic: Differential) -> None:
    result = classic.same(scenarios.threaded_connect, [OK_101])
    assert result == {
        "started_before_connect": False,
        "started": True,
        "ended": True,
        "daemon": True,
        "events": [("opened",), ("closed", 1006)],
        "terminated": True,
    }


def test_threaded_client_refused_starts_no_thread(classic: Differential) -> None:
    result = classic.same(scenarios.threaded_connect, [response("403 Forbidden", [])])
    assert result == {"raised": "HandshakeError", "started": False}


def test_frames_behind_the_101_reach_the_thread(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.threaded_connect, [OK_101 + b"\x81\x02hi"])
    assert theirs == {"raised": "AttributeError", "started": True}  # its race with the thread
    assert ours["events"] == [("opened",), ("message", b"hi"), ("closed", 1006)]


class TLSServer:
    """A loopback TLS websocket peer: 101; "hello" once the client sent a frame; closing."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                self._session(raw)
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(exc)
            finally:
                raw.close()

    def _session(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        with self.context.wrap_socket(raw, server_side=True) as conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            digest = base64.b64encode(hashlib.sha1(key + scenarios.GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + digest + b"\r\n\r\n"
            )
            data = b""
            while len(data) < 8:  # the client's masked "hi": 2 + 4 + 2 bytes
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(b"\x81\x05hello")
            data = data[8:]
            while not data.startswith(b"\x88"):  # the client's (masked) close frame
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(b"\x88\x02\x03\xe8")

    def close(self) -> None:
        self.stopped = True
        self.listener.close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def tls_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TLSServer, str]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    ca_file = Path(tmp_path_factory.mktemp("tls")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = TLSServer(context)
    try:
        yield server, str(ca_file)
    finally:
        server.close()


def test_threaded_client_over_tls(classic: Differential, tls_peer: tuple[TLSServer, str]) -> None:
    server, ca_file = tls_peer
    options = {"ca_certs": ca_file, "cert_reqs": ssl.CERT_REQUIRED}
    result = classic.same(scenarios.tls_connect, server.port, options)
    assert result == {
        "started": True,
        "ended": True,
        "events": [("opened",), ("message", b"hello"), ("closed", 1000)],
    }


def test_tls_is_verified_by_default(classic: Differential, tls_peer: tuple[TLSServer, str]) -> None:
    server, _ = tls_peer
    ours, theirs = classic.both(scenarios.tls_connect, server.port, None)
    assert theirs["events"] == [("opened",), ("message", b"hello"), ("closed", 1000)]
    assert ours == {"raised": "OSError"}  # ssl.SSLCertVerificationError: an unknown CA
    # The one-line change that keeps 0.6.0's behaviour (no verification)...
    ours, theirs_none = classic.both(
        scenarios.tls_connect, server.port, {"cert_reqs": ssl.CERT_NONE}
    )
    assert ours["events"] == theirs["events"]
    # ...which 0.6.0 itself got wrong: any ``cert_reqs`` turned its checks on, CERT_NONE too.
    assert theirs_none == {"raised": "OSError"}


# ---------------------------------------------------------------------------
# 0.6.0's own unit-test style: the client module's ``socket`` mocked
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer_key", [True, False], ids=["right-accept", "wrong-accept"])
def test_client_over_a_mocked_socket_module(classic: Differential, answer_key: bool) -> None:
    result = classic.same(scenarios.mocked_socket_module, "ws://127.0.0.1/?token=v", answer_key)
    assert result["module_patched"]
    assert result["connect_calls"] == [(("127.0.0.1", 80),)]
    if answer_key:
        assert result["outcome"] == ("ok", None)
        assert result["close_frame"] == {
            "fin": 1,
            "opcode": 8,
            "masked": True,
            "body": b"\x03\xe8boom",
        }
    else:
        assert result["outcome"] == ("raise", "HandshakeError")


@pytest.mark.parametrize("answer", ["empty", "status-200", "upgrade", "connection", "accept"])
def test_refused_handshake_shuts_the_socket_down_and_closes_it_once(
    classic: Differential, answer: str
) -> None:
    """As 0.6.0's own client tests: close_connection(), i.e. shutdown(SHUT_RDWR) and close()."""
    result = classic.same(scenarios.refused_over_a_mocked_socket_module, answer)
    assert result["outcome"] == ("raise", "HandshakeError")
    assert result["connect_calls"] == [(("127.0.0.1", 80),)]
    assert result["shutdown_calls"] == [(result["shut_rdwr"],)]
    assert result["close_calls"] == [()]


def test_the_socket_made_by_init_is_the_one_connected(classic: Differential) -> None:
    """A socket mocked at __init__ only (0.6.0's threaded-client tests) is connected as is."""
    assert classic.same(scenarios.socket_mocked_at_init_only) == {
        "outcome": ("ok", None),
        "connect_calls": [(("127.0.0.1", 80),)],
        "close_calls": 0,
        "sent_request": True,
    }


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_followed(classic: Differential, status: int) -> None:
    """0.6.0 refused a redirect; ours follows it (``max_redirects=0``: refused, as 0.6.0)."""
    ours, theirs = classic.both(scenarios.redirected, status, None)
    assert theirs == {
        "outcome": ("raise", "HandshakeError"),
        "connected": [("127.0.0.1", 9000)],
        "requests": [b"GET /old HTTP/1.1"],
    }
    assert ours == {
        "outcome": ("ok", None),
        "connected": [("127.0.0.1", 9000), ("127.0.0.1", 9001)],
        "requests": [b"GET /old HTTP/1.1", b"GET /new HTTP/1.1"],
    }
    assert classic.same(scenarios.redirected, status, 0) == theirs


def test_proxies_from_the_environment(classic: Differential) -> None:
    """0.6.0 ignored ``HTTP_PROXY``; ours uses it (``proxy=False``: a direct connection)."""
    ours, theirs = classic.both(scenarios.environment_proxy, False)
    assert theirs["connected"] == [("127.0.0.1", 9000)]
    assert theirs["first_line"] == b"GET / HTTP/1.1"
    assert ours["outcome"] == "ok"
    assert ours["connected"] == [("127.0.0.1", 3128)]
    assert ours["first_line"] == b"CONNECT 127.0.0.1:9000 HTTP/1.1"
    ours, theirs = classic.both(scenarios.environment_proxy, True)
    assert ours["connected"] == theirs["connected"] == [("127.0.0.1", 9000)]
    assert ours["first_line"] == theirs["first_line"] == b"GET / HTTP/1.1"
