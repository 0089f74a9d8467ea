"""Reading runs back: one-line summaries for `audit list`, and the post-incident timeline.

Pure data and text: the CLI renders `Timeline` with rich or plain text; `render_markdown` and
`timeline_json` are the post-mortem forms. Every reader here tolerates missing optional fields,
since logs outlive the code that wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from hybridops.audit.log import (
    INCOMPLETE,
    LOG_KEYS,
    SUFFIX,
    LogRead,
    VerifyResult,
    parse_ts,
    read_log,
    run_status,
)
from hybridops.durations import format_duration
from hybridops.errors import AuditError
from hybridops.events import (
    Event,
    LockLost,
    LockTakenOver,
    LogRepaired,
    Prompt,
    Recorded,
    Request,
    Response,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    ShipFailed,
    StepFinished,
    StepStarted,
    StepStatus,
    event_name,
    read_records,
)
from hybridops.gantt import GanttStep, gantt
from hybridops.kinds.base import compact_value, describe_call

E = TypeVar("E", bound=Event)
TIMELINE_VERSION = 1
LIST_VERSION = 1
_RUN_ID_PARTS = re.compile(r"(\d{8}T\d{6}(?:\.\d{3})?Z)-(.+)-[0-9a-f]{4}")


# --- small helpers ------------------------------------------------------------------------------


def _dt(r: Recorded | None) -> datetime | None:
    if r is None:
        return None
    try:
        return parse_ts(r.ts)
    except ValueError:
        return None


def _dur(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(max(0.0, seconds))


def _utc_text(dt: datetime | None) -> str | None:
    return None if dt is None else f"{dt:%Y-%m-%d %H:%M:%S} UTC"


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _incident_from_run_id(run_id: str) -> str | None:
    m = _RUN_ID_PARTS.fullmatch(run_id)
    return m.group(2) if m else None


def _mode(started: RunStarted) -> str:
    parts = []
    if started.drill:
        parts.append(f"drill (scenario {started.scenario})" if started.scenario else "drill")
    if started.dry_run:
        parts.append("dry run")
    if started.read_only:
        parts.append("read-only")
    if started.clock == "simulated":
        # durations and budgets are simulated; the record times are when the records were written
        parts.append("simulated time" + (f", seed {started.seed}" if started.seed is not None else ""))
    elif started.time_scale and started.time_scale != 1:
        parts.append(f"time scale {started.time_scale:g}")
    return ", ".join(parts) or "live"


def _who(e: RunStarted | RunResumed) -> str | None:
    operator, arn = e.operator or None, e.aws_caller_arn or None
    if operator and arn and arn != operator:
        return f"{operator} ({arn})"
    return operator or arn


def _first(read: list[Recorded], cls: type[E]) -> tuple[Recorded, E] | None:
    for r in read:
        if isinstance(r.event, cls):
            return r, r.event
    return None


# --- `audit list` -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One run as `audit list` shows it."""

    run_id: str
    path: Path
    incident: str | None
    title: str | None
    operator: str | None
    caller_arn: str | None
    started: datetime | None
    finished: datetime | None
    status: str
    duration_s: float | None
    drill: bool
    dry_run: bool
    read_only: bool
    scenario: str | None
    records: int
    intact: bool
    problem: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "incident": self.incident,
            "title": self.title,
            "operator": self.operator,
            "caller_arn": self.caller_arn,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "status": self.status,
            "duration_s": self.duration_s,
            "drill": self.drill,
            "dry_run": self.dry_run,
            "read_only": self.read_only,
            "scenario": self.scenario,
            "records": self.records,
            "intact": self.intact,
            "problem": self.problem,
            "path": str(self.path),
        }


