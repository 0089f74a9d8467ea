"""Threaded HTTP serving that stops without leaving a thread or a socket behind.

socketserver's threading servers leave keep-alive connections (botocore and httpx keep them open)
blocked in a daemon thread after shutdown(); this mixin remembers every connection so `close()`
can shut each socket down and join its thread.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # What the mixin is mixed into (AdminServer, AwsServer): a socketserver server, whose
    # serve_forever, shutdown and handle_error it calls.
    _Server = socketserver.BaseServer
else:
    _Server = object


class TrackingThreadingMixIn(socketserver.ThreadingMixIn, _Server):
    """One thread per connection, every one of them closed and joined by `close()`."""

    daemon_threads = True
    block_on_close = False
    thread_name = "sandbox-http"

    def _track_init(self) -> None:
        self._conn_lock = threading.Lock()
        self._conns: dict[threading.Thread, Any] = {}
        self._serve_thread: threading.Thread | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(target=self._serve_one, args=(request, client_address),
                             name=f"{self.thread_name}-conn", daemon=True)
        with self._conn_lock:
            self._conns[t] = request
        t.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (or a stop that closed its socket) is not worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def start_thread(self) -> None:
        """Serve in a background thread (poll every 50 ms so stop is quick)."""
        self._serve_thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                              name=self.thread_name, daemon=True)
        self._serve_thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every open connection, join every thread, free the port."""
        if self._serve_thread is not None:
            self.shutdown()
            self._serve_thread.join(timeout)
        with self._conn_lock:
            conns = list(self._conns.items())
        for _, sock in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        for t, _ in conns:
            t.join(timeout)
        self.server_close()
