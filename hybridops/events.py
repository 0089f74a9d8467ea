"""The record of a run: every event the engine emits, as one frozen dataclass each.

This module is the only code that turns events into dicts (`to_record`) and back (`from_record`).
Everything else (the audit log, resume, the run's status, the timeline, the live display, the drill
report, `--output json`) works on these types. Standard library only, so that reading a log costs
nothing at start-up.

- Audited events (`AUDITED = True`) are written to the audit log before the action they announce.
- Display events (`BudgetWarning`, `PollTick`, `WaitTick`, `ConfirmRequest`) go to the screen only.
- Records carry `v`, the format version; `hybridops schema --events` prints the JSON Schema of every
  event, generated from these classes. Reading is tolerant: a record of an unknown event becomes an
  `UnknownEvent`, and a missing field gets its default, so logs of earlier versions still read.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

FORMAT_VERSION = 1
ENVELOPE = ("seq", "ts", "run_id", "event", "prev")  # set by the audit log around every record
# On each record of a resumed run's later sessions: the operator who continued it (a shift hand-over).
BY = "by"


class StepStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"
    DECLINED = "declined"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"


class RunStatus(enum.StrEnum):
    """How a run ended. The first three ran the runbook to its end; see `ran_to_end`."""

    COMPLETED = "completed"  # every step that ran did what it should
    COMPLETED_WITH_FAILURES = "completed_with_failures"  # it went on past failed steps (on_failure: continue)
    UNRESOLVED = "unresolved"  # the runbook ended on a roll-back or escalation path (a step's `outcome`)
    FAILED = "failed"  # a step failed and stopped the run
    ABORTED = "aborted"  # the operator stopped it
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM: it can be resumed

    @property
    def ran_to_end(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_FAILURES, RunStatus.UNRESOLVED)


def ran_to_end(status: str) -> bool:
    """Whether a run's status (as written, perhaps by another version) says it got to its end."""
    return status in {s.value for s in RunStatus if s.ran_to_end}


# --- typed step results -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Result:
    """What a step produced, for the log and the screen. `TYPE` names it in records."""

    TYPE: ClassVar[str] = ""


@dataclass(frozen=True, kw_only=True)
class Answered(Result):
    """A confirm's or a choice's answer."""

    TYPE: ClassVar[str] = "answer"
    answer: str


@dataclass(frozen=True, kw_only=True)
class Checklist(Result):
    """A manual step's checklist, as the operator (or a flag) ticked it."""

    TYPE: ClassVar[str] = "checklist"
    done: tuple[str, ...] = ()
    not_done: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Waited(Result):
    TYPE: ClassVar[str] = "waited"
    waited_s: float


@dataclass(frozen=True, kw_only=True)
class WouldWait(Result):
    TYPE: ClassVar[str] = "would_wait"
    wait_s: float


@dataclass(frozen=True, kw_only=True)
class Checked(Result):
    """A check's condition and what it came to (None: unknown in a dry run)."""

    TYPE: ClassVar[str] = "check"
    condition: str
    value: bool | None = None
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class ErrorCount:
    type: str
    count: int


@dataclass(frozen=True, kw_only=True)
class ErrorTable(Result):
    """log_errors: errors by type, most frequent first."""

    TYPE: ClassVar[str] = "errors_by_type"
    total: int = 0
    top: str | None = None
    top_share: float = 0.0
    by_type: tuple[ErrorCount, ...] = ()


@dataclass(frozen=True, kw_only=True)
class JsonGroups(Result):
    """log_json: records counted by their group, each row `{field: value, ..., count, share}`."""

    TYPE: ClassVar[str] = "json_groups"
    total: int = 0
    skipped: int = 0  # messages that held no JSON object
    rows: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Polled(Result):
    TYPE: ClassVar[str] = "polled"
    attempts: int
    latest: Any = None


@dataclass(frozen=True, kw_only=True)
class Answer(Result):
    """An AWS or admin API call's answer, cut to a readable size."""

    TYPE: ClassVar[str] = "response"
    summary: Any = None


@dataclass(frozen=True, kw_only=True)
class Notified(Result):
    TYPE: ClassVar[str] = "notified"
    status: int | str | None = None


