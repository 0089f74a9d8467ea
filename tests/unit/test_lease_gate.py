"""The engine's one check of the incident's lock (issue 13 §2): a run whose lease is lost, by whatever
lock (a table, a file), records `lock_lost` once and stops before its next change, or before its next
step when a renewal found out first; reads already in flight are not the point."""

from __future__ import annotations

from typing import Any

from test_engine import FakeAws, FakeHttp, MemoryLog, defaults, runbook

from hybridops.engine.clock import FakeClock
from hybridops.engine.context import RunOptions
from hybridops.engine.incident import run_incident
from hybridops.engine.lock import Holder, IncidentTakenOver, Lease, Lost
from hybridops.engine.steps.notify import NotifyTargets

STEPS = """
      - id: read
        title: Read
        budget: 1m
        http: {method: GET, path: /health}
      - id: write
        title: Write
        budget: 1m
        http: {method: POST, path: /admin/circuit-breaker/reset}
"""
BOB = Holder(incident="t", run_id="run-B", operator="arn:aws:iam::1:user/bob", pid=7, host="h2",
             since="2026-12-02T10:00:00.000Z")


class ScriptedLock:
    """A lock whose store says 'lost' from the `lost_at`-th renewal on (a take-over by bob)."""

    def __init__(self, lost_at: int) -> None:
        self.lost_at = lost_at
        self.renewals = 0

    def renew(self, lease: Lease) -> Lost | None:
        self.renewals += 1
        if self.renewals < self.lost_at:
            return None
        return Lost("t", f"incident t was taken over by {BOB.describe()}", BOB)

    def release(self, lease: Lease) -> None:
        pass


def go(lease: Lease) -> tuple[Any, MemoryLog, FakeHttp]:
    loaded = runbook(STEPS)
    log, http = MemoryLog(), FakeHttp()
    try:
        result: Any = run_incident(loaded, options=RunOptions(yes=True), variables=defaults(loaded), secrets=set(),
                                   open_audit=lambda: log, make_aws=FakeAws, make_http=lambda: http,
                                   notify_targets=NotifyTargets(None, None), aws_region="eu-central-1",
                                   clock=FakeClock(), lease=lease)
    except Exception as exc:  # the test inspects both
        result = exc
    return result, log, http


def test_a_lock_lost_before_a_change_stops_the_run_before_sending_it() -> None:
    lock = ScriptedLock(lost_at=1)
    result, log, http = go(Lease(lock, BOB))
    assert isinstance(result, IncidentTakenOver) and result.exit_code == 5
    assert [s[1] for s in http.sent] == ["/health"]  # the read went; the change did not
    lost = log.events("lock_lost")
    assert len(lost) == 1 and lost[0]["by_run_id"] == "run-B" and lost[0]["by_operator"] == BOB.operator
    assert [f["status"] for f in log.events("run_finished")] == ["aborted"]
    assert {f["step_id"]: f["status"] for f in log.events("step_finished")} == {"read": "ok", "write": "aborted"}


def test_a_loss_found_by_a_renewal_stops_the_run_before_its_next_step() -> None:
    lease = Lease(ScriptedLock(lost_at=1), BOB)
    assert lease.renew() is not None  # as the renewal thread would, before the run gets going
    result, log, http = go(lease)
    assert isinstance(result, IncidentTakenOver) and http.sent == []
    assert len(log.events("lock_lost")) == 1 and log.events("step_started") == []


def test_a_lease_still_held_lets_the_run_act() -> None:
    lock = ScriptedLock(lost_at=10**6)
    result, log, http = go(Lease(lock, BOB))
    assert not isinstance(result, Exception)
    assert [s[1] for s in http.sent] == ["/health", "/admin/circuit-breaker/reset"]
    assert lock.renewals == 1  # asked once: right before the change