def summarize(read: LogRead) -> RunSummary:
    """The `audit list` row for one log."""
    records = read_records(read.records)
    found = _first(records, RunStarted)
    started = found[1] if found else RunStarted()
    finished = next((r for r in reversed(records) if isinstance(r.event, RunFinished)), None)
    status = run_status(read.records)
    t0 = _dt(found[0] if found else (records[0] if records else None))
    t_end = _dt(finished) if status != INCOMPLETE else _dt(records[-1] if records else None)
    run_id = read.run_id
    v = read.verify
    return RunSummary(
        run_id=run_id,
        path=read.path,
        incident=started.runbook.id or _incident_from_run_id(run_id),
        title=started.runbook.title,
        operator=started.operator or started.aws_caller_arn,
        caller_arn=started.aws_caller_arn,
        started=t0,
        finished=_dt(finished) if status != INCOMPLETE else None,
        status=status,
        duration_s=(t_end - t0).total_seconds() if t0 and t_end else None,
        drill=started.drill,
        dry_run=started.dry_run,
        read_only=started.read_only,
        scenario=started.scenario,
        records=v.records,
        intact=v.ok,
        problem=None if v.ok else f"seq {v.first_bad_seq}: {v.reason}",
    )


def list_runs(directory: Path) -> list[RunSummary]:
    """Every run in `directory`, newest first; an unreadable file is listed, not fatal."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    rows = []
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            rows.append(summarize(read_log(path)))
        except AuditError as exc:
            rows.append(
                RunSummary(
                    path.stem,
                    path,
                    _incident_from_run_id(path.stem),
                    None,
                    None,
                    None,
                    None,
                    None,
                    "unreadable",
                    None,
                    False,
                    False,
                    False,
                    None,
                    0,
                    False,
                    str(exc),
                )
            )
    # Run ids sort by time; the start record settles renamed files.
    rows.sort(key=lambda r: (r.started.isoformat() if r.started else "", r.run_id), reverse=True)
    return rows


def select_runs(
    rows: Iterable[RunSummary],
    *,
    incident: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    dry_runs: bool = False,
) -> list[RunSummary]:
    """The rows `audit list` shows, in their order: dry runs only when asked for (they changed nothing,
    and an on-call's rehearsals would bury the real runs), and an unreadable log always (it is what the
    reader most needs to see)."""
    picked = [
        r
        for r in rows
        if (dry_runs or not r.dry_run)
        and (incident is None or r.incident == incident)
        and (since is None or r.started is None or r.started >= since)
    ]
    return picked if limit is None else picked[:limit]


def list_json(directory: Path, rows: Iterable[RunSummary]) -> dict[str, Any]:
    """The versioned JSON envelope of `audit list --format json`."""
    return {"version": LIST_VERSION, "audit_dir": str(directory), "runs": [r.to_json() for r in rows]}


# --- the timeline -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: `label: detail`; `code` when detail is a command or request."""

    seq: int
    ts: str
    time: datetime | None
    step_id: str | None
    kind: str  # run | step | action | result | decision | note
    label: str
    detail: str
    code: bool = False
    highlight: bool = False  # failures, aborts, over-budget steps
    data: Mapping[str, Any] | None = None

    def text(self) -> str:
        """The entry as one line (`audit show`): a server's words in it may hold line breaks and
        control characters, which must not start a line of their own on the screen."""
        from hybridops.scrub import inert

        return inert(f"{self.label}: {self.detail}" if self.detail else self.label, single_line=True)


@dataclass(frozen=True)
class StepRow:
    """One finished (or unfinished) step against its budget."""

    step_id: str
    title: str | None
    status: str
    started: datetime | None
    duration_s: float | None
    budget_s: float | None
    over_budget: bool
    over_by_s: float | None
    mitigation: bool
    phase: str | None = None
    at_s: float | None = None  # seconds into the run at its start, on the run's clock


@dataclass(frozen=True)
class Decision:
    """A question the run asked, and who answered what."""

    time: datetime | None
    step_id: str | None
    question: str
    answer: str
    source: str | None
    by: str | None


@dataclass(frozen=True)
class Timeline:
    run_id: str
    incident: str | None
    title: str | None
    severity: str | None
    runbook_path: str | None
    runbook_sha256: str | None
    tool_version: str | None
    operators: tuple[str, ...]
    host: str | None
    mode: str
    drill: bool
    dry_run: bool
    started: datetime | None
    finished: datetime | None
    status: str
    error: str | None
    duration_s: float | None
    time_to_mitigation_s: float | None
    mitigation_step: str | None
    time_to_resolution_s: float | None
    resumes: int
    entries: tuple[Entry, ...]
    steps: tuple[StepRow, ...]
    decisions: tuple[Decision, ...]
    integrity: VerifyResult

    @property
    def over_budget(self) -> tuple[StepRow, ...]:
        return tuple(s for s in self.steps if s.over_budget)


