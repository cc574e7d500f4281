"""The differential harness really runs classic ws4py 0.6.0 beside this package."""

from __future__ import annotations

import pytest

from differential import scenarios_smoke
from differential.harness import ClassicError, Differential


def test_the_classic_side_is_ws4py_0_6_0(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios_smoke.version)
    assert theirs == "0.6.0"
    assert ours != "0.6.0"


def test_same_values_compare(classic: Differential) -> None:
    key = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert classic.same(scenarios_smoke.identity) == ("ws4py", key)


def test_a_broken_scenario_fails_loudly(classic: Differential) -> None:
    with pytest.raises(ClassicError, match="TypeError"):
        classic.classic.run(scenarios_smoke.version, "unexpected argument")
