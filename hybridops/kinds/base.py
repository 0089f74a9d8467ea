"""What a step kind is made of, and what it may ask of the run executing it.

A kind knows how to execute its steps (`execute`), how `hybridops show` describes one (`describe`),
and how its result is shown (`display`: plain data, which the CLI prints). It gets everything else
from the run through `StepRun`: rendering templates, gating mutations, sending with retries and audit,
asking the operator, looking at the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hybridops.events import Call, Event, Result, StepStatus

if TYPE_CHECKING:
    from hybridops.engine.context import Context, RunOptions
    from hybridops.runbook.model import AnyStep, AwsCall, HttpCall

Send = Callable[[], tuple[Any, Any]]  # sends once: (status, payload), or raises CallFailure


@dataclass
class Outcome:
    """How a step ended, before it is recorded: status, what it captured, its result, where to go."""

    status: StepStatus
    captures: dict[str, Any] = field(default_factory=dict)
    result: Result | None = None
    error: str | None = None
    goto: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Table:
    """A result shown as a table."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Line:
    """A result shown as one line."""

    text: str


Display = Table | Line


class StepRun(Protocol):
    """The run, as a kind executing one of its steps sees it."""

    ctx: Context
    opt: RunOptions
    incident: str  # the runbook's id
    captured: dict[str, Any]  # the run's captures so far (a poll adds to them as it goes)

    def scaled(self, seconds: float) -> float:
        """`seconds` of the runbook's time on the run's clock (divided by --time-scale)."""
        ...

    def emit(self, event: Event) -> None: ...

    def render(self, value: Any) -> Any: ...

    def condition(self, text: str, *, dry_default: bool | None) -> bool | None: ...

    def template_context(self) -> Mapping[str, Any]: ...

    def gate(self, step: AnyStep, call: Call) -> Outcome | None:
        """None when the step may send `call`; otherwise the outcome that replaces sending it."""
        ...

    def prepare_call(self, call: AwsCall | HttpCall, timeout: float | None) -> tuple[Call, Send]: ...

    def send(self, step: AnyStep, call: Call, send: Send, *, retries: bool = True) -> tuple[Any, Any]: ...

    def call_captures(self, call: AwsCall | HttpCall, status: Any, payload: Any) -> dict[str, Any]: ...

    def check_budget(self) -> str | None: ...

    def timed_out(self, step: AnyStep, detail: str, *, wait_s: float) -> tuple[str, float] | None:
        """At a terminal, the operator's choice when a poll timed out (seconds on the run's clock for
        'wait'); None when nobody can be asked (the step fails, as it always has). Raises on 'abort'."""
        ...

    def tick(self) -> float: ...

    def answer_for(self, step: AnyStep) -> str | None: ...

    def prompted(self, step: AnyStep, question: str, answer: str, source: str) -> None: ...


class Kind:
    """One step kind. Subclasses set `name` and implement what their kind does."""

    name: str = ""
    stops_the_run = True  # a failure follows the step's on_failure (False: the run always goes on)

    def execute(self, run: StepRun, step: Any) -> Outcome:
        raise NotImplementedError

    def describe(self, step: Any) -> list[str]:
        """What `hybridops show` prints for the step's kind-specific part, one line each."""
        return []

    def display(self, result: Result) -> Display | None:
        """How the live display shows the step's result (None: the status line says it all)."""
        from hybridops.events import WouldSend

        if isinstance(result, WouldSend):  # any kind that sends: what --read-only held back
            return Line(f"skipped request: {describe_call(result.request, exact=True)}")
        return None


def summarize(payload: Any, limit: int = 500) -> Any:
    """A response as the log and the screen keep it: as it is, or cut to `limit` characters of JSON."""
    import json

    try:
        text = json.dumps(payload, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        text = str(payload)
    if len(text) <= limit:
        return payload
    return text[:limit] + "...(truncated)"


def compact_value(v: Any) -> str:
    """A value as one short token: true/false/null, a bare word, or compact JSON."""
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return v if v and not any(c.isspace() for c in v) else json.dumps(v, ensure_ascii=False)
    if isinstance(v, int | float):
        return f"{v}"
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=str)


def describe_call(call: Call, *, exact: bool = False) -> str:
    """A request as a one-line command: `aws ecs UpdateService cluster=c forceNewDeployment=true`,
    `POST /admin/routing/force-mcp {"duration":3600}`, `slack: text`, `pagerduty trigger: summary`.

    `exact` gives what is about to be sent, for an operator to confirm: the region, the full URL and
    the parameters or body as JSON."""
    import json
    from urllib.parse import urlsplit

    from hybridops.scrub import redact_url

    body = call.body
    url = redact_url(call.url) if call.url else call.url  # a password in the admin URL, a ?token=
    if exact:
        def as_json(v: Any) -> str:
            return json.dumps(v, default=str, separators=(", ", ": "))

        if call.target == "aws":
            return f"aws {call.service} {call.operation} ({call.region}) {as_json(call.params or {})}"
        head = f"{call.method} {url}" if call.target == "http" else f"notify {call.target} {url or ''}"
        return head + ("" if body is None else " " + as_json(body))
    if call.target == "aws":
        parts = ["aws", call.service or "?", call.operation or "?"]
        parts += [f"{k}={compact_value(v)}" for k, v in (call.params or {}).items()]
        return " ".join(parts)
    if call.target == "slack":
        text = body.get("text") if isinstance(body, dict) else body
        return f"slack: {text}" if text else "slack message"
    if call.target == "pagerduty":
        b = body if isinstance(body, dict) else {}
        payload = b.get("payload")
        summary = payload.get("summary") if isinstance(payload, dict) else None
        return f"pagerduty {b.get('event_action') or call.method or 'event'}" + (f": {summary}" if summary else "")
    url = url or ""
    split = urlsplit(url)
    where = (split.path or "/") + (f"?{split.query}" if split.query else "") if split.scheme else url
    line = f"{call.method or 'GET'} {where}".rstrip()
    if body not in (None, "", {}, []):
        line += " " + (body if isinstance(body, str) else compact_value(body))
    return line


def short_duration(seconds: float) -> str:
    """A duration as runbooks write it: 2m, 1m30s, 1h, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds else "0s"
    total = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


def captures_line(names: list[str]) -> str:
    return f"captures {', '.join(names)}"
