"""The Redis pub/sub broadcast backend: every process, every machine, one Redis.

.. code-block:: python

    from ws4py.broadcast.redis import RedisBackend
    from ws4py.manager import WebSocketManager

    backend = RedisBackend("redis://127.0.0.1:6379/0", channel_prefix="myapp:")
    manager = WebSocketManager(backend=backend)
    ...
    manager.publish("to every websocket of every process")
    backend.close()

Needs the ``redis`` client (``pip install ws4py[redis]``).  Each backend has
one subscriber connection, read by a thread of its own
(``ws4py-redis-subscriber``), and a small pool of connections for PUBLISH.
Channels are ``channel_prefix`` + the backend channel (``myapp:all``,
``myapp:group:room``): processes with the same prefix on the same Redis
(whatever the database number: pub/sub ignores it) form one cluster.

Semantics, as in :mod:`ws4py.broadcast`: at most once, in order per
publisher; while the subscriber connection is down, :meth:`RedisBackend.publish`
raises :class:`~ws4py.broadcast.BackendUnavailableError` at once (no queue,
no blocking on a dead server); the subscriber reconnects with exponential
back-off and jitter, subscribes again to every wanted channel, and
publishing works again.  A silent connection (no byte for
``health_check_interval`` seconds) is probed with a PING and dropped when
no answer comes within ``socket_timeout``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ws4py.broadcast import Backend, BackendUnavailableError, BroadcastError

try:
    import redis as _redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ws4py.broadcast.redis needs the redis client: pip install 'ws4py[redis]'"
    ) from exc

__all__ = ["RedisBackend", "RedisStreamBackend", "redact_url"]

logger = logging.getLogger("ws4py")

_NETWORK_ERRORS = (_redis.ConnectionError, _redis.TimeoutError, OSError)


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<invalid Redis URL>"


class RedisBackend(Backend):
    """Broadcast through Redis pub/sub (``redis://``, ``rediss://`` or ``unix://`` URL).

    ``channel_prefix`` namespaces the channels.  ``socket_timeout`` bounds
    a PUBLISH and a health check's wait; ``connect_timeout`` each connection
    attempt.  The subscriber reconnects after ``reconnect_delay`` seconds,
    doubling up to ``max_reconnect_delay``.  ``options`` go to
    :meth:`redis.ConnectionPool.from_url` (e.g. ``password``, ``ssl_ca_certs``).

    The subscriber thread starts at once; :meth:`wait_connected` waits for
    its first connection.  Call :meth:`close` when done (or use ``with``).

    :meth:`publish` waits for Redis's answer (a round trip; on a Redis that
    hangs, at most ``socket_timeout``): called from a websocket handler it
    holds the manager's thread that long.  Channels subscribed while the
    link is up take effect after one round trip (:meth:`wait_subscribed`).
    """

    #: Seconds the subscriber waits for data before looking at subscription changes.
    poll_interval = 0.02

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        channel_prefix: str = "ws4py:",
        *,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 2.0,
        health_check_interval: float = 10.0,
        **options: Any,
    ) -> None:
        super().__init__()
        self.url = url
        self.safe_url = redact_url(url)
        self.channel_prefix = channel_prefix
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.health_check_interval = health_check_interval
        self.socket_timeout = socket_timeout
        settings: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "socket_keepalive": True,
            "health_check_interval": 0,  # ours is done by the subscriber thread
            "retry": Retry(NoBackoff(), 0),  # never re-send: at most once
            "protocol": 2,  # pub/sub replies as plain arrays on every server version
            **options,
        }
        try:
            self._pool = _redis.ConnectionPool.from_url(url, **settings)
            self._sub_pool = _redis.ConnectionPool.from_url(url, **settings)
        except ValueError as exc:
            raise BroadcastError(f"invalid Redis URL {self.safe_url!r}: {exc}") from None
        self._client = _redis.Redis(connection_pool=self._pool)
        self._prefix_bytes = channel_prefix.encode("utf-8")
        self._state = threading.Condition(self._lock)
        self._dirty = False  # subscriptions changed: the subscriber thread diffs them
        self._connected = False
        self._down_since: float | None = time.monotonic()
        self._last_error = "not connected yet"
        self._confirmed: set[str] = set()  # subscribed on the current connection
        self._closing = threading.Event()
        self._conn: Any = None
        #: Counters: messages published and received, connections made, and
        #: connection attempts failed in a row (0 while connected).
        self.published = 0
        self.received = 0
        self.connections = 0
        self.failed_attempts = 0
        self._thread = threading.Thread(
            target=self._run, name="ws4py-redis-subscriber", daemon=True
        )
        self._thread.start()

    # -- Backend ---------------------------------------------------------------------

    def publish(self, channel: str, payload: bytes) -> None:
        """PUBLISH ``payload`` on ``channel_prefix + channel``; never queued, never retried.

        Raises :class:`BackendUnavailableError` while the subscriber
        connection is down, or when the PUBLISH fails.
        """
        if self.closed:
            raise BroadcastError(f"{self!r} is closed")
        if not self._connected:
            since = self._down_since
            down = f" for {time.monotonic() - since:.1f}s" if since is not None else ""
            raise BackendUnavailableError(
                f"Redis at {self.safe_url} is unreachable{down} ({self._last_error}); "
                "reconnecting: the message was not published"
            )
        try:
            self._send(self._prefix_bytes + channel.encode("utf-8"), payload)
        except _NETWORK_ERRORS as exc:
            raise BackendUnavailableError(
                f"publishing to Redis at {self.safe_url} failed ({exc}): "
                "the message was not published (or, after a timeout, perhaps was)"
            ) from exc
        self.published += 1

    def _send(self, key: bytes, payload: bytes) -> None:
        self._client.publish(key, payload)

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Wait until connected and every wanted channel is confirmed by Redis."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            while not (
                self.closed
                or (self._connected and not self._dirty and set(self._callbacks) <= self._confirmed)
            ):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state.wait(remaining)
            return not self.closed

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until the subscriber is connected; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            while not self._connected and not self.closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state.wait(remaining)
            return self._connected

    @property
    def connected(self) -> bool:
        return self._connected and not self.closed

    @property
    def last_error(self) -> str:
        """Why the last connection ended or failed."""
        return self._last_error

    def close(self) -> None:
        """Stop the subscriber thread and close every connection."""
        with self._state:
            if self.closed:
                return
            self.closed = True
            self._callbacks.clear()
            self._state.notify_all()
        self._closing.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self.poll_interval + self.socket_timeout + 1)
        self._pool.disconnect()
        self._sub_pool.disconnect()

    def _channel_wanted(self, channel: str, wanted: bool) -> None:
        with self._state:
            self._dirty = True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "connected" if self._connected else "disconnected"
        return f"<RedisBackend {self.safe_url} prefix={self.channel_prefix!r} {state}>"

    # -- the subscriber thread ---------------------------------------------------------

    def _run(self) -> None:
        delay = self.reconnect_delay
        failures = 0
        while not self._closing.is_set():
            conn: Any = self._sub_pool.make_connection()
            self._conn = conn
            try:
                conn.connect()
                self.connections += 1
                with self._state:
                    self._connected = True
                    self._down_since = None
                    self._dirty = True  # subscribe to everything wanted
                    self._confirmed.clear()
                    self._state.notify_all()
                if self.connections > 1 or failures:
                    logger.info(
                        "Redis at %s: connected again; restoring %d subscription(s)",
                        self.safe_url,
                        len(self._callbacks),
                    )
                failures = 0
                self.failed_attempts = 0
                delay = self.reconnect_delay
                self._read(conn)
            except _NETWORK_ERRORS as exc:
                self._last_error = str(exc) or type(exc).__name__
            except Exception as exc:  # a protocol surprise: start over on a new connection
                logger.exception("Redis at %s: unexpected error", self.safe_url)
                self._last_error = str(exc) or type(exc).__name__
            finally:
                was_connected = self._connected
                with self._state:
                    self._connected = False
                    self._confirmed.clear()
                    if self._down_since is None:
                        self._down_since = time.monotonic()
                    self._state.notify_all()
                try:
                    conn.disconnect()
                except Exception:
                    pass
                self._conn = None
            if self._closing.is_set():
                break
            failures += 1
            if not was_connected:
                self.failed_attempts += 1
            if was_connected:
                logger.warning(
                    "Redis at %s: connection lost (%s); reconnecting",
                    self.safe_url,
                    self._last_error,
                )
                delay = self.reconnect_delay
            elif failures == 1:
                logger.warning(
                    "Redis at %s: cannot connect (%s); retrying", self.safe_url, self._last_error
                )
            else:
                logger.debug("Redis at %s: still down (%s)", self.safe_url, self._last_error)
            # Full jitter around the current delay, so many processes do not
            # knock on a restarted Redis at the same instant.
            self._closing.wait(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.max_reconnect_delay)

    def _read(self, conn: Any) -> None:
        """Read the subscriber connection until it fails or the backend closes."""
        requested: set[str] = set()
        last_seen = time.monotonic()
        ping_sent: float | None = None
        while not self._closing.is_set():
            if self._dirty:
                requested = self._sync_subscriptions(conn, requested)
            if conn.can_read(timeout=self.poll_interval):
                last_seen = time.monotonic()
                ping_sent = None
                self._handle(conn.read_response())
                while conn.can_read(timeout=0):
                    self._handle(conn.read_response())
                continue
            now = time.monotonic()
            if ping_sent is not None:
                if now - ping_sent > self.socket_timeout:
                    raise _redis.TimeoutError(
                        f"no answer to a PING in {self.socket_timeout:g}s"
                    )
            elif self.health_check_interval and now - last_seen > self.health_check_interval:
                conn.send_command("PING", check_health=False)
                ping_sent = now

    def _sync_subscriptions(self, conn: Any, requested: set[str]) -> set[str]:
        """SUBSCRIBE what is wanted and not requested yet, UNSUBSCRIBE the reverse."""
        with self._state:
            self._dirty = False
            wanted = set(self._callbacks)
        new = sorted(wanted - requested)
        gone = sorted(requested - wanted)
        if new:
            conn.send_command("SUBSCRIBE", *(self.channel_prefix + c for c in new),
                              check_health=False)
        if gone:
            conn.send_command("UNSUBSCRIBE", *(self.channel_prefix + c for c in gone),
                              check_health=False)
        return wanted

    def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return  # a PONG to our health check (outside subscribed mode)
        kind = response[0]
        if kind == b"message":
            self.received += 1
            raw = response[1]
            if raw.startswith(self._prefix_bytes):
                channel = raw[len(self._prefix_bytes) :].decode("utf-8", "replace")
                self._dispatch(channel, response[2])
        elif kind in (b"subscribe", b"unsubscribe"):
            raw = response[1]
            if isinstance(raw, bytes) and raw.startswith(self._prefix_bytes):
                channel = raw[len(self._prefix_bytes) :].decode("utf-8", "replace")
                with self._state:
                    if kind == b"subscribe":
                        self._confirmed.add(channel)
                    else:
                        self._confirmed.discard(channel)
                    self._state.notify_all()
        # b"pong" in subscribed mode: nothing to do, it was read


class RedisStreamBackend(RedisBackend):
    """Like :class:`RedisBackend`, on Redis Streams: what a subscriber missed is replayed.

    Each channel is a stream (``XADD <prefix><channel> MAXLEN ~ maxlen``);
    the subscriber thread reads every wanted stream with ``XREAD BLOCK``
    from the last entry it delivered.  So a subscriber whose connection
    drops (network, a Redis failover that kept the data, a paused process)
    gets, once connected again, every message published meanwhile, once,
    in order: nothing lost and nothing twice, as long as the stream still
    holds them (the newest ``maxlen`` entries per channel, roughly; older
    ones are trimmed and then lost).  A channel's reading starts at its
    newest entry when it is first subscribed (no history), and what a
    process delivered is not remembered across its restarts.  A Redis that
    restarts without its data loses the streams: as with pub/sub, only
    what is published after it is back is delivered.

    Order: per publisher, within a channel (one XREAD returns the entries
    of several streams one stream after the other, so two channels'
    messages may be delivered in another order than published).
    Publishing and the Redis-down rule are those of :class:`RedisBackend`
    (``publish`` raises at once while the subscriber connection is down).
    Subscription changes take effect within ``block_interval`` seconds
    (the longest ``XREAD BLOCK``).
    """

    #: Seconds an XREAD may wait for new entries before subscriptions are re-read.
    block_interval = 0.05
    #: Entries read per stream per XREAD.
    read_count = 1000

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        channel_prefix: str = "ws4py:",
        *,
        maxlen: int = 10_000,
        **options: Any,
    ) -> None:
        self.maxlen = maxlen
        #: stream key -> the ID of the last entry delivered (kept across reconnections).
        self._last_ids: dict[bytes, bytes] = {}
        super().__init__(url, channel_prefix, **options)

    def _send(self, key: bytes, payload: bytes) -> None:
        self._client.xadd(key, {b"d": payload}, maxlen=self.maxlen, approximate=True)

    def _read(self, conn: Any) -> None:
        prefix = self._prefix_bytes
        while not self._closing.is_set():
            with self._state:
                wanted = {prefix + c.encode("utf-8"): c for c in self._callbacks}
                self._dirty = False
            for key in list(self._last_ids):
                if key not in wanted:
                    del self._last_ids[key]  # unsubscribed: a new subscription starts afresh
            for key in wanted:
                if key not in self._last_ids:
                    # Start after the newest entry: the history is not delivered.
                    conn.send_command("XREVRANGE", key, "+", "-", "COUNT", 1, check_health=False)
                    newest = conn.read_response()
                    self._last_ids[key] = newest[0][0] if newest else b"0-0"
            with self._state:
                self._confirmed = set(wanted.values())
                self._state.notify_all()
            if not wanted:
                conn.send_command("PING", check_health=False)
                conn.read_response()
                self._closing.wait(self.block_interval)
                continue
            keys = list(wanted)
            conn.send_command(
                "XREAD", "COUNT", self.read_count,
                "BLOCK", max(1, int(self.block_interval * 1000)),
                "STREAMS", *keys, *(self._last_ids[key] for key in keys),
                check_health=False,
            )
            response = conn.read_response()
            for key, entries in response or ():
                channel = wanted.get(key)
                if channel is None:
                    continue
                for entry_id, fields in entries:
                    self._last_ids[key] = entry_id
                    self.received += 1
                    payload = _field(fields, b"d")
                    if payload is not None:
                        self._dispatch(channel, payload)


def _field(fields: Any, name: bytes) -> bytes | None:
    """The value of ``name`` in a stream entry's [field, value, ...] list."""
    if isinstance(fields, dict):
        value = fields.get(name)
        return value if isinstance(value, bytes) else None
    for index in range(0, len(fields) - 1, 2):
        if fields[index] == name:
            value = fields[index + 1]
            return value if isinstance(value, bytes) else None
    return None
