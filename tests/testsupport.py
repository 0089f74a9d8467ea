"""Small helpers shared by the test suites (importable as `testsupport`: pytest puts tests/ on the path
because tests/conftest.py lives there)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.002, what: str = "") -> Any:
    """Poll until `predicate()` is truthy; its value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(step)


def port_free(port: int) -> bool:
    """Nothing listens there any more: a new server (SO_REUSEADDR, like the sandbox's) can take it.

    (Without SO_REUSEADDR the bind would also fail on the closed connections' TIME_WAIT entries.)
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True