@dataclass(frozen=True, kw_only=True)
class OtherResult(Result):
    """A result this version does not know (a record of an earlier or later version)."""

    TYPE: ClassVar[str] = "other"
    data: Any = None


# --- requests (audited, and shown before a mutation) --------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Call:
    """A request as shown and audited: an AWS call, an admin API request, or a notification."""

    target: str  # aws | http | slack | pagerduty
    service: str | None = None
    operation: str | None = None
    region: str | None = None
    params: dict[str, Any] | None = None
    method: str | None = None
    url: str | None = None
    path: str | None = None
    body: Any = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class WouldSend(Result):
    """A mutating request a `--read-only` run (or a notification it holds back) did not send."""

    TYPE: ClassVar[str] = "would_send"
    request: Call


RESULTS: dict[str, type[Result]] = {c.TYPE: c for c in (Answered, Checklist, Waited, WouldWait, Checked,
                                                         ErrorTable, JsonGroups, Polled, Answer, Notified,
                                                         WouldSend, OtherResult)}


# --- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    NAME: ClassVar[str] = ""
    AUDITED: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class RunbookInfo:
    id: str | None = None
    title: str | None = None
    severity: str | None = None
    response_time: str | None = None
    impact: str | None = None
    symptoms: tuple[str, ...] = ()
    path: str | None = None
    sha256: str | None = None
    version: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    NAME: ClassVar[str] = "run_started"
    runbook: RunbookInfo = field(default_factory=RunbookInfo)
    tool_version: str | None = None
    operator: str | None = None
    aws_caller_arn: str | None = None
    host: str | None = None
    argv: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)
    admin_url: str | None = None
    aws_region: str | None = None
    dry_run: bool = False
    read_only: bool = False
    yes: bool = False
    drill: bool = False
    scenario: str | None = None
    time_scale: float = 1.0
    clock: str = "wall"  # wall | simulated
    seed: int | None = None
    answers: dict[str, str] = field(default_factory=dict)
    undo_of: str | None = None  # this run undoes that run's changes
    no_notify: bool = False  # --no-notify: notifications skipped on purpose
    start_at: str | None = None  # --start-at
    skip: tuple[str, ...] = ()  # --skip
    step_by_step: bool = False  # --step


@dataclass(frozen=True, kw_only=True)
class RunResumed(Event):
    NAME: ClassVar[str] = "run_resumed"
    from_step: str | None = None
    from_seq: int | None = None
    argv: tuple[str, ...] = ()
    runbook_sha256: str | None = None
    unknown_request: bool = False
    operator: str | None = None  # who continued the run (a shift hand-over)
    aws_caller_arn: str | None = None
    changes: tuple[str, ...] = ()  # what differs from the run's start: AWS account, region, admin URL
    changes_confirmed: str | None = None  # by whom they were accepted: "operator" or "--yes"


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    NAME: ClassVar[str] = "step_started"
    step_id: str
    phase: str | None = None
    title: str | None = None
    kind: str | None = None
    budget_s: float | None = None
    budget_world_s: float | None = None  # the runbook's own budget, before any --time-scale
    mutating: bool = False
    at_s: float | None = None  # seconds into the run on its clock


@dataclass(frozen=True, kw_only=True)
class Request(Event):
    NAME: ClassVar[str] = "request"
    step_id: str
    call: Call
    attempt: int = 1
    mutating: bool = False
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True)
class Response(Event):
    NAME: ClassVar[str] = "response"
    step_id: str
    ok: bool
    status: int | str | None = None
    summary: Any = None
    error: str | None = None
    duration_s: float = 0.0
    unknown_outcome: bool | None = None  # on failures: the request may have been applied


@dataclass(frozen=True, kw_only=True)
class Prompt(Event):
    NAME: ClassVar[str] = "prompt"
    step_id: str | None = None
    question: str = ""
    answer: str = ""
    source: str = ""  # operator | --yes | --answer | default | non-interactive | dry-run


