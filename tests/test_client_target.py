"""ws4py.client.target: URL -> target, Host and Origin, redirects, the back-off (sans I/O).

No sockets here: the loopback behaviour of both clients is in test_client.py,
test_proxy.py (redirects through real servers and proxies), test_redirects.py
and test_reconnect.py.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws4py.client.reconnect_policy import Backoff, ReconnectPolicy
from ws4py.client.target import (
    CREDENTIAL_HEADERS,
    REDIRECT_STATUSES,
    Redirected,
    Redirects,
    Target,
    default_port,
    parse_url,
    same_origin,
    target_headers,
)
from ws4py.exc import HandshakeError
from ws4py.handshake import Response, parse_response

# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
NAME = st.lists(LABEL, min_size=1, max_size=3).map(".".join)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(lambda a: ipaddress.IPv6Address(a).compressed)
HOST = st.one_of(NAME, IPV4, IPV6)
PORT = st.one_of(st.none(), st.integers(1, 65535))
SEGMENT = st.text("abcxyz019._-~%", min_size=1, max_size=8).filter(lambda s: "%" not in s)
PATH = st.lists(SEGMENT, max_size=3).map(lambda parts: "".join("/" + p for p in parts))
QUERY = st.one_of(st.just(""), st.text("abc019=&/", min_size=1, max_size=8))
SCHEME = st.sampled_from(["ws", "wss", "WS", "Wss"])


def url_of(scheme: str, host: str, port: int | None, path: str, query: str) -> str:
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{path}{'?' + query if query else ''}"


def response(status: int, location: str | None = None, reason: str = "Moved") -> Response:
    head = f"HTTP/1.1 {status} {reason}\r\n"
    if location is not None:
        head += f"Location: {location}\r\n"
    return parse_response((head + "\r\n").encode("latin-1"))


def host_line(target: Target, always_port: bool = False) -> str:
    headers = dict(target.handshake(always_port=always_port, key=b"a" * 24).request_headers())
    return headers["Host"]


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(scheme=SCHEME, host=HOST, port=PORT, path=PATH, query=QUERY)
def test_tcp_urls(scheme: str, host: str, port: int | None, path: str, query: str) -> None:
    url = url_of(scheme, host, port, path, query)
    target = parse_url(url)
    secure = scheme.lower() == "wss"
    assert target.scheme == scheme.lower()
    assert target.secure is secure
    assert target.host == host.lower()
    assert target.port == (port or (443 if secure else 80))
    assert target.tcp_port == target.port
    assert target.resource == (path or "/") + ("?" + query if query else "")
    assert target.unix_socket_path is None
    assert target.bind_addr == (target.host, target.port)
    # Host: bracketed IPv6, the default port omitted (asyncio) or always there (classic)
    bracketed = f"[{target.host}]" if ":" in target.host else target.host
    default = target.port == default_port(secure)
    assert host_line(target) == (bracketed if default else f"{bracketed}:{target.port}")
    assert host_line(target, always_port=True) == f"{bracketed}:{target.port}"
    # Origin: the web origin, the same port rule
    web = "https" if secure else "http"
    assert target.origin == (f"{web}://{bracketed}" if default else f"{web}://{bracketed}:{port}")
    # a target parses back from its own pieces
    assert parse_url(url_of(target.scheme, target.host, target.port, path, query)) == target


@settings(max_examples=100, deadline=None)
@given(scheme=st.sampled_from(["ws+unix", "wss+unix"]), path=PATH.filter(bool), query=QUERY)
def test_unix_urls(scheme: str, path: str, query: str) -> None:
    target = parse_url(f"{scheme}://{path}{'?' + query if query else ''}")
    assert target.unix_socket_path == path
    assert (target.host, target.port) == ("localhost", None)
    assert target.resource == "/" + ("?" + query if query else "")
    assert target.secure is scheme.startswith("wss")
    assert target.bind_addr == path
    assert host_line(target) == host_line(target, always_port=True) == "localhost"
    assert target.origin == ("https" if target.secure else "http") + "://localhost"


def test_relative_unix_path_and_fragment() -> None:
    assert parse_url("ws+unix://run/app.sock").unix_socket_path == "run/app.sock"
    assert parse_url("ws://h/p?q=1#frag").resource == "/p?q=1"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:9000/", "invalid scheme"),
        ("ftp://h/", "invalid scheme"),
        ("127.0.0.1:9000", "invalid scheme"),
        ("ws://", "no host"),
        ("ws://:9000/", "no host"),
        ("ws://h:notaport/", "invalid port"),
        ("ws://h:65536/", "invalid port"),
        ("ws+unix://", "no socket path"),
    ],
)
def test_invalid_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_url(url)


def test_a_port_set_to_none_falls_back_to_the_default() -> None:
    target = Target("wss", "h", None, "/")
    assert target.tcp_port == 443 and host_line(target, always_port=True) == "h"


@settings(max_examples=200, deadline=None)
@given(a=st.tuples(SCHEME, HOST, PORT), b=st.tuples(SCHEME, HOST, PORT))
def test_same_origin(a: tuple[str, str, int | None], b: tuple[str, str, int | None]) -> None:
    url_a, url_b = url_of(*a, "/x", ""), url_of(*b, "/y", "q")
    expected = (parse_url(url_a).scheme, parse_url(url_a).host, parse_url(url_a).port) == (
        parse_url(url_b).scheme,
        parse_url(url_b).host,
        parse_url(url_b).port,
    )
    assert same_origin(url_a, url_b) is expected
    assert same_origin(url_a, url_a)
    assert same_origin("ws://h/", "WS://H:80/other") and not same_origin("ws://h/", "wss://h:80/")


# ---------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("ws://h:9000/a/b?x=1", "c", "ws://h:9000/a/c"),
        ("ws://h:9000/a/b", "/root?y=2", "ws://h:9000/root?y=2"),
        ("ws://h:9000/a/b", "../up", "ws://h:9000/up"),
        ("wss://h/a", "//other:8443/p", "wss://other:8443/p"),
        ("ws://h/a", "//other/p", "ws://other/p"),
        ("ws://h/a", "http://other:81/p", "ws://other:81/p"),
        ("ws://h/a", "https://other/p", "wss://other/p"),
        ("ws://h/a", "wss://[::1]:9443/p#frag", "wss://[::1]:9443/p"),
        ("wss://h/a", "wss://other/", "wss://other/"),
    ],
)
def test_location_resolution(current: str, location: str, expected: str) -> None:
    redirects = Redirects(current)
    assert redirects.follow(response(302, location)) == expected
    assert redirects.url == expected and redirects.hops == 1
    assert redirects.target == parse_url(expected)


@pytest.mark.parametrize(
    ("current", "location", "problem"),
    [
        ("ws://h/", None, "without a Location"),
        ("ws://h/", "  ", "without a Location"),
        ("ws://h/", "ftp://other/", "unusable Location"),
        ("ws://h/", "http://other:nope/", "unusable Location"),
        ("ws://h/", "http://:80/nohost", "unusable Location"),
        ("ws://h/", "ws://h:99999/", "unusable Location"),
        ("wss://h/", "ws://other/", "from wss:// to ws://"),
        ("wss://h/", "http://other/", "from wss:// to ws://"),
        ("ws+unix:///tmp/s", "/elsewhere", "not followed on Unix sockets"),
    ],
)
def test_redirects_that_cannot_be_followed(
    current: str, location: str | None, problem: str
) -> None:
    redirects = Redirects(current)
    with pytest.raises(HandshakeError, match=problem) as info:
        redirects.follow(response(307, location))
    assert info.value.status == 307
    assert redirects.url == current and redirects.hops == 0


@pytest.mark.parametrize("status", sorted(REDIRECT_STATUSES))
def test_each_redirect_status_is_followed(status: int) -> None:
    assert Redirects("ws://h/").follow(response(status, "/next")) == "ws://h/next"


@pytest.mark.parametrize("status", [101, 200, 300, 304, 305, 400, 404, 426, 500])
def test_other_statuses_are_left_to_the_handshake(status: int) -> None:
    redirects = Redirects("ws://h/")
    assert redirects.follow(response(status, "/next")) is None
    redirects.check(response(status, "/next"))  # passes: the handshake's check refuses it
    assert redirects.hops == 0


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(0, 12))
def test_the_loop_limit(limit: int) -> None:
    redirects = Redirects("ws://h/0", max_redirects=limit)
    for hop in range(1, limit + 1):
        assert redirects.follow(response(302, f"/{hop}")) == f"ws://h/{hop}"
        assert redirects.hops == hop
    if limit == 0:
        # Not following at all: the 302 is a failed handshake, as any other status.
        assert redirects.follow(response(302, "/again")) is None
        return
    with pytest.raises(HandshakeError, match=f"too many redirects: more than {limit}") as info:
        redirects.follow(response(302, "/again"))
    assert info.value.status == 302 and redirects.hops == limit


def test_negative_max_redirects() -> None:
    with pytest.raises(ValueError, match="max_redirects"):
        Redirects("ws://h/", max_redirects=-1)


def test_check_raises_redirected_with_the_location() -> None:
    redirects = Redirects("ws://h/a")
    with pytest.raises(Redirected) as info:
        redirects.check(response(308, "/b", reason="Permanent Redirect"))
    assert isinstance(info.value, HandshakeError)
    assert info.value.status == 308 and info.value.location == "ws://h/b"
    assert info.value.response.status == 308
    assert "308 Permanent Redirect" in str(info.value)


HEADERS = [("Authorization", "Bearer t"), ("X-Trace", "1"), ("cookie", "s=1"), ("X-A", "2")]


@settings(max_examples=100, deadline=None)
@given(
    first=st.tuples(SCHEME, HOST, PORT), hops=st.lists(st.tuples(SCHEME, HOST, PORT), max_size=3)
)
def test_credentials_stay_with_the_first_origin(
    first: tuple[str, str, int | None], hops: list[tuple[str, str, int | None]]
) -> None:
    start = url_of(*first, "/", "")
    redirects = Redirects(start, max_redirects=len(hops) + 1)
    assert redirects.headers(HEADERS) == HEADERS
    for hop in hops:
        if redirects.target.secure and hop[0].lower() == "ws":
            continue  # refused: tested above
        redirects.follow(response(301, url_of(*hop, "/p", "")))
        sent = redirects.headers(HEADERS)
        if same_origin(start, redirects.url):
            assert sent == HEADERS
        else:
            assert sent == [(n, v) for n, v in HEADERS if n.lower() not in CREDENTIAL_HEADERS]
            assert [n for n, _ in sent] == ["X-Trace", "X-A"]


def test_back_home_the_credentials_are_sent_again() -> None:
    redirects = Redirects("ws://h:9000/")
    redirects.follow(response(302, "ws://other/"))
    assert target_headers(HEADERS, redirects.first_url, redirects.url) == [
        ("X-Trace", "1"),
        ("X-A", "2"),
    ]
    redirects.follow(response(302, "ws://H:9000/back"))
    assert redirects.headers(HEADERS) == HEADERS
    assert redirects.headers(None) == []


def test_a_redirected_hop_keeps_the_path_of_the_location_only() -> None:
    redirects = Redirects("ws://h/a?token=1")
    assert redirects.follow(response(302, "b")) == "ws://h/b"
    assert urlsplit(redirects.url).query == ""


# ---------------------------------------------------------------------------
# Back-off
# ---------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    initial=st.floats(0, 2),
    factor=st.floats(1, 4),
    extra=st.floats(0, 30),
    max_attempts=st.one_of(st.none(), st.integers(1, 8)),
)
def test_backoff(initial: float, factor: float, extra: float, max_attempts: int | None) -> None:
    policy = ReconnectPolicy(
        initial=initial,
        maximum=initial + extra,
        factor=factor,
        jitter=False,
        max_attempts=max_attempts,
    )
    backoff = Backoff(policy)
    delays = []
    for attempt in range(1, 12):
        delay = backoff.next_delay()
        assert backoff.attempt == attempt
        if max_attempts is not None and attempt > max_attempts:
            assert delay is None
            break
        assert delay == policy.delay(attempt)
        delays.append(delay)
    assert delays == sorted(delays) and all(d <= policy.maximum for d in delays)
