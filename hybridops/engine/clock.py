"""Time for the engine: a real clock for runs, a fake one for tests. Steps never call time.sleep."""

from __future__ import annotations

import threading
import time


class RealClock:
    """Wall and monotonic time; sleeps can be cut short by `wake()` (operator input, Ctrl-C)."""

    def __init__(self) -> None:
        self._wake = threading.Event()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when woken early."""
        if seconds <= 0:
            return False
        woke = self._wake.wait(seconds)
        self._wake.clear()
        return woke

    def wake(self) -> None:
        self._wake.set()


class FakeClock:
    """A clock that only moves when slept on: tests of budgets, retries and polls take no time."""

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    def sleep(self, seconds: float) -> bool:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.advance(seconds)
        return False

    def wake(self) -> None:
        pass