@dataclass(frozen=True, kw_only=True)
class StepFinished(Event):
    NAME: ClassVar[str] = "step_finished"
    step_id: str
    status: StepStatus
    phase: str | None = None
    title: str | None = None
    at_s: float | None = None
    duration_s: float | None = None
    budget_s: float | None = None
    budget_world_s: float | None = None
    over_budget: bool = False
    mitigation: bool = False
    mutating: bool = False
    captures: dict[str, Any] = field(default_factory=dict)
    result: Result | None = None
    error: str | None = None
    reason: str | None = None
    next: str | None = None  # a step id, `end`, `abort`, or None: the next step in order


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    NAME: ClassVar[str] = "run_finished"
    status: RunStatus
    duration_s: float | None = None
    time_to_mitigation_s: float | None = None
    error: str | None = None
    steps_run: int | None = None


@dataclass(frozen=True, kw_only=True)
class LogRepaired(Event):
    NAME: ClassVar[str] = "log_repaired"
    torn_bytes: int = 0
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipFailed(Event):
    NAME: ClassVar[str] = "ship_failed"
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class LockTakenOver(Event):
    """This run took the incident's lock from another run: a live one (confirmed by the operator or
    --take-over), or a stale one whose process was gone (killed, crashed)."""

    NAME: ClassVar[str] = "lock_taken_over"
    holder_run_id: str
    holder_operator: str | None = None
    holder_pid: int | None = None
    holder_host: str | None = None
    holder_since: str | None = None
    stale: bool = False
    confirmed: str | None = None  # "operator" (at the terminal) or "--take-over"; None for a stale lock


@dataclass(frozen=True, kw_only=True)
class LockLost(Event):
    """This run lost the incident's lock (another run took it over, or it was released): noticed at a
    renewal of its lease or right before a change; the run stops before its next change."""

    NAME: ClassVar[str] = "lock_lost"
    reason: str
    by_run_id: str | None = None
    by_operator: str | None = None
    by_pid: int | None = None
    by_host: str | None = None
    by_since: str | None = None


# display only


@dataclass(frozen=True, kw_only=True)
class BudgetWarning(Event):
    NAME: ClassVar[str] = "budget_warning"
    AUDITED: ClassVar[bool] = False
    step_id: str
    elapsed_s: float
    budget_s: float
    over: bool = False  # the first look came after the budget's end


@dataclass(frozen=True, kw_only=True)
class PollTick(Event):
    NAME: ClassVar[str] = "poll_tick"
    AUDITED: ClassVar[bool] = False
    step_id: str
    attempt: int
    holds: bool
    latest: Any = None
    remaining_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class WaitTick(Event):
    NAME: ClassVar[str] = "wait_tick"
    AUDITED: ClassVar[bool] = False
    step_id: str
    remaining_s: float


@dataclass(frozen=True, kw_only=True)
class ConfirmRequest(Event):
    """The exact mutating request, shown before its confirmation prompt."""

    NAME: ClassVar[str] = "confirm_request"
    AUDITED: ClassVar[bool] = False
    step_id: str
    call: Call
    undo: Call | None = None  # how the step would be undone (`hybridops undo`), rendered


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """A record whose event this version does not know: kept, shown as a note, never acted on."""

    NAME: ClassVar[str] = ""
    name: str
    fields: dict[str, Any] = field(default_factory=dict)


EVENTS: dict[str, type[Event]] = {c.NAME: c for c in (
    RunStarted, RunResumed, StepStarted, Request, Response, Prompt, StepFinished, RunFinished, LogRepaired,
    ShipFailed, LockTakenOver, LockLost, BudgetWarning, PollTick, WaitTick, ConfirmRequest)}


@dataclass(frozen=True)
class Recorded:
    """An audit record read back: its envelope and its event."""

    seq: int
    ts: str
    run_id: str
    event: Event

    @property
    def name(self) -> str:
        return event_name(self.event)


def event_name(event: Event) -> str:
    return event.name if isinstance(event, UnknownEvent) else event.NAME


# --- to records and back ------------------------------------------------------------------------------