def describe_request(e: Request, *, exact: bool = False) -> str:
    """A request as a one-line command (see `hybridops.kinds.base.describe_call`)."""
    return describe_call(e.call, exact=exact)


def _describe_response(e: Response) -> tuple[str, bool]:
    head = "ok" if e.ok else "FAILED"
    if e.status not in (None, ""):
        head += f" {e.status}"
    head += f" in {_dur(e.duration_s)}"
    summary = e.summary
    tail = e.error if not e.ok and e.error else (summary if isinstance(summary, str) and summary else None)
    if tail is None and summary not in (None, ""):
        tail = compact_value(summary)
    if tail and len(tail) > 200:
        tail = tail[:199] + "…"
    return (f"{head}: {tail}" if tail else head), not e.ok


_STEP_STATUS_HIGHLIGHT = {"failed", "aborted"}


def build_timeline(read: LogRead) -> Timeline:
    """The timeline of one run, from its records (tolerant of missing fields and foreign events)."""
    records = read_records(read.records)
    found = _first(records, RunStarted)
    started = found[1] if found else RunStarted()
    t0 = _dt(found[0] if found else (records[0] if records else None))
    dry_run = started.dry_run
    operators: list[str] = []
    # who answered prompts: the operator's name (the header carries the caller ARN)
    actor = started.operator or started.aws_caller_arn
    if who := _who(started):
        operators.append(who)
    titles: dict[str, str] = {}
    entries: list[Entry] = []
    steps: list[StepRow] = []
    open_steps: dict[str, tuple[Recorded, StepStarted]] = {}
    decisions: list[Decision] = []
    first_mitigation: tuple[datetime | None, str] | None = None
    ttm_recorded: float | None = None
    resumes = 0
    last_finished: tuple[Recorded, RunFinished] | None = None

    for raw, r in zip(read.records, records, strict=True):
        data = {k: v for k, v in raw.items() if k not in LOG_KEYS}
        event = r.event
        step_id = getattr(event, "step_id", None)

        def add(kind: str, label: str, detail: str = "", r: Recorded = r, data: dict[str, Any] = data,
                step_id: str | None = step_id, **kw: Any) -> None:
            entries.append(Entry(r.seq, r.ts, _dt(r), step_id, kind, label, detail, data=data, **kw))

        if isinstance(event, RunStarted):
            where = f" on {event.host}" if event.host else ""
            add("run", "Run started", f"operator {_who(event) or 'unknown'}{where}, {_mode(event)}")
        elif isinstance(event, RunResumed):
            resumes += 1
            who = _who(event)
            if who:
                actor = event.operator or event.aws_caller_arn
                if who not in operators:
                    operators.append(who)
            detail = f"from seq {event.from_seq}" if event.from_seq is not None else ""
            detail += f" by {who}" if who else ""
            add("run", "Run resumed", detail.strip())
        elif isinstance(event, StepStarted):
            if event.title:
                titles[event.step_id] = event.title
            open_steps[event.step_id] = (r, event)
            budget = event.budget_s
            detail = (event.title or event.step_id or "?") + (f" (budget {_dur(budget)})" if budget else "")
            add("step", "Step started", detail)
        elif isinstance(event, Request):
            label = "Would send" if dry_run else "Change" if event.mutating else "Action"
            suffix = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            add("action", label + suffix, describe_request(event), code=True)
        elif isinstance(event, Response):
            detail, failed = _describe_response(event)
            add("result", "Result", detail, highlight=failed)
        elif isinstance(event, Prompt):
            by = actor if event.source == "operator" else (event.source or None)
            question = event.question or "?"
            decisions.append(Decision(_dt(r), event.step_id, question, event.answer, event.source or None, by))
            add("decision", "Decision", f"{question} -> {event.answer}" + (f" ({by})" if by else ""))
        elif isinstance(event, StepFinished):
            row = _step_row(r, event, titles, open_steps.pop(event.step_id, None))
            steps.append(row)
            if row.mitigation and row.status == StepStatus.OK and first_mitigation is None:
                first_mitigation = (_dt(r), row.step_id)
            detail = f"{row.title or row.step_id}: {row.status}"
            if row.duration_s is not None:
                detail += f" in {_dur(row.duration_s)}"
            if row.budget_s is not None:
                detail += f" (budget {_dur(row.budget_s)})"
            if row.over_budget:
                detail += ", OVER BUDGET" + (f" by {_dur(row.over_by_s)}" if row.over_by_s else "")
            highlight = row.over_budget or row.status in _STEP_STATUS_HIGHLIGHT
            add("step", "Step finished", detail, highlight=highlight)
        elif isinstance(event, LogRepaired):
            add("note", "Log repaired", f"{event.torn_bytes} torn bytes cut" + (f" ({event.reason})" if event.reason
                                                                               else ""))
        elif isinstance(event, ShipFailed):
            add("note", "Shipping to CloudWatch Logs failed", event.error)
        elif isinstance(event, LockTakenOver):
            held = f"run {event.holder_run_id} of {event.holder_operator or 'unknown'}" + (
                f" (pid {event.holder_pid} on {event.holder_host})" if event.holder_pid else "") + (
                f", since {event.holder_since}" if event.holder_since else "")
            how = ("its process was gone" if event.stale
                   else f"taken over while it ran, confirmed by {event.confirmed or 'unknown'}")
            add("note", "Incident lock taken", f"from {held}: {how}", highlight=not event.stale)
        elif isinstance(event, LockLost):
            add("note", "Incident lock lost", event.reason, highlight=True)
        elif isinstance(event, RunFinished):
            last_finished = (r, event)
            if event.time_to_mitigation_s is not None:
                ttm_recorded = event.time_to_mitigation_s
            status = str(event.status) or "failed"
            t = _dt(r)
            detail = status + (f" after {_dur((t - t0).total_seconds())}" if t and t0 else "")
            if event.error:
                detail += f": {event.error}"
            add("run", "Run finished", detail, highlight=status != RunStatus.COMPLETED)
        else:
            add("note", event_name(event), "")

    # Steps that started and never finished (interrupted runs) are part of the story too.
    for sid, (r, begun) in open_steps.items():
        steps.append(
            StepRow(
                step_id=sid,
                title=titles.get(sid),
                status="unfinished",
                started=_dt(r),
                duration_s=None,
                budget_s=begun.budget_s,
                over_budget=False,
                over_by_s=None,
                mitigation=False,  # it never finished, so it mitigated nothing
                phase=begun.phase,
                at_s=begun.at_s,
            )
        )

    status = run_status(read.records)
    t_end = _dt(last_finished[0]) if status != INCOMPLETE and last_finished else None
    duration = (t_end - t0).total_seconds() if t_end and t0 else None
    if started.clock == "simulated" and last_finished and last_finished[1].duration_s is not None:
        duration = last_finished[1].duration_s  # the run's own (simulated) time, not the records' times
    if ttm_recorded is None and first_mitigation and first_mitigation[0] and t0:
        ttm_recorded = (first_mitigation[0] - t0).total_seconds()
    rb = started.runbook
    return Timeline(
        run_id=read.run_id,
        incident=rb.id or _incident_from_run_id(read.run_id),
        title=rb.title,
        severity=rb.severity,
        runbook_path=rb.path,
        runbook_sha256=rb.sha256,
        tool_version=started.tool_version,
        operators=tuple(operators),
        host=started.host,
        mode=_mode(started),
        drill=started.drill,
        dry_run=dry_run,
        started=t0,
        finished=t_end,
        status=status,
        error=last_finished[1].error if last_finished else None,
        duration_s=duration,
        time_to_mitigation_s=ttm_recorded,
        mitigation_step=first_mitigation[1] if first_mitigation else None,
        time_to_resolution_s=duration if status == RunStatus.COMPLETED else None,
        resumes=resumes,
        entries=tuple(entries),
        steps=tuple(steps),
        decisions=tuple(decisions),
        integrity=read.verify,
    )


