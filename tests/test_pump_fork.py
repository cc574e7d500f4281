"""run() mode's pump thread in a forked child (a prefork worker's websockets).

The pump is a process-wide thread started by the first run()-mode websocket;
a forked child inherits the module but not the thread, so it must get a pump
of its own.  The scenario runs in a subprocess (the fork is its own, not
pytest's): a run()-mode websocket over a socketpair whose handler stays busy
until its peer has the pong of a ping sent meanwhile, once in the parent (the
pump starts there), then in a forked child.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, signal, socket, sys, threading

    from ws4py.connection import Connection
    from ws4py.messaging import PongControlMessage, TextMessage
    from ws4py.websocket import WebSocket


    def busy_handler_answers_a_ping():
        server_sock, peer_sock = socket.socketpair()
        peer_sock.settimeout(10)
        got_pong = threading.Event()
        errors = []

        class Busy(WebSocket):
            def received_message(self, message):
                got_pong.wait(10)  # busy until the peer has its pong (or 10 s)
                self.close()

        def run():
            try:
                ws.run()
            except BaseException as exc:
                errors.append(repr(exc))

        ws = Busy(server_sock)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        peer = Connection(client=True)
        peer_sock.sendall(peer.send_message(TextMessage(b"work")) + peer.send_ping(b"alive"))
        pong = None
        while pong is None and not errors:
            try:
                data = peer_sock.recv(4096)
            except TimeoutError:
                break
            if not data:
                break
            peer.receive_data(data)
            for event in peer.events_received():
                if isinstance(event, PongControlMessage):
                    pong = bytes(event.data)
        got_pong.set()
        thread.join(10)
        peer_sock.close()
        return pong, errors


    signal.alarm(60)
    assert busy_handler_answers_a_ping() == (b"alive", []), "parent"
    pid = os.fork()
    if pid == 0:
        signal.alarm(30)  # a child's own bound (alarms are not inherited)
        try:
            result = busy_handler_answers_a_ping()
        except BaseException as exc:
            result = repr(exc)
        print("child:", result, flush=True)
        os._exit(0 if result == (b"alive", []) else 1)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_forked_child_busy_handler_still_answers_pings() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "child: (b'alive', [])" in result.stdout
