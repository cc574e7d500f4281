"""Tests for the ws4py package module: constants, logging setup, address formatting."""

from __future__ import annotations

import hashlib
import logging
import re
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import ws4py
from ws4py import WS_KEY, WS_VERSION, configure_logger, format_addresses


@pytest.fixture
def ws4py_logger() -> Iterator[logging.Logger]:
    """The ``ws4py`` logger, restored (handlers, level) after the test."""
    log = logging.getLogger("ws4py")
    saved_handlers = list(log.handlers)
    saved_level = log.level
    yield log
    for handler in list(log.handlers):
        if handler not in saved_handlers:
            log.removeHandler(handler)
            handler.close()
    for handler in saved_handlers:
        if handler not in log.handlers:
            log.addHandler(handler)
    log.setLevel(saved_level)


def _configured(log: logging.Logger) -> list[logging.Handler]:
    return [h for h in log.handlers if not isinstance(h, logging.NullHandler)]


def test_ws_key_is_the_rfc_guid() -> None:
    assert WS_KEY == b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert isinstance(WS_KEY, bytes)
    # RFC 6455 section 1.3 worked example.
    accept = b64encode(hashlib.sha1(b"dGhlIHNhbXBsZSBub25jZQ==" + WS_KEY).digest())
    assert accept == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_ws_version() -> None:
    assert WS_VERSION == (13,)
    assert all(isinstance(v, int) for v in WS_VERSION)


def test_version_matches_pyproject() -> None:
    assert isinstance(ws4py.__version__, str)
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    match = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.MULTILINE)
    assert match is not None
    assert ws4py.__version__ == match.group(1)


def test_public_names() -> None:
    for name in ws4py.__all__:
        assert hasattr(ws4py, name), name
    assert {"WS_KEY", "WS_VERSION", "configure_logger", "format_addresses"} <= set(ws4py.__all__)


def test_configure_logger_stdout(
    ws4py_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    log = configure_logger()
    assert log is ws4py_logger
    assert log.level == logging.INFO
    handlers = _configured(log)
    assert len(handlers) == 1
    log.info("hello from the test")
    log.debug("too verbose")
    out = capsys.readouterr().out
    assert "INFO hello from the test" in out
    assert "too verbose" not in out


def test_configure_logger_level(
    ws4py_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logger(level=logging.DEBUG)
    assert ws4py_logger.level == logging.DEBUG
    ws4py_logger.debug("debug line")
    assert "DEBUG debug line" in capsys.readouterr().out
    configure_logger(level=logging.ERROR)
    ws4py_logger.warning("a warning")
    ws4py_logger.error("an error")
    out = capsys.readouterr().out
    assert "a warning" not in out
    assert "ERROR an error" in out


def test_configure_logger_file(
    ws4py_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ws4py.log"
    configure_logger(stdout=False, filepath=str(path), level=logging.WARNING)
    assert len(_configured(ws4py_logger)) == 1
    ws4py_logger.info("not written")
    ws4py_logger.warning("written to file")
    for handler in ws4py_logger.handlers:
        handler.flush()
    text = path.read_text()
    assert "WARNING written to file" in text
    assert "not written" not in text
    assert capsys.readouterr().out == ""


def test_configure_logger_stdout_and_file(
    ws4py_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "both.log"
    configure_logger(stdout=True, filepath=str(path))
    assert len(_configured(ws4py_logger)) == 2
    ws4py_logger.info("both places")
    for handler in ws4py_logger.handlers:
        handler.flush()
    assert "both places" in path.read_text()
    assert "both places" in capsys.readouterr().out


def test_configure_logger_twice_does_not_duplicate(
    ws4py_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each call adds what it asks for (as 0.6.0), but never the same target twice."""
    path = tmp_path / "twice.log"
    configure_logger(filepath=str(path))
    configure_logger(filepath=str(path))
    assert len(_configured(ws4py_logger)) == 2
    configure_logger(level=logging.DEBUG)
    handlers = _configured(ws4py_logger)
    assert len(handlers) == 2
    assert {h.level for h in handlers if not isinstance(h, logging.FileHandler)} == {logging.DEBUG}
    ws4py_logger.info("exactly once")
    assert capsys.readouterr().out.count("exactly once") == 1


def test_configure_logger_adds_a_file_to_stdout(
    ws4py_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.6.0 users call it once for stdout, then for a file: both keep logging."""
    path = tmp_path / "later.log"
    configure_logger()
    configure_logger(stdout=False, filepath=str(path))
    assert len(_configured(ws4py_logger)) == 2
    ws4py_logger.info("to both")
    for handler in ws4py_logger.handlers:
        handler.flush()
    assert "to both" in path.read_text()
    assert capsys.readouterr().out.count("to both") == 1


def test_configure_logger_keeps_foreign_handlers(ws4py_logger: logging.Logger) -> None:
    mine = logging.NullHandler()
    ws4py_logger.addHandler(mine)
    configure_logger(stdout=True)
    configure_logger(stdout=True)
    assert mine in ws4py_logger.handlers


def _ws(local: object, peer: object) -> SimpleNamespace:
    return SimpleNamespace(local_address=local, peer_address=peer)


def test_format_addresses_ipv4() -> None:
    text = format_addresses(_ws(("127.0.0.1", 9000), ("10.0.0.2", 53211)))
    assert text == "[Local => 127.0.0.1:9000 | Remote => 10.0.0.2:53211]"


def test_format_addresses_ipv6() -> None:
    """As 0.6.0 for (host, port); a 4-tuple (which 0.6.0 could not unpack) by its first two."""
    assert format_addresses(_ws(("::1", 443), ("fe80::1", 5000))) == (
        "[Local => ::1:443 | Remote => fe80::1:5000]"
    )
    text = format_addresses(_ws(("::1", 443, 0, 0), ("fe80::1", 5000, 0, 2)))
    assert text == "[Local => ::1:443 | Remote => fe80::1:5000]"


def test_format_addresses_not_both_tuples() -> None:
    """0.6.0: ``[Bound to '<local address>']`` unless both ends are tuples."""
    assert format_addresses(_ws(None, None)) == "[Bound to 'None']"
    assert format_addresses(_ws(("1.2.3.4", 80), None)) == "[Bound to '('1.2.3.4', 80)']"


def test_format_addresses_missing_attributes_and_unix_socket() -> None:
    assert format_addresses(object()) == "[Bound to 'None']"  # never raises
    assert format_addresses(_ws("/tmp/ws.sock", "")) == "[Bound to '/tmp/ws.sock']"


def test_compat_names() -> None:
    """0.6.0's ``ws4py.compat`` names, with their Python 3 meaning (issue #21 row 16)."""
    import socket

    from ws4py import compat

    assert compat.py3k is True
    assert compat.unicode is str and compat.range is range
    assert compat.basestring == (bytes, str)
    assert (compat.ord(65), compat.ord("A"), compat.ord(b"A")) == (65, 65, 65)
    assert compat.urlsplit("ws://h:9/p").port == 9
    a, b = socket.socketpair()
    with a, b:
        reader = a.makefile("rb")
        assert compat.get_connection(reader) is a
        compat.detach_connection(reader)
        b.sendall(b"x")
        assert a.recv(1) == b"x"  # the socket stayed open
