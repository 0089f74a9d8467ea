"""Time for the engine and the sandbox's world.

- `RealClock`: wall and monotonic time, for runs against real systems.
- `SimClock`: one simulated clock shared by the engine and the world in a drill. A sleep jumps
  forward at once; what really takes time (the tool's processing, a request's latency, a person at a
  prompt) passes on it too, once and unscaled. So a drill's outcome depends on the runbook, the
  scenario, the answers and a seed, never on how fast or loaded the machine is.
- `RemoteClock`: the `SimClock` of a sandbox in another process, read and advanced over its
  `/_sandbox/clock` control path (`hybridops sandbox --simulated-time`).
- `FakeClock`: only moves when slept on; for unit tests.

Steps never call time.sleep: every wait goes through the context's clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

# The control path of a sandbox's simulated clock, relative to its admin URL, and the variable that
# a sandbox on simulated time exports so that `hybridops incident` takes its clock from there.
CLOCK_PATH = "/_sandbox/clock"
SIMULATED_CLOCK_ENV = "HYBRIDOPS_SIMULATED_CLOCK"


class Clock(Protocol):
    simulated: bool

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> bool: ...

    def wake(self) -> None: ...

    def sync(self) -> None:
        """Catch up with time that passed elsewhere (a remote sandbox's slow answer); after a request."""
        ...


class RealClock:
    """Wall and monotonic time; sleeps can be cut short by `wake()` (operator input, Ctrl-C)."""

    simulated = False

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

    def sync(self) -> None:
        pass


class SimClock:
    """Simulated seconds: the real seconds elapsed since start plus every jump made by a sleep.

    Thread-safe: the engine (main thread) sleeps on it while the sandbox's server threads read it.
    `now()` starts at the real wall time, so timestamps look like today's.
    """

    simulated = True

    def __init__(self, *, start_wall: float | None = None, real: Callable[[], float] = time.monotonic) -> None:
        self._real = real
        self._r0 = real()
        self._wall0 = time.time() if start_wall is None else start_wall
        self._jumped = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._real() - self._r0 + self._jumped

    def now(self) -> float:
        return self._wall0 + self.monotonic()

    def advance(self, seconds: float) -> float:
        """Jump `seconds` forward; the new simulated now."""
        if seconds > 0:
            with self._lock:
                self._jumped += seconds
        return self.monotonic()

    def sleep(self, seconds: float) -> bool:
        self.advance(seconds)
        return False

    def wake(self) -> None:
        pass

    def sync(self) -> None:
        pass

    @property
    def jumped(self) -> float:
        """Simulated seconds skipped by sleeps (the rest of `monotonic()` was real)."""
        with self._lock:
            return self._jumped


class RemoteClock:
    """The simulated clock of a sandbox in another process, over its control path.

    Between two exchanges with the sandbox its time passes as real time does, so readings are
    computed here from the last exchange: a jump (`sleep`) and `sync()` (after each request, to see
    time the sandbox spent itself, such as a slow answer injected as a fault) ask the sandbox.
    """

    simulated = True

    def __init__(self, url: str, timeout: float = 10.0, real: Callable[[], float] = time.monotonic) -> None:
        from urllib.parse import urlsplit

        self.url = url
        parts = urlsplit(url)
        self._host, self._port, self._path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self._timeout = timeout
        self._real = real
        self._conn: Any = None
        self._lock = threading.Lock()  # the live display reads the clock from its own thread
        self._base: tuple[float, float, float] | None = None  # (remote now, remote monotonic, local real)

    def _ask(self, advance: float | None = None) -> None:
        import http.client

        from hybridops.errors import ConfigError

        body = None if advance is None else json.dumps({"advance": advance})
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed: once more on a new one
                try:
                    if self._conn is None:
                        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
                    self._conn.request("GET" if body is None else "POST", self._path, body=body,
                                       headers={"Content-Type": "application/json"})
                    answer = json.loads(self._conn.getresponse().read())
                    self._base = (float(answer["now"]), float(answer["monotonic"]), self._real())
                    return
                except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt == 2 or advance is not None:  # a jump is never sent twice
                        raise ConfigError(f"the sandbox's simulated clock at {self.url} does not answer "
                                          f"({exc})") from None

    def _reading(self) -> tuple[float, float]:
        if self._base is None:
            self._ask()
        assert self._base is not None
        now, mono, at = self._base
        elapsed = self._real() - at
        return now + elapsed, mono + elapsed

    def now(self) -> float:
        return self._reading()[0]

    def monotonic(self) -> float:
        return self._reading()[1]

    def sleep(self, seconds: float) -> bool:
        if seconds > 0:
            self._ask(advance=seconds)
        return False

    def wake(self) -> None:
        pass

    def sync(self) -> None:
        self._ask()


class FakeClock:
    """A clock that only moves when slept on: tests of budgets, retries and polls take no time."""

    simulated = False

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

    def sync(self) -> None:
        pass
