"""The chat as a cluster: several ``python -m ws4py chat`` processes sharing a real Redis.

Each server is a subprocess (``--redis URL``, or ``--workers 2`` on one port);
members are ``websockets`` clients spread over them in one room.  Redis is
Debian's ``redis-server`` (``scripts/install-redis.sh``) on a free loopback
port with a temporary directory, killed (SIGKILL) and restarted by PID where
a test says so.  Every process started here is stopped by PID.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from ws4py.broadcast.testing import RedisServer, free_port

pytestmark = pytest.mark.timeout(90)

PYTHON = sys.executable
WAIT = 15.0
Event = dict[str, Any]


class ChatServer:
    """``python -m ws4py chat ...`` in a subprocess; its output goes to a log file."""

    def __init__(self, directory: Path, *args: str) -> None:
        self.log = directory / f"chat-{uuid.uuid4().hex[:8]}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "ws4py", "chat", "--host", "127.0.0.1", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.port = 0

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = WAIT) -> ChatServer:
        """Wait for the line announcing the URL (printed once serving); note the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"ws4py chat on http://127\.0\.0\.1:(\d+)/", self.output)
            if found:
                self.port = int(found.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"chat exited with {self.proc.returncode}:\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"chat not ready after {timeout}s:\n{self.output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Member:
    """A chat member over the ``websockets`` library; a thread collects its events."""

    def __init__(self, port: int, nick: str, room: str) -> None:
        self.nick = nick
        url = f"ws://127.0.0.1:{port}/ws?nick={nick}&room={room}"
        self.ws: ClientConnection = ws_connect(url, open_timeout=10).__enter__()
        self.worker = int(self.ws.response.headers["X-Chat-Worker"])
        self.events: list[Event] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for data in self.ws:
                event = json.loads(data)
                with self.cond:
                    self.events.append(event)
                    self.cond.notify_all()
        except ConnectionClosed:
            pass

    def say(self, text: str) -> None:
        self.ws.send(text)

    def wait(self, predicate: Callable[[list[Event]], bool], timeout: float = WAIT) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.events), timeout):
                raise AssertionError(f"{self.nick}: condition not met; events: {self.events[-20:]}")

    def messages(self, prefix: str = "") -> list[tuple[str, str]]:
        """(nick, text) of the chat messages received, in order."""
        with self.cond:
            return [
                (e["nick"], e["text"])
                for e in self.events
                if e["type"] == "message" and e["text"].startswith(prefix)
            ]

    def errors(self) -> list[Event]:
        with self.cond:
            return [e for e in self.events if e["type"] == "error"]

    def close(self) -> None:
        self.ws.__exit__(None, None, None)
        self.thread.join(5)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()  # RedisServerMissing: "run scripts/install-redis.sh"
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["pubsub", "streams"])
def mode(request: pytest.FixtureRequest) -> list[str]:
    """The chat's Redis options: pub/sub (the default) or Streams (``--redis-streams``)."""
    return ["--redis-streams"] if request.param == "streams" else []


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., ChatServer]]:
    """Starts chat servers (all stopped by PID after the test)."""
    servers: list[ChatServer] = []

    def start(*args: str) -> ChatServer:
        server = ChatServer(tmp_path, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    created: list[Member] = []
    yield created
    for member in created:
        member.close()


def sync_all(members: list[Member], tag: str, timeout: float = WAIT) -> None:
    """Each member says ``tag`` until every member has heard every member's tag.

    Then every member is a managed member of the room on its server, and
    every server publishes and receives through Redis.
    """
    deadline = time.monotonic() + timeout
    names = {m.nick for m in members}
    while True:
        for member in members:
            member.say(f"{tag}")
        time.sleep(0.2)
        if all({n for n, _ in m.messages(tag)} >= names for m in members):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"sync {tag!r} failed: {[m.messages(tag) for m in members]}")


def check_exactly_once_in_order(
    members: list[Member], prefix: str, count: int, timeout: float = WAIT
) -> None:
    """Every member got each ``prefix<i>`` of every member once, in each sender's order."""
    expected = len(members) * count
    for member in members:
        member.wait(
            lambda _, member=member: len(member.messages(prefix)) >= expected,  # type: ignore[misc]
            timeout,
        )
    time.sleep(0.3)  # anything extra (a duplicate) would show up now
    for member in members:
        received = member.messages(prefix)
        assert len(received) == expected, (member.nick, len(received), expected)
        for sender in members:
            texts = [text for nick, text in received if nick == sender.nick]
            assert texts == [f"{prefix}{i}" for i in range(count)], (member.nick, sender.nick)


