"""Rebuilding a run's state from its audit log, so an interrupted run continues where it stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hybridops.audit.log import run_status
from hybridops.engine.run import RunState
from hybridops.errors import ResumeRefused
from hybridops.runbook.model import END, Runbook


@dataclass(frozen=True)
class ResumePlan:
    started: dict[str, Any]  # the run_started record
    state: RunState
    from_step: str | None  # None: nothing left to run
    unknown_request: dict[str, Any] | None  # a request announced whose outcome was never recorded


def _ts(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00")).timestamp()


def plan_resume(records: list[dict[str, Any]], runbook: Runbook, variables: dict[str, Any]) -> ResumePlan:
    """Where to continue, with which captures, outcomes and timings.

    The first step that did not finish is run again. A step finished with an aborting failure is run
    again too (the operator fixed the cause). `variables` are the run's values, secrets re-resolved.
    """
    if not records or records[0].get("event") != "run_started":
        raise ResumeRefused("the log does not start with run_started")
    started = records[0]
    # Records after the last run_finished (a late ship_failed) do not reopen a completed run.
    if run_status(records) == "completed":
        raise ResumeRefused("the run already completed; nothing to resume")

    order = runbook.step_ids()
    index = {sid: i for i, sid in enumerate(order)}
    state = RunState(variables=dict(variables))
    position: int | None = 0
    open_step: str | None = None
    pending_request: dict[str, Any] | None = None
    # step id -> its last mutating request, until the step finishes with an outcome. An answer does
    # not settle it: re-running a step that never finished sends the change again, so that re-send
    # needs the same confirmation whether the answer was lost or the kill came just after it; and a
    # resume stopped before confirming (aborted, interrupted) leaves the question open.
    unsettled: dict[str, dict[str, Any]] = {}
    t0 = _ts(started)
    active = 0.0  # run time spent, excluding the gaps between an interruption and a resume
    segment_start = t0
    for r in records:
        event = r.get("event")
        if event == "run_resumed":
            segment_start = _ts(r)
        elif event == "run_finished":
            active += _ts(r) - segment_start
        elif event == "step_started":
            state.visits += 1
            open_step, pending_request = r.get("step_id"), None
            if open_step in index:
                position = index[open_step]
        elif event == "request" and not r.get("dry_run"):
            pending_request = r
            if r.get("mutating"):
                unsettled[r.get("step_id")] = r
        elif event == "response":
            pending_request = None
        elif event == "step_finished":
            sid = r.get("step_id")
            if r.get("status") not in ("interrupted", "aborted"):
                unsettled.pop(sid, None)
            state.captures.update(r.get("captures") or {})
            state.outcomes[sid] = {"status": r.get("status"), "error": r.get("error")}
            if r.get("mitigation") and state.mitigated_after_s is None:
                state.mitigated_after_s = active + (_ts(r) - segment_start)
            open_step, pending_request = None, None
            target = r.get("next")
            if target == "abort" or r.get("status") in ("interrupted", "aborted"):
                position = index.get(sid, position)  # run it again
            elif target == END:
                position = None
            elif target:
                position = index.get(target)
            else:
                position = index[sid] + 1 if sid in index else position
    if records[-1].get("event") != "run_finished":
        active += _ts(records[-1]) - segment_start  # killed: count up to the last record written
    state.elapsed_before_s = active
    if position is not None and position >= len(order):
        position = None
    if open_step is not None and open_step in index:
        position = index[open_step]
    state.position = len(order) if position is None else position
    from_step = None if position is None else order[position]
    unknown = pending_request if (open_step is not None and pending_request is not None) else None
    if from_step is not None and from_step in unsettled:
        unknown = unsettled[from_step]
    state.confirm_first = from_step if unknown is not None and unknown.get("mutating") else None
    return ResumePlan(started=started, state=state, from_step=from_step, unknown_request=unknown)
