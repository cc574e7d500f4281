"""Tests of the sans-I/O opening handshake (RFC 6455 section 4) and extension syntax."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ws4py import handshake
from ws4py.exc import HandshakeError
from ws4py.extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionParams,
    ServerExtensionFactory,
    format_extension,
    parse_extension_header,
)
from ws4py.handshake import (
    ClientHandshake,
    Headers,
    HeadReader,
    Request,
    Response,
    accept_key,
    parse_header_block,
    parse_request,
    parse_response,
    reject_response_bytes,
    validate_environ,
    validate_request,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def make_request(
    *,
    method: str = "GET",
    version: str = "HTTP/1.1",
    target: str = "/chat",
    drop: tuple[str, ...] = (),
    extra: list[tuple[str, str]] | None = None,
    **overrides: str,
) -> Request:
    """A valid RFC 6455 section 1.3 request, with headers overridden/dropped/added."""
    base = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": RFC_KEY,
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        base[name.replace("_", "-")] = value
    headers = Headers((k, v) for k, v in base.items() if k not in drop)
    for name, value in extra or []:
        headers.add(name, value)
    return Request(method, target, version, headers)


def raises_status(status: int, request: Request, **kwargs: object) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        validate_request(request, **kwargs)  # type: ignore[arg-type]
    assert info.value.status == status, info.value.msg
    return info.value


class DummyExtension(Extension):
    def __init__(self, name: str, params: ExtensionParams, rsv_mask: int = 0x40) -> None:
        self.name = name
        self.params = params
        self.rsv_mask = rsv_mask

    def response_params(self) -> ExtensionParams:
        return self.params


class DummyServerFactory(ServerExtensionFactory):
    """Accepts the first offer that has no ``reject`` parameter; echoes its params."""

    def __init__(self, name: str = "x-dummy", rsv_mask: int = 0x40) -> None:
        self.name = name
        self.rsv_mask = rsv_mask
        self.seen: list[list[ExtensionParams]] = []

    def accept(self, offers: list[ExtensionParams]) -> tuple[ExtensionParams, Extension] | None:
        self.seen.append(offers)
        for params in offers:
            if any(name == "bad" for name, _ in params):
                raise HandshakeError("bad offer")
            if not any(name == "reject" for name, _ in params):
                return params, DummyExtension(self.name, params, self.rsv_mask)
        return None


class DummyClientFactory(ClientExtensionFactory):
    def __init__(
        self, name: str = "x-dummy", params: ExtensionParams | None = None, rsv_mask: int = 0x40
    ) -> None:
        self.name = name
        default: ExtensionParams = [("level", "3")]
        self.params = params if params is not None else default
        self.rsv_mask = rsv_mask
        self.accepted: list[ExtensionParams] = []

    def offer(self) -> ExtensionParams:
        return self.params

    def accept(self, params: ExtensionParams) -> Extension:
        if any(name == "unknown" for name, _ in params):
            raise HandshakeError("unknown parameter")
        self.accepted.append(params)
        return DummyExtension(self.name, params, self.rsv_mask)


def server_response(client: ClientHandshake, *, status: int = 101, **headers: str) -> Response:
    base = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_key(client.key),
    }
    for name, value in headers.items():
        base[name.replace("_", "-")] = value
    return Response(
        "HTTP/1.1",
        status,
        "Switching Protocols" if status == 101 else "Nope",
        Headers((k, v) for k, v in base.items() if v is not None),
    )


# --------------------------------------------------------------------------
# accept_key
# --------------------------------------------------------------------------


def test_accept_key_rfc_example() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    assert accept_key(RFC_KEY.encode()) == RFC_ACCEPT


def test_private_guid_matches_package_constant() -> None:
    import ws4py

    assert handshake._GUID == ws4py.WS_KEY
    assert int(handshake._VERSION) in ws4py.WS_VERSION


# --------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------


def test_headers_case_insensitive_multidict() -> None:
    headers = Headers([("X-A", "1")])
    headers.add("x-a", "2")
    headers.add("Other", "3")
    assert headers.get("X-A") == "1"
    assert headers.get_all("X-a") == ["1", "2"]
    assert "OTHER" in headers and "missing" not in headers
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert headers.items() == [("X-A", "1"), ("x-a", "2"), ("Other", "3")]
    assert len(headers) == 3
    assert list(headers) == ["X-A", "x-a", "Other"]


# --------------------------------------------------------------------------
# HeadReader and parsing
# --------------------------------------------------------------------------

RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def test_reader_whole_request_then_parse_and_validate() -> None:
    reader = HeadReader()
    assert reader.feed(RFC_REQUEST)
    assert reader.complete and reader.leftover == b""
    request = parse_request(reader.head)
    assert (request.method, request.target, request.version) == ("GET", "/chat", "HTTP/1.1")
    assert request.headers.get("origin") == "http://example.com"
    result = validate_request(request, protocols=["chat"])
    assert result.accept == RFC_ACCEPT
    assert result.protocol == "chat"


def test_reader_byte_by_byte() -> None:
    reader = HeadReader()
    for i, byte in enumerate(RFC_REQUEST):
        done = reader.feed(bytes([byte]))
        assert done == (i == len(RFC_REQUEST) - 1)
    assert reader.head == RFC_REQUEST


def test_reader_head_not_available_before_completion() -> None:
    reader = HeadReader()
    assert not reader.feed(RFC_REQUEST[:20])
    assert not reader.complete
    with pytest.raises(RuntimeError):
        _ = reader.head


def test_reader_keeps_leftover_bytes() -> None:
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    reader = HeadReader()
    assert reader.feed(RFC_REQUEST + frame)
    assert reader.head == RFC_REQUEST
    assert reader.leftover == frame
    reader.feed(b"more")
    assert reader.leftover == frame + b"more"


def test_reader_leftover_when_head_split_at_crlf() -> None:
    reader = HeadReader()
    assert not reader.feed(RFC_REQUEST[:-1])
    assert reader.feed(b"\nabc")
    assert reader.leftover == b"abc"
    assert reader.head == RFC_REQUEST


def test_reader_empty_feed_is_noop() -> None:
    reader = HeadReader()
    assert reader.feed(b"") is False
    assert reader.feed(RFC_REQUEST)


def test_reader_rejects_tls_client_hello_on_first_byte() -> None:
    reader = HeadReader()
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"\x16")
    assert info.value.status == 400
    assert "TLS" in info.value.msg


@pytest.mark.parametrize("garbage", [b"\x00\x01", b" GET / HTTP/1.1", b"\r\nGET", b"\xff"])
def test_reader_rejects_garbage_immediately(garbage: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        HeadReader().feed(garbage)
    assert info.value.status == 400


def test_reader_rejects_bare_lf() -> None:
    reader = HeadReader()
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"GET / HTTP/1.1\nHost: x\n\n")
    assert info.value.status == 400
    assert "LF" in info.value.msg


def test_reader_request_line_too_long_raised_before_crlf() -> None:
    reader = HeadReader(max_request_line=100)
    assert not reader.feed(b"GET /" + b"a" * 90)
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"a" * 20)  # still no CRLF
    assert info.value.status == 414


def test_reader_request_line_limit_is_exact() -> None:
    line = b"GET /" + b"a" * 86 + b" HTTP/1.1"  # 100 bytes
    assert len(line) == 100
    reader = HeadReader(max_request_line=100)
    assert reader.feed(line + b"\r\nHost: x\r\n\r\n")
    with pytest.raises(HandshakeError):
        HeadReader(max_request_line=99).feed(line + b"\r\n")


def test_reader_default_request_line_limit() -> None:
    reader = HeadReader()
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"GET /" + b"a" * handshake.MAX_REQUEST_LINE)
    assert info.value.status == 414


def test_reader_header_line_too_large_raised_during_feed() -> None:
    reader = HeadReader(max_header_size=50)
    reader.feed(b"GET / HTTP/1.1\r\nX-Big: ")
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"b" * 60)
    assert info.value.status == 431
    assert not reader.complete


def test_reader_too_many_headers_raised_before_completion() -> None:
    reader = HeadReader(max_headers=5)
    reader.feed(b"GET / HTTP/1.1\r\n" + b"X-H: 1\r\n" * 5)
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"X-H: 1\r\n")
    assert info.value.status == 431


def test_reader_head_too_large_raised_during_feed() -> None:
    reader = HeadReader(max_head_size=1000)
    reader.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(HandshakeError) as info:
        for _ in range(100):
            reader.feed(b"X-Header: " + b"v" * 20 + b"\r\n")
    assert info.value.status == 431
    assert len(reader._buf) < 1100


def test_reader_limits_follow_module_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handshake, "MAX_HEADERS", 2)
    reader = HeadReader()
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n")
    assert info.value.status == 431


def test_reader_big_leftover_is_not_counted_against_head_limit() -> None:
    reader = HeadReader(max_head_size=len(RFC_REQUEST))
    assert reader.feed(RFC_REQUEST + b"\x82\x00" * 10_000)
    assert len(reader.leftover) == 20_000


def test_response_reader_rejects_non_http() -> None:
    with pytest.raises(HandshakeError):
        HeadReader(is_response=True).feed(b"SSH-2.0-OpenSSH\r\n")
    reader = HeadReader(is_response=True)
    assert not reader.feed(b"HT")
    assert reader.feed(b"TP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxy")
    assert reader.leftover == b"xy"


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nX-Folded: a\r\n continued\r\n\r\n",  # obs-fold
        b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",  # space in name
        b"GET / HTTP/1.1\r\nName : v\r\n\r\n",  # space before colon
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",  # NUL in value
        b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",  # stray CR
        b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        b"GET /\xe9 HTTP/1.1\r\n\r\n",  # non-ASCII target
        b"GET /a\x01b HTTP/1.1\r\n\r\n",  # control char in target
        b"GET  / HTTP/1.1\r\n\r\n",  # double space
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTP/11\r\n\r\n",
        b"GET / FOO/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",  # method not a token
    ],
)
def test_parse_request_rejects_bad_syntax(head: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_request(head)
    assert info.value.status == 400


def test_parse_request_strips_ows_and_keeps_obs_text() -> None:
    request = parse_request(b"GET /p?q=1 HTTP/1.1\r\nX-A:  \tv a l \t\r\nX-B: caf\xe9\r\n\r\n")
    assert request.target == "/p?q=1"
    assert request.headers.get("x-a") == "v a l"
    assert request.headers.get("x-b") == "caf\xe9"


def test_parse_request_without_trailing_blank_line() -> None:
    request = parse_request(b"GET / HTTP/1.1\r\nHost: h")
    assert request.headers.get("Host") == "h"


def test_parse_response() -> None:
    response = parse_response(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    assert (response.version, response.status, response.reason) == (
        "HTTP/1.1",
        101,
        "Switching Protocols",
    )
    assert response.headers.get("upgrade") == "websocket"


def test_parse_response_tolerates_missing_reason() -> None:
    assert parse_response(b"HTTP/1.1 101\r\n\r\n").reason == ""


@pytest.mark.parametrize(
    "head", [b"HTTP/1.1 1O1 X\r\n\r\n", b"HTTP/1.1 1010 X\r\n\r\n", b"HTTQ/1.1 101 X\r\n\r\n"]
)
def test_parse_response_rejects_bad_status_line(head: bytes) -> None:
    with pytest.raises(HandshakeError):
        parse_response(head)


# --------------------------------------------------------------------------
# Server validation: success
# --------------------------------------------------------------------------


def test_valid_request_result_and_response_bytes() -> None:
    result = validate_request(make_request())
    assert result.key == RFC_KEY
    assert result.accept == RFC_ACCEPT
    assert result.protocol is None
    assert result.extensions == []
    assert result.extension_header is None
    assert result.response_headers == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", RFC_ACCEPT),
    ]
    assert result.response_bytes() == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )


def test_response_bytes_with_extra_headers_parses_back() -> None:
    result = validate_request(make_request(Sec_WebSocket_Protocol="chat"), protocols=["chat"])
    raw = result.response_bytes([("Server", "ws4py")])
    response = parse_response(raw)
    assert response.status == 101
    assert response.headers.get("Sec-WebSocket-Protocol") == "chat"
    assert response.headers.get("server") == "ws4py"
    assert raw.endswith(b"Server: ws4py\r\n\r\n")


def test_response_bytes_refuses_header_injection() -> None:
    result = validate_request(make_request())
    with pytest.raises(ValueError):
        result.response_bytes([("X", "a\r\nSet-Cookie: evil")])


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [
        ("WebSocket", "upgrade"),
        ("WEBSOCKET", "UPGRADE"),
        ("h2c, websocket", "keep-alive, Upgrade"),
        ("websocket", "Upgrade,keep-alive"),
        ("websocket ,", " keep-alive ,  upgrade "),
    ],
)
def test_upgrade_and_connection_token_lists(upgrade: str, connection: str) -> None:
    result = validate_request(make_request(Upgrade=upgrade, Connection=connection))
    assert result.accept == RFC_ACCEPT


def test_tokens_split_across_header_lines() -> None:
    request = make_request(Connection="keep-alive", extra=[("Connection", "Upgrade")])
    assert validate_request(request).accept == RFC_ACCEPT


def test_newer_http_version_accepted() -> None:
    assert validate_request(make_request(version="HTTP/1.2")).accept == RFC_ACCEPT


def test_header_names_case_insensitive() -> None:
    headers = Headers(
        [
            ("host", "h"),
            ("UPGRADE", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", RFC_KEY),
            ("SEC-WEBSOCKET-VERSION", "13"),
        ]
    )
    assert validate_request(Request("GET", "/", "HTTP/1.1", headers)).key == RFC_KEY


def test_content_length_zero_is_fine() -> None:
    assert validate_request(make_request(Content_Length="0")).accept == RFC_ACCEPT


# --------------------------------------------------------------------------
# Server validation: failures
# --------------------------------------------------------------------------


def test_wrong_method_is_405_with_allow() -> None:
    error = raises_status(405, make_request(method="POST"))
    assert ("Allow", "GET") in error.headers
    assert "POST" in error.msg


def test_lowercase_method_is_not_get() -> None:
    raises_status(405, make_request(method="get"))


def test_http_10_rejected() -> None:
    error = raises_status(400, make_request(version="HTTP/1.0"))
    assert "HTTP/1.1" in error.msg


def test_missing_host() -> None:
    assert "Host" in raises_status(400, make_request(drop=("Host",))).msg


def test_duplicate_host() -> None:
    raises_status(400, make_request(extra=[("Host", "other")]))


def test_missing_upgrade() -> None:
    assert "Upgrade" in raises_status(400, make_request(drop=("Upgrade",))).msg


@pytest.mark.parametrize("value", ["h2c", "websockets", "web socket", "websocket/13x"])
def test_wrong_upgrade(value: str) -> None:
    assert "websocket" in raises_status(400, make_request(Upgrade=value)).msg


def test_missing_connection() -> None:
    assert "Connection" in raises_status(400, make_request(drop=("Connection",))).msg


@pytest.mark.parametrize("value", ["keep-alive", "upgraded", "close"])
def test_wrong_connection(value: str) -> None:
    assert "Upgrade" in raises_status(400, make_request(Connection=value)).msg


def test_missing_key() -> None:
    assert "Sec-WebSocket-Key" in raises_status(400, make_request(drop=("Sec-WebSocket-Key",))).msg


def test_duplicate_key() -> None:
    error = raises_status(400, make_request(extra=[("Sec-WebSocket-Key", RFC_KEY)]))
    assert "more than one" in error.msg


@pytest.mark.parametrize(
    "key",
    [
        "not base64 at all!!!!!!!",
        "dGhlIHNhbXBsZSBub25jZQ",  # padding missing
        "dGhlIHNhbXBsZSBub25j",  # 15 bytes
        base64.b64encode(b"x" * 17).decode(),
        base64.b64encode(b"x" * 15).decode(),
        "dGhlIHNhbXBsZSBub25jZR==",  # non-zero trailing bits: not canonical
        " dGhlIHNhbXBsZSBub25jZQ==x",
        "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==",  # joined duplicate
        "",
    ],
)
def test_bad_key(key: str) -> None:
    raises_status(400, make_request(Sec_WebSocket_Key=key))


@pytest.mark.parametrize("version", ["8", "12", "13, 8", "", "14"])
def test_wrong_version_is_426_with_header(version: str) -> None:
    error = raises_status(426, make_request(Sec_WebSocket_Version=version))
    assert error.headers == [("Sec-WebSocket-Version", "13")]


def test_missing_version_is_426() -> None:
    error = raises_status(426, make_request(drop=("Sec-WebSocket-Version",)))
    assert ("Sec-WebSocket-Version", "13") in error.headers


def test_duplicate_version_rejected() -> None:
    raises_status(426, make_request(extra=[("Sec-WebSocket-Version", "13")]))


def test_origin_allowed_case_insensitively() -> None:
    request = make_request(Origin="HTTP://Example.com")
    assert validate_request(request, allowed_origins=["http://example.com"]).key == RFC_KEY


def test_origin_not_allowed_is_403() -> None:
    error = raises_status(
        403, make_request(Origin="http://evil.com"), allowed_origins=["http://example.com"]
    )
    assert "evil.com" in error.msg


def test_origin_missing_when_list_given_is_403() -> None:
    raises_status(403, make_request(), allowed_origins=["http://example.com"])


def test_origin_ignored_without_list() -> None:
    assert validate_request(make_request(Origin="http://anything")).key == RFC_KEY


@pytest.mark.parametrize("extra", [[("Transfer-Encoding", "chunked")], [("Content-Length", "5")]])
def test_request_with_body_rejected(extra: list[tuple[str, str]]) -> None:
    assert "body" in raises_status(400, make_request(extra=extra)).msg


def test_checks_run_in_rfc_order() -> None:
    # Wrong method is reported first even if everything else is missing too.
    request = Request("POST", "/", "HTTP/1.0", Headers())
    raises_status(405, request)


# --------------------------------------------------------------------------
# Subprotocols
# --------------------------------------------------------------------------


def test_subprotocol_client_preference_order() -> None:
    request = make_request(Sec_WebSocket_Protocol="superchat, chat")
    result = validate_request(request, protocols=["chat", "superchat"])
    assert result.protocol == "superchat"
    assert ("Sec-WebSocket-Protocol", "superchat") in result.response_headers


def test_subprotocol_offer_over_several_lines() -> None:
    request = make_request(Sec_WebSocket_Protocol="a", extra=[("Sec-WebSocket-Protocol", "b")])
    assert validate_request(request, protocols=["b"]).protocol == "b"


def test_subprotocol_none_matching_gives_no_header() -> None:
    result = validate_request(make_request(Sec_WebSocket_Protocol="mqtt"), protocols=["chat"])
    assert result.protocol is None
    assert all(name != "Sec-WebSocket-Protocol" for name, _ in result.response_headers)
    assert b"Sec-WebSocket-Protocol" not in result.response_bytes()


def test_subprotocol_match_is_case_sensitive() -> None:
    result = validate_request(make_request(Sec_WebSocket_Protocol="Chat"), protocols=["chat"])
    assert result.protocol is None


def test_subprotocol_not_offered_by_client() -> None:
    assert validate_request(make_request(), protocols=["chat"]).protocol is None


def test_subprotocol_override_hook() -> None:
    calls: list[tuple[list[str], list[str]]] = []

    def select(offer: list[str], supported: list[str]) -> str | None:
        calls.append((offer, supported))
        return offer[-1]

    request = make_request(Sec_WebSocket_Protocol="a, b, c")
    result = validate_request(request, protocols=["a"], select_subprotocol=select)
    assert result.protocol == "c"
    assert calls == [(["a", "b", "c"], ["a"])]


def test_subprotocol_hook_may_decline() -> None:
    request = make_request(Sec_WebSocket_Protocol="a")
    result = validate_request(request, protocols=["a"], select_subprotocol=lambda o, s: None)
    assert result.protocol is None


def test_subprotocol_hook_returning_unoffered_is_server_error() -> None:
    request = make_request(Sec_WebSocket_Protocol="a")
    error = raises_status(500, request, select_subprotocol=lambda o, s: "zzz")
    assert "zzz" in error.msg


def test_subprotocol_invalid_token_rejected() -> None:
    raises_status(400, make_request(Sec_WebSocket_Protocol="a b"), protocols=["a"])


# --------------------------------------------------------------------------
# Server extension negotiation
# --------------------------------------------------------------------------


def test_extension_negotiated_with_dummy_factory() -> None:
    factory = DummyServerFactory()
    request = make_request(Sec_WebSocket_Extensions="x-dummy; level=3; fast")
    result = validate_request(request, extensions=[factory])
    assert factory.seen == [[[("level", "3"), ("fast", None)]]]
    assert len(result.extensions) == 1
    ext = result.extensions[0]
    assert isinstance(ext, DummyExtension) and ext.name == "x-dummy"
    assert result.extension_header == "x-dummy; level=3; fast"
    assert ("Sec-WebSocket-Extensions", "x-dummy; level=3; fast") in result.response_headers


def test_extension_factory_sees_all_offers_in_order() -> None:
    factory = DummyServerFactory()
    request = make_request(
        Sec_WebSocket_Extensions="x-dummy; reject, other; a=1",
        extra=[("Sec-WebSocket-Extensions", "x-dummy; level=1")],
    )
    result = validate_request(request, extensions=[factory])
    assert factory.seen == [[[("reject", None)], [("level", "1")]]]
    assert result.extension_header == "x-dummy; level=1"


def test_extension_declined() -> None:
    request = make_request(Sec_WebSocket_Extensions="x-dummy; reject")
    result = validate_request(request, extensions=[DummyServerFactory()])
    assert result.extensions == [] and result.extension_header is None


def test_unknown_extension_ignored() -> None:
    request = make_request(Sec_WebSocket_Extensions="permessage-deflate")
    result = validate_request(request, extensions=[DummyServerFactory()])
    assert result.extensions == []


def test_extension_order_follows_client_and_rsv_conflict_declined() -> None:
    a = DummyServerFactory("x-a", rsv_mask=0x40)
    b = DummyServerFactory("x-b", rsv_mask=0x20)
    c = DummyServerFactory("x-c", rsv_mask=0x40)  # conflicts with x-a
    request = make_request(Sec_WebSocket_Extensions="x-b, x-c, x-a")
    result = validate_request(request, extensions=[a, b, c])
    assert [e.name for e in result.extensions] == ["x-b", "x-c"]
    assert result.extension_header == "x-b, x-c"


def test_extension_factory_error_propagates() -> None:
    request = make_request(Sec_WebSocket_Extensions="x-dummy; bad")
    raises_status(400, request, extensions=[DummyServerFactory()])


def test_malformed_extension_header_rejected() -> None:
    raises_status(400, make_request(Sec_WebSocket_Extensions="x-dummy; =3"))


# --------------------------------------------------------------------------
# reject_response_bytes
# --------------------------------------------------------------------------


def test_reject_response_bytes_format() -> None:
    with pytest.raises(HandshakeError) as info:
        validate_request(make_request(Sec_WebSocket_Version="8"))
    raw = reject_response_bytes(info.value)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 426 Upgrade Required"
    assert b"Sec-WebSocket-Version: 13" in lines
    assert b"Content-Type: text/plain; charset=utf-8" in lines
    assert b"Connection: close" in lines
    assert body == info.value.msg.encode()
    assert f"Content-Length: {len(body)}".encode() in lines
    response = parse_response(raw[: len(head) + 4])
    assert response.status == 426


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (400, b"HTTP/1.1 400 Bad Request\r\n"),
        (403, b"HTTP/1.1 403 Forbidden\r\n"),
        (405, b"HTTP/1.1 405 Method Not Allowed\r\n"),
        (431, b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (599, b"HTTP/1.1 599 Unknown\r\n"),
    ],
)
def test_reject_response_status_lines(status: int, line: bytes) -> None:
    assert reject_response_bytes(HandshakeError("x", status=status)).startswith(line)


def test_reject_response_utf8_body_length() -> None:
    raw = reject_response_bytes(HandshakeError("origin 'ça' refusée", status=403))
    body = "origin 'ça' refusée".encode()
    assert raw.endswith(b"\r\n\r\n" + body)
    assert f"Content-Length: {len(body)}\r\n".encode() in raw


# --------------------------------------------------------------------------
# WSGI environ
# --------------------------------------------------------------------------


def make_environ(**overrides: str) -> dict[str, object]:
    environ: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/chat",
        "QUERY_STRING": "",
        "HTTP_HOST": "server.example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "keep-alive, Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": RFC_KEY,
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "wsgi.input": object(),
    }
    environ.update(overrides)
    return environ


def test_environ_valid() -> None:
    environ = make_environ(HTTP_SEC_WEBSOCKET_PROTOCOL="chat", HTTP_ORIGIN="http://ex.com")
    result = validate_environ(environ, protocols=["chat"], allowed_origins=["http://ex.com"])
    assert result.accept == RFC_ACCEPT
    assert result.protocol == "chat"
    assert result.request.target == "/chat"
    assert result.request.headers.get("Sec-WebSocket-Key") == RFC_KEY


def test_environ_target_with_query_and_raw_uri() -> None:
    result = validate_environ(make_environ(SCRIPT_NAME="/app", QUERY_STRING="a=1"))
    assert result.request.target == "/app/chat?a=1"
    result = validate_environ(make_environ(RAW_URI="/raw%20path?x"))
    assert result.request.target == "/raw%20path?x"


def test_environ_extensions() -> None:
    environ = make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS="x-dummy; level=2")
    result = validate_environ(environ, extensions=[DummyServerFactory()])
    assert result.extension_header == "x-dummy; level=2"


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"REQUEST_METHOD": "POST"}, 405),
        ({"SERVER_PROTOCOL": "HTTP/1.0"}, 400),
        ({"HTTP_UPGRADE": "h2c"}, 400),
        ({"HTTP_SEC_WEBSOCKET_KEY": "short"}, 400),
        ({"HTTP_SEC_WEBSOCKET_VERSION": "8"}, 426),
        # a WSGI server joins duplicated headers with a comma
        ({"HTTP_SEC_WEBSOCKET_KEY": f"{RFC_KEY},{RFC_KEY}"}, 400),
        ({"CONTENT_LENGTH": "12"}, 400),
    ],
)
def test_environ_invalid(overrides: dict[str, str], status: int) -> None:
    with pytest.raises(HandshakeError) as info:
        validate_environ(make_environ(**overrides))
    assert info.value.status == status


def test_environ_missing_host() -> None:
    environ = make_environ()
    del environ["HTTP_HOST"]
    with pytest.raises(HandshakeError) as info:
        validate_environ(environ)
    assert "Host" in info.value.msg


# --------------------------------------------------------------------------
# Client request
# --------------------------------------------------------------------------


def test_client_key_is_random_base64_of_16_bytes() -> None:
    a, b = ClientHandshake("h", 80, "/"), ClientHandshake("h", 80, "/")
    assert len(base64.b64decode(a.key, validate=True)) == 16
    assert a.key != b.key


def test_client_request_default_headers() -> None:
    client = ClientHandshake("example.com", 80, "/chat?x=1", key=RFC_KEY.encode())
    assert client.request_headers() == [
        ("Host", "example.com"),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", RFC_KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
    assert client.request_bytes().startswith(b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\n")
    assert client.request_bytes().endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 8080, False, "example.com:8080"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 80, True, "example.com:80"),
        ("::1", 80, False, "[::1]"),
        ("::1", 9000, False, "[::1]:9000"),
        ("[fe80::1]", 9000, True, "[fe80::1]:9000"),
    ],
)
def test_client_host_header(host: str, port: int, secure: bool, expected: str) -> None:
    client = ClientHandshake(host, port, "/", secure=secure)
    assert dict(client.request_headers())["Host"] == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("example.com", 80, "example.com:80"),
        ("::1", 443, "[::1]:443"),
        ("localhost", None, "localhost"),
    ],
)
def test_client_host_header_with_the_port_always(
    host: str, port: int | None, expected: str
) -> None:
    client = ClientHandshake(host, port, "/", port_in_host=True)
    assert client.host_header == expected


def test_client_request_bytes_from_given_headers() -> None:
    client = ClientHandshake("h", 80, "/x", key=RFC_KEY)
    assert client.key == RFC_KEY.encode()
    assert (
        client.request_bytes([("Host", "h"), ("X", "1")])
        == b"GET /x HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n"
    )
    with pytest.raises(ValueError):
        client.request_bytes([("X", "1\r\nEvil: 1")])


def test_parse_header_block() -> None:
    headers = parse_header_block(b"Upgrade: websocket\r\nX:  a b \r\n")
    assert headers.items() == [("Upgrade", "websocket"), ("X", "a b")]
    assert len(parse_header_block(b"")) == 0
    with pytest.raises(HandshakeError):
        parse_header_block(b"Upgrade websocket")
    with pytest.raises(HandshakeError):
        parse_header_block(b"A: 1\nB: 2")


def test_client_optional_and_extra_headers_in_order() -> None:
    client = ClientHandshake(
        "h",
        80,
        "/",
        origin="http://h",
        protocols=["chat", "superchat"],
        extensions=[DummyClientFactory()],
        headers=[("Cookie", "a=b"), ("X-Trace", "1")],
    )
    names = [name for name, _ in client.request_headers()]
    assert names[5:] == [  # ws4py 0.6.0's order: Origin last unless given
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Cookie",
        "X-Trace",
        "Origin",
    ]
    headers = dict(client.request_headers())
    assert headers["Sec-WebSocket-Protocol"] == "chat,superchat"
    assert headers["Sec-WebSocket-Extensions"] == "x-dummy; level=3"


def test_client_exclude_headers_case_insensitive() -> None:
    client = ClientHandshake(
        "h",
        80,
        "/",
        origin="http://h",
        headers=[("X-Drop", "1")],
        exclude_headers=["origin", "SEC-WEBSOCKET-VERSION", "x-drop"],
    )
    names = {name.lower() for name, _ in client.request_headers()}
    assert "origin" not in names and "sec-websocket-version" not in names
    assert "x-drop" not in names and "host" in names


def test_client_request_is_accepted_by_server() -> None:
    client = ClientHandshake(
        "server.example.com",
        8000,
        "/chat",
        origin="http://example.com",
        protocols=["chat"],
        extensions=[DummyClientFactory()],
    )
    reader = HeadReader()
    assert reader.feed(client.request_bytes())
    result = validate_request(
        parse_request(reader.head),
        protocols=["chat"],
        extensions=[DummyServerFactory()],
        allowed_origins=["http://example.com"],
    )
    response_reader = HeadReader(is_response=True)
    assert response_reader.feed(result.response_bytes())
    outcome = client.process_response(parse_response(response_reader.head))
    assert outcome.protocol == "chat"
    assert [e.name for e in outcome.extensions] == ["x-dummy"]


def test_client_rejects_bad_resource_and_header_injection() -> None:
    with pytest.raises(ValueError):
        ClientHandshake("h", 80, "/a b")
    with pytest.raises(ValueError):
        ClientHandshake("h", 80, "/", headers=[("X", "1\r\nEvil: 1")]).request_bytes()
    assert ClientHandshake("h", 80, "").resource == "/"


# --------------------------------------------------------------------------
# Client response validation
# --------------------------------------------------------------------------


def test_client_accepts_rfc_response() -> None:
    client = ClientHandshake("h", 80, "/", key=RFC_KEY.encode())
    response = parse_response(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    result = client.process_response(response)
    assert result.protocol is None and result.extensions == []
    assert result.headers.get("sec-websocket-accept") == RFC_ACCEPT


def test_client_non_101() -> None:
    client = ClientHandshake("h", 80, "/")
    response = Response("HTTP/1.1", 403, "Forbidden", Headers())
    with pytest.raises(HandshakeError) as info:
        client.process_response(response)
    assert "403 Forbidden" in info.value.msg
    assert info.value.status == 403


def test_client_bad_accept() -> None:
    client = ClientHandshake("h", 80, "/")
    with pytest.raises(HandshakeError, match="does not match"):
        client.process_response(server_response(client, Sec_WebSocket_Accept=RFC_ACCEPT))


def test_client_missing_accept() -> None:
    client = ClientHandshake("h", 80, "/")
    response = server_response(client)
    response.headers = Headers(
        (k, v) for k, v in response.headers.items() if k != "Sec-WebSocket-Accept"
    )
    with pytest.raises(HandshakeError, match="missing Sec-WebSocket-Accept"):
        client.process_response(response)


def test_client_duplicate_accept() -> None:
    client = ClientHandshake("h", 80, "/")
    response = server_response(client)
    response.headers.add("Sec-WebSocket-Accept", accept_key(client.key))
    with pytest.raises(HandshakeError):
        client.process_response(response)


@pytest.mark.parametrize(("name", "value"), [("Upgrade", "h2c"), ("Connection", "close")])
def test_client_bad_upgrade_or_connection(name: str, value: str) -> None:
    client = ClientHandshake("h", 80, "/")
    with pytest.raises(HandshakeError):
        response = server_response(client)
        response.headers = Headers(
            (k, value if k == name else v) for k, v in response.headers.items()
        )
        client.process_response(response)


def test_client_subprotocol_selected() -> None:
    client = ClientHandshake("h", 80, "/", protocols=["a", "b"])
    result = client.process_response(server_response(client, Sec_WebSocket_Protocol="b"))
    assert result.protocol == "b"


def test_client_unoffered_subprotocol() -> None:
    client = ClientHandshake("h", 80, "/", protocols=["a"])
    with pytest.raises(HandshakeError, match="did not offer"):
        client.process_response(server_response(client, Sec_WebSocket_Protocol="z"))


def test_client_subprotocol_when_none_offered() -> None:
    client = ClientHandshake("h", 80, "/")
    with pytest.raises(HandshakeError, match="did not offer"):
        client.process_response(server_response(client, Sec_WebSocket_Protocol="a"))


def test_client_several_subprotocols() -> None:
    client = ClientHandshake("h", 80, "/", protocols=["a", "b"])
    with pytest.raises(HandshakeError, match="at most one"):
        client.process_response(server_response(client, Sec_WebSocket_Protocol="a, b"))


def test_client_extension_accepted_via_factory() -> None:
    factory = DummyClientFactory()
    client = ClientHandshake("h", 80, "/", extensions=[factory])
    result = client.process_response(
        server_response(client, Sec_WebSocket_Extensions="x-dummy; level=2")
    )
    assert factory.accepted == [[("level", "2")]]
    assert [e.name for e in result.extensions] == ["x-dummy"]


def test_client_unoffered_extension() -> None:
    client = ClientHandshake("h", 80, "/", extensions=[DummyClientFactory()])
    with pytest.raises(HandshakeError, match="did not offer"):
        client.process_response(server_response(client, Sec_WebSocket_Extensions="x-other"))


def test_client_extension_without_any_offer() -> None:
    client = ClientHandshake("h", 80, "/")
    with pytest.raises(HandshakeError, match="did not offer"):
        client.process_response(server_response(client, Sec_WebSocket_Extensions="x-dummy"))


def test_client_extension_params_rejected_by_factory() -> None:
    client = ClientHandshake("h", 80, "/", extensions=[DummyClientFactory()])
    with pytest.raises(HandshakeError, match="unknown parameter"):
        client.process_response(
            server_response(client, Sec_WebSocket_Extensions="x-dummy; unknown")
        )


def test_client_extension_twice() -> None:
    client = ClientHandshake("h", 80, "/", extensions=[DummyClientFactory()])
    with pytest.raises(HandshakeError, match="more than once"):
        client.process_response(
            server_response(client, Sec_WebSocket_Extensions="x-dummy, x-dummy")
        )


def test_client_extension_rsv_conflict() -> None:
    client = ClientHandshake(
        "h", 80, "/", extensions=[DummyClientFactory("x-a"), DummyClientFactory("x-b")]
    )
    with pytest.raises(HandshakeError, match="RSV"):
        client.process_response(server_response(client, Sec_WebSocket_Extensions="x-a, x-b"))


# --------------------------------------------------------------------------
# Extension header syntax
# --------------------------------------------------------------------------


def test_parse_extension_header_rfc7692_examples() -> None:
    assert parse_extension_header(
        [
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
            "permessage-deflate; client_max_window_bits"
        ]
    ) == [
        (
            "permessage-deflate",
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        ("permessage-deflate", [("client_max_window_bits", None)]),
    ]


def test_parse_extension_header_quoted_strings() -> None:
    assert parse_extension_header(['foo; a="10"; b="x\\yz"']) == [
        ("foo", [("a", "10"), ("b", "xyz")])
    ]


def test_parse_extension_header_whitespace_and_empty_elements() -> None:
    assert parse_extension_header([" a ;x = 1 ;\ty ,, b", "c"]) == [
        ("a", [("x", "1"), ("y", None)]),
        ("b", []),
        ("c", []),
    ]


def test_parse_extension_header_no_values() -> None:
    assert parse_extension_header([]) == []


@pytest.mark.parametrize(
    "value",
    [
        "",
        " , ",
        "foo;",
        "foo; =1",
        "foo; a=",
        'foo; a="unterminated',
        'foo; a="has space"',
        'foo; a="x"y',
        "foo bar",
        "foo; a=1 2",
        "f\u00e9e",
        "foo; a=b=c",
        'foo; a="\x01"',
        ";a",
    ],
)
def test_parse_extension_header_malformed(value: str) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_extension_header([value])
    assert info.value.status == 400


def test_format_extension() -> None:
    assert format_extension("x", []) == "x"
    assert (
        format_extension("permessage-deflate", [("client_max_window_bits", "10"), ("s", None)])
        == "permessage-deflate; client_max_window_bits=10; s"
    )
    bad_cases: list[tuple[str, ExtensionParams]] = [
        ("bad name", []),
        ("x", [("a b", None)]),
        ("x", [("a", "b c")]),
    ]
    for name, params in bad_cases:
        with pytest.raises(ValueError):
            format_extension(name, params)


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~", min_size=1)


@given(
    st.lists(
        st.tuples(_token, st.lists(st.tuples(_token, st.none() | _token), max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_format_then_parse_round_trips(extensions: list[tuple[str, ExtensionParams]]) -> None:
    header = ", ".join(format_extension(name, params) for name, params in extensions)
    assert parse_extension_header([header]) == extensions


def test_extension_default_hooks_are_identity() -> None:
    ext = DummyExtension("x-dummy", [("a", "1")])
    assert ext.decode_frame(1, 0x40, b"abc", True, None) == b"abc"
    assert ext.encode_message(2, b"xyz") == (0, b"xyz")
    assert repr(ext) == "<DummyExtension x-dummy; a=1>"
