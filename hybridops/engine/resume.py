"""Rebuilding a run's state from its audit log, so an interrupted run continues where it stopped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hybridops.audit.log import run_status
from hybridops.engine.run import RunState
from hybridops.errors import ResumeRefused
from hybridops.events import (
    LogRepaired,
    Recorded,
    Request,
    Response,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFinished,
    StepStarted,
    StepStatus,
    ran_to_end,
    read_records,
)
from hybridops.runbook.model import END, Runbook
from hybridops.scrub import MASK


@dataclass(frozen=True)
class ResumePlan:
    started: RunStarted
    state: RunState
    from_step: str | None  # None: nothing left to run
    unknown_request: Request | None  # a request announced whose outcome was never recorded


def _ts(r: Recorded) -> float:
    return datetime.fromisoformat(r.ts.replace("Z", "+00:00")).timestamp()


def plan_resume(records: Sequence[Mapping[str, Any]], runbook: Runbook, variables: dict[str, Any],
                from_step: str | None = None) -> ResumePlan:
    """Where to continue, with which captures, outcomes and timings.

    The first step that did not finish is run again. A step finished with an aborting failure is run
    again too (the operator fixed the cause). `from_step` (`resume --from`): continue there instead,
    to read again values that went stale during the interruption. `variables` are the run's values,
    secrets re-resolved.
    """
    read = read_records(records)
    if not read or not isinstance(read[0].event, RunStarted):
        raise ResumeRefused("the log does not start with run_started")
    started = read[0].event
    # Records after the last run_finished (a late ship_failed) do not reopen a completed run.
    status = run_status(records)
    if ran_to_end(status):
        how = {"completed_with_failures": "completed, with failed steps", "unresolved": "ended, unresolved"}
        raise ResumeRefused(f"the run already {how.get(status, status)}; nothing to resume")

    order = runbook.step_ids()
    index = {sid: i for i, sid in enumerate(order)}
    state = RunState(variables=dict(variables))
    position: int | None = 0
    open_step: str | None = None
    pending_request: Request | None = None
    # step id -> its last mutating request, until the step finishes with an outcome. An answer does
    # not settle it: re-running a step that never finished sends the change again, so that re-send
    # needs the same confirmation whether the answer was lost or the kill came just after it; and a
    # resume stopped before confirming (aborted, interrupted) leaves the question open.
    unsettled: dict[str, Request] = {}
    # Run time spent, excluding the gaps between an interruption and a resume: from the run's own
    # clock (`at_s`, simulated for a run on a sandbox's clock) where the records carry it, else from
    # the records' times.
    active = 0.0
    segment_start = _ts(read[0])
    last_at: float | None = None
    for r in read:
        event = r.event
        at = getattr(event, "at_s", None)
        if isinstance(at, float):
            last_at = at
        if isinstance(event, RunResumed):
            segment_start = _ts(r)
        elif isinstance(event, RunFinished):
            active += _ts(r) - segment_start
            if event.duration_s is not None and last_at is not None:
                last_at = max(last_at, event.duration_s)
        elif isinstance(event, StepStarted):
            state.visits += 1
            open_step, pending_request = event.step_id, None
            if open_step in index:
                position = index[open_step]
        elif isinstance(event, Request) and not event.dry_run:
            pending_request = event
            if event.mutating:
                unsettled[event.step_id] = event
        elif isinstance(event, Response):
            pending_request = None
        elif isinstance(event, StepFinished):
            sid = event.step_id
            if event.status not in (StepStatus.INTERRUPTED, StepStatus.ABORTED):
                unsettled.pop(sid, None)
            state.captures.update(event.captures)
            state.outcomes[sid] = {"status": event.status, "error": event.error}
            if event.mitigation and state.mitigated_after_s is None:
                state.mitigated_after_s = (event.at_s if event.at_s is not None
                                           else active + (_ts(r) - segment_start))
            open_step, pending_request = None, None
            target = event.next
            if target == "abort" or event.status in (StepStatus.INTERRUPTED, StepStatus.ABORTED):
                position = index.get(sid, position)  # run it again
            elif target == END:
                position = None
            elif target:
                position = index.get(target)
            else:
                position = index[sid] + 1 if sid in index else position
    if not isinstance(read[-1].event, RunFinished):
        active += _ts(read[-1]) - segment_start  # killed: count up to the last record written
    state.elapsed_before_s = last_at if last_at is not None else active
    if position is not None and position >= len(order):
        position = None
    if open_step is not None and open_step in index:
        position = index[open_step]
    if from_step is not None:
        if from_step not in index:
            raise ResumeRefused(f"--from {from_step}: no such step in the runbook")
        position = index[from_step]
    state.position = len(order) if position is None else position
    from_step = None if position is None else order[position]
    unknown = pending_request if (open_step is not None and pending_request is not None) else None
    if from_step is not None and from_step in unsettled:
        unknown = unsettled[from_step]
    state.confirm_first = from_step if unknown is not None and unknown.mutating else None
    return ResumePlan(started=started, state=state, from_step=from_step, unknown_request=unknown)


@dataclass(frozen=True)
class Resumable:
    """An interrupted run's log, read and checked: it may be continued."""

    path: Path
    records: list[dict[str, Any]]
    started: RunStarted
    runbook_path: Path
    runbook_sha256: str  # of the runbook file now (--force may accept a changed one)

    def variables(self, configured: Mapping[str, Any]) -> dict[str, Any]:
        """The run goes on with its own values; its secrets (masked in the log) come from `configured`."""
        return {**configured, **{k: v for k, v in self.started.variables.items() if v != MASK}}


