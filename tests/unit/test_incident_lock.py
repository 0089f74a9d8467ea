"""The incident lock on one machine (hybridops.engine.lock.FileLock): held by flock, its holder named,
a dead holder's lock taken as stale, a live one only taken over on purpose."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hybridops.engine.lock import FileLock, Holder, LockHeld, new_holder

HOLD = """
import sys
from hybridops.engine.lock import FileLock, new_holder
lease = FileLock(sys.argv[1], "bedrock-failure").acquire(new_holder("bedrock-failure", "run-A", "alice@h"))
print("held", flush=True)
sys.stdin.readline()  # hold it until told (or killed)
lease.release()
print("released", flush=True)
"""


def holder_process(directory: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"  # an event, not a sleep
    return proc


def test_a_second_run_is_told_who_holds_the_incident_and_since_when(tmp_path: Path) -> None:
    proc = holder_process(tmp_path)
    try:
        with pytest.raises(LockHeld) as held:
            FileLock(tmp_path, "bedrock-failure").acquire(new_holder("bedrock-failure", "run-B", "bob@h"))
        holder = held.value.holder
        assert holder is not None
        assert (holder.run_id, holder.operator, holder.pid) == ("run-A", "alice@h", proc.pid)
        message = str(held.value)
        assert message.startswith(f"incident bedrock-failure is being run by alice@h (pid {proc.pid} on ")
        assert f"run run-A) since {holder.since}" in message and "--take-over" in message
        assert "\n" not in message
        # another incident is not held
        FileLock(tmp_path, "api-outage").acquire(new_holder("api-outage", "run-C", "bob@h")).release()
    finally:
        proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    # released at the end of the run: the next one takes it without a word
    lease = FileLock(tmp_path, "bedrock-failure").acquire(new_holder("bedrock-failure", "run-B", "bob@h"))
    assert (lease.taken_over, lease.stale) == (None, None)
    lease.release()


def test_a_sigkilled_holder_leaves_a_stale_lock_that_is_taken(tmp_path: Path) -> None:
    proc = holder_process(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    lock = FileLock(tmp_path, "bedrock-failure")
    assert lock.holder() is not None and lock.holder().run_id == "run-A"  # type: ignore[union-attr]
    lease = lock.acquire(new_holder("bedrock-failure", "run-B", "bob@h"))
    assert lease.taken_over is None and lease.stale is not None and lease.stale.pid == proc.pid
    assert json.loads(lock.path.read_text())["run_id"] == "run-B"
    lease.release()
    assert lock.holder() is None


def test_take_over_of_a_live_holder_is_explicit_and_visible_to_a_third_run(tmp_path: Path) -> None:
    proc = holder_process(tmp_path)
    try:
        lock = FileLock(tmp_path, "bedrock-failure")
        lease = lock.acquire(new_holder("bedrock-failure", "run-B", "bob@h"), take_over=True)
        assert lease.taken_over is not None and lease.taken_over.run_id == "run-A"
        assert lease.holder.took_over_from == "run-A"
        with pytest.raises(LockHeld) as third:
            lock.acquire(new_holder("bedrock-failure", "run-C", "carol@h"))
        assert third.value.holder is not None and third.value.holder.run_id == "run-B"
        lease.release()
        # the run that took over ended: the first (still live) is named again
        with pytest.raises(LockHeld) as fourth:
            lock.acquire(new_holder("bedrock-failure", "run-D", "dave@h"))
        assert fourth.value.holder is not None and fourth.value.holder.run_id == "run-A"
    finally:
        proc.communicate("\n", timeout=30)


def test_the_same_process_re_takes_its_own_run(tmp_path: Path) -> None:
    lock = FileLock(tmp_path, "x")
    lock.acquire(new_holder("x", "run-A", "alice@h")).release()
    # a holder file left by a dead process of the same run (a resumed run's killed first process)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = Holder(incident="x", run_id="run-A", operator="alice@h", pid=int(dead.stdout), host=os.uname().nodename,
                  since="2026-12-01T00:00:00.000Z")
    lock.path.write_text(json.dumps(left.as_dict()))
    lease = lock.acquire(new_holder("x", "run-A", "alice@h"))
    assert lease.stale is not None and lease.stale.run_id == "run-A"
    lease.release()


@pytest.mark.parametrize(("audit_mode", "dir_mode", "file_mode"), [(0o700, 0o700, 0o600), (0o770, 0o770, 0o660)])
def test_locks_are_as_private_or_shared_as_the_audit_dir(tmp_path: Path, audit_mode: int, dir_mode: int,
                                                          file_mode: int) -> None:
    import stat

    audit = tmp_path / "audit"
    audit.mkdir()
    os.chmod(audit, audit_mode)
    lock = FileLock(audit, "x")
    lock.acquire(new_holder("x", "run-A", "alice@h")).release()
    assert stat.S_IMODE(lock.directory.stat().st_mode) == dir_mode
    assert stat.S_IMODE(lock.path.stat().st_mode) == file_mode


def test_the_run_taken_over_notices_through_its_lease_even_after_the_taker_ended(tmp_path: Path) -> None:
    from hybridops.engine.lock import IncidentTakenOver

    lock = FileLock(tmp_path, "x")
    first = lock.acquire(new_holder("x", "run-A", "alice@h"))
    assert first.renew() is None  # nobody else wrote the file
    taker = lock.acquire(new_holder("x", "run-B", "bob@h"), take_over=True)
    assert taker.taken_over is not None and taker.taken_over.run_id == "run-A"
    taker.release()  # the file names the first run again (it still has the flock), with whom it lost to
    with pytest.raises(IncidentTakenOver) as stopped:
        first.check()
    assert stopped.value.lost.by is not None and stopped.value.lost.by.run_id == "run-B"
    assert "taken over by bob@h" in str(stopped.value)
    first.release()
    assert lock.holder() is None