def test_three_servers_one_room_exactly_once_in_order(
    cluster: Callable[..., ChatServer],
    members: list[Member],
    redis_server: RedisServer,
    mode: list[str],
) -> None:
    prefix = f"c{uuid.uuid4().hex[:6]}:"
    servers = [
        cluster("--port", "0", "--redis", redis_server.url, "--redis-prefix", prefix, *mode)
        for _ in range(3)
    ]
    for server in servers:
        server.wait_ready()
    room = f"room-{uuid.uuid4().hex[:6]}"
    for index in range(9):  # three members on each server
        members.append(Member(servers[index % 3].port, f"m{index}", room))
    assert len({m.worker for m in members}) == 3  # three processes
    for member in members:
        member.wait(lambda events, nick=member.nick: any(  # type: ignore[misc]
            e["type"] == "join" and e["nick"] == nick for e in events
        ))
        assert member.events[0]["type"] == "join" and member.events[0]["nick"] == member.nick
    sync_all(members, "sync")
    count = 25
    for i in range(count):  # interleaved: every member says its i-th message in turn
        for member in members:
            member.say(f"msg-{i}")
    check_exactly_once_in_order(members, "msg-", count)
    # Another room on the same servers hears nothing of this one.
    outsider = Member(servers[0].port, "outsider", f"{room}-other")
    members.append(outsider)
    members[1].say("msg-not-for-outsider")
    members[0].wait(lambda events: any(e["text"] == "msg-not-for-outsider" for e in events))
    time.sleep(0.2)
    assert outsider.messages() == []
    # A member leaving on one server is announced on the others.
    leaving = members[4]
    leaving.close()
    members[3].wait(lambda events: any(
        e["type"] == "leave" and e["nick"] == leaving.nick for e in events
    ))


def test_redis_killed_and_restarted_mid_run(
    cluster: Callable[..., ChatServer], members: list[Member], tmp_path: Path, mode: list[str]
) -> None:
    redis_server = RedisServer(directory=tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    redis_server.start()
    try:
        servers = [cluster("--port", "0", "--redis", redis_server.url, *mode) for _ in range(3)]
        for server in servers:
            server.wait_ready()
        room = f"room-{uuid.uuid4().hex[:6]}"
        for index, server in enumerate(servers):
            members.append(Member(server.port, f"k{index}", room))
        sync_all(members, "sync-1")
        for i in range(5):
            for member in members:
                member.say(f"before-{i}")
        check_exactly_once_in_order(members, "before-", 5)

        redis_server.kill()  # SIGKILL, mid-run
        # Documented: while Redis is down, publishing fails at once (nothing is
        # queued) and the sender is told; nobody receives the message.
        for member in members:
            deadline = time.monotonic() + WAIT
            while not member.errors():
                member.say(f"down-{member.nick}")
                time.sleep(0.1)
                assert time.monotonic() < deadline, f"{member.nick} got no error event"
            assert "not delivered" in member.errors()[0]["text"]
        time.sleep(0.3)

        redis_server.start()  # the same port, an empty Redis
        # Subscriptions are restored automatically: messages flow again.
        sync_all(members, "sync-2", timeout=30)
        for i in range(5):
            for member in members:
                member.say(f"after-{i}")
        check_exactly_once_in_order(members, "after-", 5)
        for member in members:
            assert member.messages("down-") == []  # never delivered, never replayed
        for server in servers:
            output = server.output
            assert "connection lost" in output and "connected again" in output, output
    finally:
        redis_server.close()


def test_workers_share_the_port_and_the_room(
    cluster: Callable[..., ChatServer], members: list[Member], redis_server: RedisServer
) -> None:
    server = cluster(
        "--port", "0", "--workers", "2", "--redis", redis_server.url,
        "--redis-prefix", f"w{uuid.uuid4().hex[:6]}:",
    ).wait_ready()
    pids = [int(pid) for pid in re.findall(r"\d+", re.search(
        r"2 worker processes \(([\d, ]+)\)", server.output
    ).group(1))]  # type: ignore[union-attr]
    assert len(pids) == 2 and server.proc.pid not in pids
    for pid in pids:  # children of the master process
        assert Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[1] == str(
            server.proc.pid
        )
    room = f"room-{uuid.uuid4().hex[:6]}"
    by_worker: dict[int, Member] = {}
    extra: list[Member] = []
    for attempt in range(60):  # the kernel spreads connections over the two listeners
        member = Member(server.port, f"p{attempt}", room)
        assert member.worker in pids
        if member.worker in by_worker:
            extra.append(member)
        else:
            by_worker[member.worker] = member
            members.append(member)
        if len(by_worker) == 2:
            break
    for member in extra:
        member.close()
    assert len(by_worker) == 2, "every connection landed on one worker"
    ann, bob = members
    assert ann.worker != bob.worker
    sync_all([ann, bob], "sync")
    ann.say("hello from one worker")
    bob.say("hello from the other")
    for member in (ann, bob):
        member.wait(lambda events: sum(
            e["type"] == "message" and e["text"].startswith("hello") for e in events
        ) >= 2)
    time.sleep(0.2)
    for member in (ann, bob):
        assert member.messages("hello") == [
            (ann.nick, "hello from one worker"), (bob.nick, "hello from the other")
        ] or member.messages("hello") == [
            (bob.nick, "hello from the other"), (ann.nick, "hello from one worker")
        ]
    server.stop()
    assert server.proc.returncode == 0, server.output
    for pid in pids:  # the workers are gone too
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status"
        ).read_text()


def test_workers_need_redis_and_a_reachable_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, "-m", "ws4py", "chat", "--port", "0", "--workers", "2"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "--workers 2 needs --redis URL" in result.stderr
    port = free_port()  # no Redis there
    result = subprocess.run(
        [PYTHON, "-m", "ws4py", "chat", "--port", "0", "--redis", f"redis://127.0.0.1:{port}/0"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in result.stderr