def _step_row(r: Recorded, e: StepFinished, titles: Mapping[str, str],
              started: tuple[Recorded, StepStarted] | None) -> StepRow:
    begun = started[1] if started else None
    duration = e.duration_s
    budget = e.budget_s if e.budget_s is not None else (begun.budget_s if begun else None)
    over_by = duration - budget if e.over_budget and duration is not None and budget is not None else None
    return StepRow(
        step_id=e.step_id or "?",
        title=titles.get(e.step_id),
        status=str(e.status) or "?",
        started=_dt(started[0]) if started else None,
        duration_s=duration,
        budget_s=budget,
        over_budget=e.over_budget,
        over_by_s=over_by,
        mitigation=e.mitigation,
        phase=e.phase or (begun.phase if begun else None),
        at_s=begun.at_s if begun else None,
    )


def load_timeline(path: Path) -> Timeline:
    """`build_timeline(read_log(path))`; AuditError when the file holds no record at all."""
    read = read_log(path)
    if not read.records:
        why = f": {read.problems[0]}" if read.problems else ""
        raise AuditError(f"{path} holds no audit records{why}")
    return build_timeline(read)


# --- renderers ----------------------------------------------------------------------------------


def entry_time(tl: Timeline, e: Entry) -> str:
    """HH:MM:SS (UTC); with the date when the run spans more than one day."""
    if e.time is None:
        return e.ts or "?"
    multi_day = (
        tl.started is not None
        and tl.entries
        and tl.entries[-1].time is not None
        and (tl.entries[-1].time.date() != tl.started.date())
    )
    return f"{e.time:%Y-%m-%d %H:%M:%S}" if multi_day else f"{e.time:%H:%M:%S}"


