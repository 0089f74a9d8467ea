"""Where Ctrl-C and SIGTERM land: between audit records, and only in the main thread.

The kernel hands a signal sent to the process to any thread that does not block it. Python runs the
handler in the main thread either way, so a signal a background thread (the lock's lease renewal,
CloudWatch shipping) took while the main thread held signals back around a record would still stop
that record half-counted. Background threads therefore block both signals for their whole life.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM in this thread until the block ends; a signal sent meanwhile is delivered
    right after."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start_background(target: Callable[[], None], name: str) -> threading.Thread:
    """A started daemon thread that never receives SIGINT or SIGTERM (a thread inherits the signal mask
    of the thread that creates it, so it is blocked from its first instruction)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    with signals_deferred():
        thread.start()
    return thread
