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
from typing import Protocol

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

    @property
    def jumped(self) -> float:
        """Simulated seconds skipped by sleeps (the rest of `monotonic()` was real)."""
        with self._lock:
            return self._jumped


class RemoteClock:
    """The simulated clock of a sandbox in another process, over its control path.

    Every reading asks the sandbox (a loopback GET, well under a millisecond), so time the sandbox
    itself spends (a slow answer, injected as a fault) shows on the engine's side too.
    """

    simulated = True

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self._timeout = timeout

    def _ask(self, advance: float | None = None) -> dict[str, float]:
        import urllib.request

        from hybridops.errors import ConfigError

        data = None if advance is None else json.dumps({"advance": advance}).encode()
        request = urllib.request.Request(self.url, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (loopback only)
                answer = json.loads(response.read())
            return {"now": float(answer["now"]), "monotonic": float(answer["monotonic"])}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"the sandbox's simulated clock at {self.url} does not answer ({exc})") from None

    def now(self) -> float:
        return self._ask()["now"]

    def monotonic(self) -> float:
        return self._ask()["monotonic"]

    def sleep(self, seconds: float) -> bool:
        if seconds > 0:
            self._ask(advance=seconds)
        return False

    def wake(self) -> None:
        pass


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