def find_resumable(path: Path, *, force: bool, finished_too: bool = False) -> Resumable:
    """The run logged at `path`, if it can be continued (`finished_too`: or undone): ResumeRefused,
    one line, if not."""
    import hashlib

    from hybridops.audit.log import read_log

    read = read_log(path)
    records = read.records
    problem = read.problems[0] if read.problems else None
    if problem is not None and not (read.torn is not None and problem.seq == read.torn.seq):
        # Only a torn last line (a kill mid-write) is repaired; a log cut or rewritten since its seal
        # (the audit dir's ledger says so) or broken otherwise is evidence, not a run to continue.
        raise ResumeRefused(f"{path.name} is broken at seq {problem.seq}: {problem.reason}")
    first = read_records(records[:1])
    if not first or not isinstance(first[0].event, RunStarted):
        raise ResumeRefused(f"{path}: not a run's audit log (no run_started)")
    started = first[0].event
    if started.drill:
        raise ResumeRefused("a drill's sandbox ended with it; start the drill again with `hybridops rehearse`")
    if finished_too and started.undo_of:
        raise ResumeRefused(f"run {path.stem} is itself the undo of run {started.undo_of}")
    runbook_path = Path(started.runbook.path or "")
    if not runbook_path.is_file():
        raise ResumeRefused(f"the runbook {runbook_path} of this run is gone")
    digest = hashlib.sha256(runbook_path.read_bytes()).hexdigest()
    if digest != started.runbook.sha256 and not force:
        raise ResumeRefused(f"the runbook {runbook_path} changed since the run started (SHA-256 differs); "
                            "resume with --force to use the new version")
    return Resumable(path, records, started, runbook_path, digest)


@dataclass(frozen=True)
class Reopened:
    """A log reopened to continue its chain, and how the run goes on."""

    log: Any  # AuditLog
    records: list[dict[str, Any]]
    repaired: LogRepaired | None  # a torn last line was cut (and the repair recorded)
    plan: ResumePlan
    resumed: RunResumed  # the record the continued run starts with


def handover_changes(started: RunStarted, *, aws_caller_arn: str | None, aws_region: str | None,
                     admin_url: str | None) -> tuple[str, ...]:
    """What the run would now reach that differs from where it started: the AWS account (of the STS
    caller), the region, the admin API. Unknowns on either side are not differences."""

    def account(arn: str | None) -> str | None:
        parts = (arn or "").split(":")
        return parts[4] if len(parts) > 5 and parts[4] else None

    pairs = (("AWS account", account(started.aws_caller_arn), account(aws_caller_arn)),
             ("AWS region", started.aws_region, aws_region),
             ("admin API", started.admin_url, admin_url))
    return tuple(f"{what}: {was} → {now}" for what, was, now in pairs if was and now and was != now)


@dataclass(frozen=True)
class Handover:
    """Who continues the run, and what they accepted as changed since it started."""

    operator: str | None = None
    aws_caller_arn: str | None = None
    changes: tuple[str, ...] = ()
    changes_confirmed: str | None = None  # "operator" or "--yes"
    from_step: str | None = None  # --from


def check_key(records: Sequence[Mapping[str, Any]], key: Any) -> None:
    """One log, one key: a run whose records carry MACs goes on only with the key they were made with
    (else its later records could not be verified with it). ResumeRefused if the key is not that one."""
    from hybridops.audit.log import KEY_ID, MAC

    keyed = [r.get(KEY_ID) for r in records if r.get("event") in ("run_started", "run_resumed") and r.get(KEY_ID)]
    if not keyed and not any(MAC in r for r in records):
        return
    named = keyed[-1] if keyed else None
    if key is None or (named is not None and key.key_id != named):
        which = f"key {named!r}" if named else "a key"
        have = "no audit key is configured" if key is None else f"the configured one is {key.key_id!r}"
        raise ResumeRefused(f"the run's audit log is authenticated with {which} and {have}: configure that key "
                            "(a profile's audit.hmac_key, or $HYBRIDOPS_AUDIT_KEY) to continue it")


def reopen(resumable: Resumable, runbook: Runbook, variables: dict[str, Any], *, secrets: set[str],
           argv: Sequence[str], handover: Handover | None = None, key: Any = None, sealer: Any = None) -> Reopened:
    """Plan the rest of the run (refusing before the file is touched), then reopen its log, cut a torn
    tail and record the repair, and plan again from what is now on disk. `key`: the AuditKey the
    log's MACs are made with (None: not keyed); `sealer`: the KmsSealer of its seals."""
    from hybridops.audit.log import AuditLog

    handover = handover or Handover()
    plan_resume(resumable.records, runbook, variables, handover.from_step)
    check_key(resumable.records, key)
    log, records, torn = AuditLog.open_for_append(resumable.path, secrets=secrets, key=key, sealer=sealer)
    repaired = None
    try:
        if torn is not None:
            repaired = LogRepaired(torn_bytes=torn.torn_bytes, reason=torn.reason)
            log.write_event(repaired)
        plan = plan_resume(records, runbook, variables, handover.from_step)
    except BaseException:
        log.close()
        raise
    resumed = RunResumed(from_step=plan.from_step, from_seq=log.next_seq, argv=tuple(argv),
                         runbook_sha256=resumable.runbook_sha256, unknown_request=plan.unknown_request is not None,
                         operator=handover.operator, aws_caller_arn=handover.aws_caller_arn,
                         changes=handover.changes, changes_confirmed=handover.changes_confirmed)
    return Reopened(log, records, repaired, plan, resumed)
