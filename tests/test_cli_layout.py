"""ws4py.cli is a package of one-job modules; the names ``ws4py.cli`` had stay (issue #19)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ws4py import cli
from ws4py.cli import common, connect, parser, serve

pytestmark = pytest.mark.timeout(60)

#: Every public name the single-module ws4py.cli had, and the module that holds it now.
FORMER_NAMES = {
    "EXIT_ABNORMAL": common,
    "EXIT_CONNECT": common,
    "EXIT_INTERRUPTED": common,
    "EXIT_OK": common,
    "EXIT_USAGE": common,
    "CONNECT_HELP": connect,
    "HEX_PREVIEW": connect,
    "NORMAL_CLOSE_CODES": connect,
    "Console": connect,
    "ConsoleClient": connect,
    "check_url": connect,
    "describe_binary": connect,
    "parse_header": connect,
    "LoggingEchoWebSocket": serve,
    "build_parser": parser,
    "main": parser,
}


@pytest.mark.parametrize("name", sorted(FORMER_NAMES))
def test_former_names_are_reexported(name: str) -> None:
    assert getattr(cli, name) is getattr(FORMER_NAMES[name], name)
    assert name in cli.__all__


def test_the_parser_dispatches_to_the_subcommand_modules() -> None:
    p = cli.build_parser()
    assert p.parse_args(["echo"]).func is serve.run_echo
    assert p.parse_args(["chat"]).func is serve.run_chat
    assert p.parse_args(["connect", "ws://h/"]).func is connect.run_connect


def test_python_m_ws4py_still_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ws4py", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "echo" in done.stdout and "chat" in done.stdout and "connect" in done.stdout
