"""Ctrl-C and SIGTERM reach only the main thread, so holding them back around an audit record holds them
for the whole process: a background thread (the lock's lease renewal) must not take one meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hybridops.engine.lock import Holder, Lease, Lost

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


PROGRAM = """
import os, signal, threading
from hybridops.interrupts import signals_deferred, start_background

got = []
signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
stop = threading.Event()
worker = start_background(stop.wait, "idle")
with signals_deferred():
    os.kill(os.getpid(), signal.SIGTERM)
    # no thread accepts it: it stays pending for the process until the main thread unblocks
    pending, during = signal.SIGTERM in signal.sigpending(), list(got)
after = list(got)
stop.set()
worker.join()
print(pending, during, after)
"""


def test_a_signal_sent_while_deferred_is_handled_right_after_the_block() -> None:
    # a process of its own: a test runner's threads (pytest-xdist's) would take the signal themselves;
    # that a background thread never takes one is the mask test above
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split("\n")[0] == f"True [] [{int(signal.SIGTERM)}]", out.stdout + out.stderr