def integrity_text(v: VerifyResult) -> str:
    if v.ok:
        # `intact` is claimed only once every MAC was checked with the key (`audit verify --key-env`)
        what = "intact" if v.authenticated else "chain consistent"
        return f"{what}, {v.records} records" + ("" if v.finished else " (unfinished)") + (
            "" if v.authenticated else ", not authenticated")
    return f"BROKEN at seq {v.first_bad_seq}: {v.reason}"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_entry(e: Entry) -> str:
    detail = _code(e.detail) if e.code and e.detail else e.detail
    text = f"{e.label}: {detail}" if detail else e.label
    return _cell(f"**{text}**" if e.highlight else text)


def render_markdown(tl: Timeline) -> str:
    """The post-mortem timeline in Markdown."""
    name = tl.title or tl.incident or tl.run_id
    lines = [f"# Incident timeline: {name}", ""]
    incident = tl.incident or "?"
    lines.append(f"- **Incident:** {incident}" + (f" ({tl.severity})" if tl.severity else ""))
    lines.append(f"- **Run:** `{tl.run_id}`")
    if tl.runbook_path or tl.runbook_sha256:
        rb = f"`{tl.runbook_path}`" if tl.runbook_path else "?"
        lines.append(f"- **Runbook:** {rb}" + (f" (sha256 `{tl.runbook_sha256[:12]}`)" if tl.runbook_sha256 else ""))
    lines.append(f"- **Mode:** {tl.mode}")
    who = ", ".join(tl.operators) if tl.operators else "unknown"
    lines.append(f"- **{'Operators' if len(tl.operators) > 1 else 'Operator'}:** {who}")
    if tl.host:
        lines.append(f"- **Host:** {tl.host}")
    lines.append(f"- **Started:** {_utc_text(tl.started) or '?'}")
    if tl.finished:
        lines.append(f"- **Finished:** {_utc_text(tl.finished)} ({tl.status})")
    else:
        lines.append(f"- **Finished:** not finished ({tl.status})")
    if tl.resumes:
        lines.append(f"- **Resumed:** {tl.resumes} time{'s' if tl.resumes > 1 else ''}")
    ttm = _dur(tl.time_to_mitigation_s) if tl.time_to_mitigation_s is not None else "not mitigated"
    if tl.time_to_mitigation_s is not None and tl.mitigation_step:
        ttm += f" (`{tl.mitigation_step}`)"
    lines.append(f"- **Time to mitigation:** {ttm}")
    ttr = _dur(tl.time_to_resolution_s) if tl.time_to_resolution_s is not None else f"not resolved ({tl.status})"
    lines.append(f"- **Time to resolution:** {ttr}")
    if tl.over_budget:
        over = ", ".join(f"`{s.step_id}`" + (f" (+{_dur(s.over_by_s)})" if s.over_by_s else "") for s in tl.over_budget)
        lines.append(f"- **Over budget:** {over}")
    if tl.error:
        lines.append(f"- **Error:** {tl.error}")
    lines.append(f"- **Audit log:** {integrity_text(tl.integrity)}")

    lines += ["", "## Timeline (UTC)", "", "| Time | Step | What happened |", "|---|---|---|"]
    for e in tl.entries:
        lines.append(f"| {entry_time(tl, e)} | {_cell(e.step_id or '')} | {_md_entry(e)} |")

    lines += ["", "## Decisions", ""]
    if tl.decisions:
        lines += ["| Time | Step | Question | Answer | By |", "|---|---|---|---|---|"]
        for d in tl.decisions:
            at = f"{d.time:%H:%M:%S}" if d.time else "?"
            lines.append(
                f"| {at} | {_cell(d.step_id or '')} | {_cell(d.question)} | {_cell(d.answer)} | {_cell(d.by or '')} |"
            )
    else:
        lines.append("No decisions were asked for.")

    lines += ["", "## Steps against budget", ""]
    if tl.steps:
        lines += ["| Step | Status | Duration | Budget | Over budget |", "|---|---|---|---|---|"]
        for s in tl.steps:
            over = f"**+{_dur(s.over_by_s)}**" if s.over_budget and s.over_by_s else "**yes**" if s.over_budget else ""
            mark = " (mitigation)" if s.mitigation else ""
            lines.append(
                f"| {_cell(s.step_id)}{mark} | {_cell(s.status)} | {_dur(s.duration_s)} | {_dur(s.budget_s)} | {over} |"
            )
        lines += ["", "```mermaid", *gantt(_bars(tl), title=f"{name} - steps against budget",
                                           start_wall=tl.started.timestamp() if tl.started else None), "```"]
    else:
        lines.append("No steps ran.")
    return "\n".join(lines) + "\n"


