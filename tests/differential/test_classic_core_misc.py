"""Utf8Validator, ws4py.exc, ws4py (configure_logger, format_addresses) and ws4py.compat vs 0.6.0.

Scenarios: ``differential.scenarios_core``.  Deliberate differences, each
asserted on both sides below:

* ``Utf8Validator.validate`` returns ``currentIndex == len(ba)`` and the
  total of bytes consumed when the chunk is valid, as the API reference
  documents; 0.6.0 returned the index of the chunk's last byte (one less)
  and summed those.  Failures (valid? False) point at the same octet.
* ``configure_logger()`` adds what each call asks for, as 0.6.0 did, but a
  handler it already attached for the same target (stdout, the same file)
  is reused with the new level instead of being attached again: 0.6.0
  printed every line once per call.
* ``format_addresses`` takes an IPv6 4-tuple by its host and port (0.6.0
  raised ``ValueError`` unpacking it) and never raises (it is called on
  failure paths).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import scenarios_core as sc
from differential.harness import Differential

pytestmark = pytest.mark.timeout(300)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]

# Valid text, invalid sequences, and pieces cut anywhere.
UTF8ISH = st.one_of(
    st.text(max_size=20).map(str.encode),
    st.binary(max_size=20),
    st.sampled_from(
        [b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82", b"\xf0\x9f\x98"]
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=UTF8ISH)
def test_decode_octet_by_octet(classic: Differential, data: bytes) -> None:
    """The DFA's state and code point after each octet."""
    classic.same(sc.utf8_decode, data)


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE_OK)
@given(chunks=st.lists(UTF8ISH, min_size=1, max_size=5))
def test_validate_quads(classic: Differential, chunks: list[bytes]) -> None:
    """Validity and ends-on-code-point as 0.6.0; indexes as the API reference documents."""
    ours, theirs = classic.both(sc.utf8_validate, chunks)
    total = 0
    classic_total = 0
    for chunk, (_, quad), (_, old) in zip(chunks, ours, theirs, strict=True):
        valid, ends, current, running = quad
        assert (valid, ends) == (old[0], old[1])
        if valid:
            total += len(chunk)
            assert (current, running) == (len(chunk), total)
            classic_total += max(len(chunk) - 1, 0)
            assert old[2:] == (max(len(chunk) - 1, 0), classic_total)  # 0.6.0: one short
        else:
            assert current == old[2]  # the same offending octet
            assert running == total + current
            break


@pytest.mark.parametrize(
    "chunks",
    [[b"\xff"], [b""], [b"\xc3", b"\x28"], [b"\xed\xa0\x80"], [b"\xf0\x9f", b"\x98\x80", b"\xff"]],
)
def test_validate_rejects_at_the_same_octet(classic: Differential, chunks: list[bytes]) -> None:
    """From the first chunk (nothing consumed before), failures are identical."""
    ours, theirs = classic.both(sc.utf8_validate, chunks)
    if ours[0][1][0]:  # a valid first chunk: indexes differ by the documented one
        assert ours[0][1][:2] == theirs[0][1][:2]
    else:
        assert ours == theirs


def test_reset(classic: Differential) -> None:
    ours, theirs = classic.both(sc.utf8_reset_between, b"\xff", b"ok")
    assert ours[:2] == theirs[:2] == [(False, False, 0, 0), (0, 0, 0)]
    assert ours[2] == (True, True, 2, 2) and theirs[2] == (True, True, 1, 1)


def test_validator_table_and_constants(classic: Differential) -> None:
    classic.same(sc.utf8_attributes)


def test_exception_tree(classic: Differential) -> None:
    """Every classic name, base and subclass relation; HandshakeError's msg."""
    classic.same(sc.exc_tree)


LOGGER_CALLS = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.sampled_from([10, 20, 30])), min_size=1, max_size=4
)


def _distinct_targets(calls: list[tuple[bool, bool, int]]) -> bool:
    """No target (stdout, the file) asked for twice: 0.6.0 then attached it twice."""
    return sum(c[0] for c in calls) <= 1 and sum(c[1] for c in calls) <= 1


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(calls=LOGGER_CALLS.filter(_distinct_targets))
def test_configure_logger(classic: Differential, calls: list[Any]) -> None:
    """Handlers, levels and format after each call, each target asked for once."""
    classic.same(sc.logger_calls, calls)


def test_configure_logger_twice(classic: Differential) -> None:
    """Issue #21 row 19: twice with stdout, then a file: one stdout handler, and the file."""
    ours, theirs = classic.both(sc.logger_calls, [(True, False, 20), (True, False, 10),
                                                  (False, True, 20)])  # fmt: skip
    assert [step["handlers"] for step in ours] == [
        [("stream", 20, True)],
        [("stream", 10, True)],
        [("file", 20, 10485760, 3), ("stream", 10, True)],
    ]
    assert [len(step["handlers"]) for step in theirs] == [1, 2, 3]
    assert [step["level"] for step in ours] == [step["level"] for step in theirs] == [20, 10, 20]


@pytest.mark.parametrize(
    ("local", "peer"),
    [
        (("127.0.0.1", 9000), ("10.0.0.2", 53211)),
        (("::1", 9000), ("fe80::1", 5000)),  # our websocket's IPv6 addresses are (host, port)
        ("/tmp/ws.sock", ""),  # a Unix socket (issue #21 row 19)
        ("/tmp/ws.sock", "/tmp/ws.sock"),
        (None, None),
    ],
)
def test_format_addresses(classic: Differential, local: Any, peer: Any) -> None:
    classic.same(sc.format_addresses, local, peer)


def test_format_addresses_ipv6_four_tuples(classic: Differential) -> None:
    ours, theirs = classic.both(sc.format_addresses, ("::1", 9000, 0, 0), ("::1", 5555, 0, 0))
    assert ours == ("ok", "[Local => ::1:9000 | Remote => ::1:5555]")
    assert theirs == ("raise", "ValueError")


def test_format_addresses_never_raises(classic: Differential) -> None:
    """A tuple beside no peer (a socket gone): 0.6.0's ``%`` took the tuple as its arguments."""
    ours, theirs = classic.both(sc.format_addresses, ("127.0.0.1", 9000), None)
    assert ours == ("ok", "[Bound to '('127.0.0.1', 9000)']")
    assert theirs == ("raise", "TypeError")


def test_package_names(classic: Differential) -> None:
    classic.same(sc.package_names)


def test_compat(classic: Differential) -> None:
    """``ws4py.compat`` and every name 0.6.0's exported (issue #21 row 16)."""
    classic.same(sc.compat_names)
