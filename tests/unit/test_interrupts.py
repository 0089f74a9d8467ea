"""Ctrl-C and SIGTERM reach only the main thread, so holding them back around an audit record holds them
for the whole process: a background thread (the lock's lease renewal) must not take one meanwhile."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import pytest

from hybridops.engine.lock import Holder, Lease, Lost
from hybridops.interrupts import signals_deferred, start_background

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread masks from /proc")


def blocked_signals(thread: threading.Thread) -> set[int]:
    """The signals `thread` blocks, as the kernel reports them."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    mask = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


class HeldLock:
    def renew(self, lease: Lease) -> Lost | None:
        return None

    def release(self, lease: Lease) -> None:
        pass


def test_the_lease_renewal_thread_never_takes_an_interrupt() -> None:
    holder = Holder(incident="t", run_id="r", operator="me", pid=os.getpid(), host="h", since="2026-12-02T10:00:00Z")
    lease = Lease(HeldLock(), holder, period=3600.0)
    lease.start()
    try:
        assert lease._thread is not None
        assert {signal.SIGINT, signal.SIGTERM} <= blocked_signals(lease._thread)
    finally:
        lease.release()
    assert {signal.SIGINT, signal.SIGTERM}.isdisjoint(blocked_signals(threading.main_thread()))


def test_a_signal_sent_while_deferred_waits_for_the_main_thread() -> None:
    got: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    stop = threading.Event()
    worker = start_background(lambda: stop.wait(), "idle")
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            # no thread accepts it: it stays pending for the process until the main thread unblocks
            assert signal.SIGTERM in signal.sigpending()
            assert got == []
        assert got == [signal.SIGTERM]
    finally:
        stop.set()
        worker.join()
        signal.signal(signal.SIGTERM, previous)