def _bars(tl: Timeline) -> list[GanttStep]:
    """Each step's start in seconds into the run: from the log's `at_s` (the run's own clock, simulated
    in a drill), else from the record's time."""
    bars = []
    for s in tl.steps:
        at = s.at_s
        if at is None:
            at = (s.started - tl.started).total_seconds() if s.started and tl.started else 0.0
        bars.append(GanttStep(s.step_id, s.phase, s.status, at, s.duration_s, s.budget_s, s.over_budget))
    return bars


def timeline_json(tl: Timeline) -> dict[str, Any]:
    """The timeline as a versioned JSON document (the same data as the Markdown)."""
    v = tl.integrity
    return {
        "version": TIMELINE_VERSION,
        "run_id": tl.run_id,
        "incident": tl.incident,
        "title": tl.title,
        "severity": tl.severity,
        "runbook": {"path": tl.runbook_path, "sha256": tl.runbook_sha256},
        "tool_version": tl.tool_version,
        "operators": list(tl.operators),
        "host": tl.host,
        "mode": tl.mode,
        "drill": tl.drill,
        "dry_run": tl.dry_run,
        "started": _iso(tl.started),
        "finished": _iso(tl.finished),
        "status": tl.status,
        "error": tl.error,
        "duration_s": tl.duration_s,
        "time_to_mitigation_s": tl.time_to_mitigation_s,
        "mitigation_step": tl.mitigation_step,
        "time_to_resolution_s": tl.time_to_resolution_s,
        "resumes": tl.resumes,
        "over_budget": [s.step_id for s in tl.over_budget],
        "integrity": {"ok": v.ok, "records": v.records, "first_bad_seq": v.first_bad_seq, "reason": v.reason},
        "entries": [
            {
                "seq": e.seq,
                "ts": e.ts,
                "step_id": e.step_id,
                "kind": e.kind,
                "label": e.label,
                "detail": e.detail,
                "highlight": e.highlight,
                "data": dict(e.data or {}),
            }
            for e in tl.entries
        ],
        "steps": [
            {
                "step_id": s.step_id,
                "title": s.title,
                "status": s.status,
                "started": _iso(s.started),
                "duration_s": s.duration_s,
                "budget_s": s.budget_s,
                "over_budget": s.over_budget,
                "over_by_s": s.over_by_s,
                "mitigation": s.mitigation,
            }
            for s in tl.steps
        ],
        "decisions": [
            {
                "ts": _iso(d.time),
                "step_id": d.step_id,
                "question": d.question,
                "answer": d.answer,
                "source": d.source,
                "by": d.by,
            }
            for d in tl.decisions
        ],
    }
