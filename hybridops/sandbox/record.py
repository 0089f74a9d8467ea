"""The sandbox's log of every call it received, for `Sandbox.requests()` and `GET /_sandbox/requests`."""

from __future__ import annotations

import copy
import threading
from typing import Any


class Recorder:
    """A thread-safe, append-only list of call records (plain JSON-able dicts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._calls.append(record)
        return record

    def update(self, record: dict[str, Any], **fields: Any) -> None:
        """Fill in what is known only after answering (the status), under the lock readers take."""
        with self._lock:
            record.update(fields)

    def all(self) -> list[dict[str, Any]]:
        """A copy of every record so far, oldest first (callers may keep or change it freely)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