def to_record(event: Event) -> dict[str, Any]:
    """The event as the JSON object the audit log and `--output json` write (without the envelope
    the log adds: seq, ts, run_id, prev)."""
    if isinstance(event, UnknownEvent):
        return {"event": event.name, **event.fields}
    fields = _plain(event)
    if isinstance(event, Request | ConfirmRequest):
        # a request's own fields sit beside the others: those of its kind of target (an AWS call has
        # no URL, an admin request no region), and a note only when there is one
        call = _shaped(fields.pop("call"))
        fields = {"step_id": fields.pop("step_id"), **call, **fields}
        if isinstance(event, ConfirmRequest):
            fields["undo"] = None if event.undo is None else _shaped(fields["undo"])
    return {"event": event.NAME, "v": FORMAT_VERSION, **fields}


def _plain(obj: Any) -> Any:
    if isinstance(obj, Result):
        return {"type": obj.TYPE, **{f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, tuple | list):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def from_record(record: Mapping[str, Any]) -> Event:
    """The event a record (or a `--output json` line) holds. Tolerant of older and foreign records:
    missing fields take their defaults, a field of the wrong type its default, an unknown event
    becomes an `UnknownEvent`."""
    name = record.get("event")
    cls = EVENTS.get(name) if isinstance(name, str) else None
    fields = {k: v for k, v in record.items() if k not in ENVELOPE and k not in ("v", BY)}
    if cls is None:
        return UnknownEvent(name=str(name), fields=fields)
    if cls is Request or cls is ConfirmRequest:
        # the request's fields sit beside the envelope's in a record: the shape the CLI has always written
        fields = {**fields, "call": {k: fields.pop(k) for k in list(fields) if k in _CALL_FIELDS}}
    return _build(cls, fields)


def read_record(record: Mapping[str, Any]) -> Recorded:
    seq = record.get("seq")
    return Recorded(seq=seq if isinstance(seq, int) else -1, ts=str(record.get("ts", "")),
                    run_id=str(record.get("run_id", "")), event=from_record(record))


def read_records(records: typing.Iterable[Mapping[str, Any]]) -> list[Recorded]:
    return [read_record(r) for r in records]


_CALL_FIELDS = {f.name for f in dataclasses.fields(Call)}


def _shaped(call: dict[str, Any]) -> dict[str, Any]:
    own = _CALL_SHAPES.get(call["target"], _CALL_SHAPES[""])
    return {k: v for k, v in call.items() if k in own or (k == "note" and v is not None)}
_CALL_SHAPES = {
    "aws": ("target", "service", "operation", "region", "params"),
    "http": ("target", "method", "url", "path", "body"),
    "": ("target", "url", "body"),  # notifications
}
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, vars(sys.modules[__name__]))
    return _HINTS[cls]


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs[f.name] = _fallback(hints[f.name])
            continue
        try:
            kwargs[f.name] = _coerce(hints[f.name], data[f.name])
        except (TypeError, ValueError):
            if f.default is not dataclasses.MISSING:
                kwargs[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                kwargs[f.name] = f.default_factory()
            else:
                kwargs[f.name] = _fallback(hints[f.name])
    return cls(**kwargs)


def _fallback(tp: Any) -> Any:
    """A value for a required field a foreign record lacks."""
    args = typing.get_args(tp)
    if tp is bool:
        return False
    if tp is str or (isinstance(tp, type) and issubclass(tp, enum.StrEnum)):
        return ""
    if tp is int:
        return 0
    if tp is Call:
        return Call(target="?")
    if type(None) in args:
        return None
    raise TypeError(f"no fallback for {tp}")


def _coerce(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{value!r} is none of {tp}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("not a boolean")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError("not an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise TypeError("not a number")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):  # a foreign writer's scalar: read as its JSON text
            return "true" if value is True else "false" if value is False else f"{value}"
        raise TypeError("not a string")
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        if not isinstance(value, str):
            raise TypeError("not a string")
        try:
            return tp(value)
        except ValueError:
            return value  # a status of another version: kept as it was written
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError("not a list")
        return tuple(_coerce(args[0], v) for v in value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise TypeError("not a mapping")
        return dict(value)
    if tp is Result:
        if not isinstance(value, dict):
            return OtherResult(data=value)
        tag = value.get("type")
        cls = RESULTS.get(tag) if isinstance(tag, str) else None
        if cls is None:
            return _legacy_result(value)
        return _build(cls, {k: v for k, v in value.items() if k != "type"})
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError("not a mapping")
        return _build(tp, value)
    raise TypeError(f"cannot read {tp}")


def _legacy_result(value: dict[str, Any]) -> Result:
    """A result of a record written before results were typed (format 0): told apart by its keys,
    as the tool of that version wrote them."""
    keys = set(value)
    if value.get("table") == "errors_by_type":
        return _build(ErrorTable, value)
    if value.get("table") == "json_groups":
        return _build(JsonGroups, value)
    if keys == {"would_send"} and isinstance(value["would_send"], dict):
        return WouldSend(request=_build(Call, value["would_send"]))
    for cls, shape in ((Answered, {"answer"}), (Checklist, {"done", "not_done"}), (Waited, {"waited_s"}),
                       (WouldWait, {"wait_s"}), (Polled, {"attempts", "latest"}), (Notified, {"status"})):
        if keys == shape:
            return _build(cls, value)
    if {"condition", "message"} <= keys <= {"condition", "message", "value"}:
        return _build(Checked, value)
    return OtherResult(data=value)


# --- the published format -----------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every record, generated from the classes above (`hybridops schema --events`)."""
    defs: dict[str, Any] = {}
    one_of = []
    for name, cls in EVENTS.items():
        extra: dict[str, Any] = {
            "event": {"const": name},
            "v": {"const": FORMAT_VERSION, "description": "the format version"},
        }
        if cls.AUDITED:
            extra[BY] = {"type": "string", "description": "who acted: on the records of a resumed session"}
            # written by the audit log itself (hybridops.audit.log): the seal and the integrity tail
            if cls is RunStarted or cls is RunResumed:
                extra["key_id"] = {"type": "string", "description": "the key the records' MACs are made with"}
            if cls is RunFinished:
                extra["count"] = {"type": "integer", "description": "the seal: how many records precede it"}
                extra["head"] = {"type": "string", "description": "the seal: SHA-256 of the line before it"}
            extra["sum"] = {"type": "string", "description": "SHA-256 of the line without sum and mac"}
            extra["mac"] = {"type": "string", "description": "HMAC-SHA256 of those bytes (a keyed log)"}
        defs[cls.__name__] = _object_schema(cls, defs, extra=extra, required_extra=["event"])
        defs[cls.__name__]["description"] = ("audited" if cls.AUDITED else "display only (--output json)") + (
            f": {cls.__doc__.strip().splitlines()[0]}" if cls.__doc__ and "Event" not in cls.__doc__ else "")
        one_of.append({"$ref": f"#/$defs/{cls.__name__}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"hybridops run events, format {FORMAT_VERSION}",
        "description": "One object per audit record (with seq, ts, run_id and prev around it) and per "
                       "`--output json` line (with run_id).",
        "oneOf": one_of,
        "$defs": defs,
    }


def _object_schema(cls: type, defs: dict[str, Any], *, extra: dict[str, Any] | None = None,
                   required_extra: list[str] | None = None) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = dict(extra or {})
    required = list(required_extra or [])
    for f in dataclasses.fields(cls):
        props[f.name] = _type_schema(hints[f.name], defs)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    if cls is Request or cls is ConfirmRequest:  # the call's fields are written beside the others
        del props["call"]
        required.remove("call")
        call = _object_schema(Call, defs)
        props.update(call["properties"])
        required += call["required"]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a, defs) for a in args]}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    if tp in simple:
        return {"type": simple[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        return {"enum": [m.value for m in tp]}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0], defs)}
    if origin is dict or tp is dict:
        return {"type": "object"}
    if tp is Result:
        refs = []
        for cls in RESULTS.values():
            if cls.__name__ not in defs:
                defs[cls.__name__] = _object_schema(cls, defs, extra={"type": {"const": cls.TYPE}},
                                                    required_extra=["type"])
            refs.append({"$ref": f"#/$defs/{cls.__name__}"})
        return {"oneOf": refs}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # a placeholder against recursion
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"no schema for {tp}")


def iter_events(records: typing.Iterable[Mapping[str, Any]]) -> Iterator[Event]:
    for r in records:
        yield from_record(r)
