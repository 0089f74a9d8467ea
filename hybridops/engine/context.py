"""What a run needs from outside, in one object: options, clock, prompter, event sinks, I/O runners."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hybridops.engine.clock import Clock, RealClock
from hybridops.events import BY, Event, from_record, to_record
from hybridops.scrub import Scrubber, refresh, secret_leaves


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    read_only: bool = False
    yes: bool = False
    interactive: bool = False  # a person at a terminal can answer prompts
    answers: Mapping[str, str] = field(default_factory=dict)  # --answer STEP=VALUE
    time_scale: float = 1.0
    insecure: bool = False
    skip_preflight: bool = False
    drill: bool = False
    scenario: str | None = None
    seed: int | None = None  # a drill's seed: backoff jitter (and the world) repeat with it
    undo_of: str | None = None  # the run whose changes this run undoes
    no_notify: bool = False  # notification steps are skipped (and their configuration not required)
    start_at: str | None = None  # --start-at: the run begins at this step
    skip: tuple[str, ...] = ()  # --skip: these steps are skipped
    step_by_step: bool = False  # --step: every step is confirmed before it runs
    argv: tuple[str, ...] = ()


class Prompter(Protocol):
    """How the engine asks a person. The CLI implements it with rich; tests script it."""

    def confirm(self, question: str, *, default: bool | None) -> bool: ...

    def choose(self, question: str, options: list[tuple[str, str]], *, default: str | None) -> str: ...

    def checklist(self, instructions: str, items: list[str]) -> dict[str, bool]: ...

    def over_budget(self, title: str, budget_s: float, elapsed_s: float, *, extend_s: float) -> str:
        """'extend' (the budget grows by `extend_s`), 'skip' or 'abort'."""
        ...

    def timed_out(self, title: str, detail: str, *, wait_s: float) -> tuple[str, float]:
        """After a poll's timeout: ('wait', seconds more; `wait_s` offered), ('skip', 0), ('fail', 0)
        (the step's failure path) or ('abort', 0)."""
        ...


class NoPrompter:
    """For runs nobody can answer: any question reaching it is a bug in the engine's gating."""

    def confirm(self, question: str, *, default: bool | None) -> bool:
        raise RuntimeError("no prompter")

    def choose(self, question: str, options: list[tuple[str, str]], *, default: str | None) -> str:
        raise RuntimeError("no prompter")

    def checklist(self, instructions: str, items: list[str]) -> dict[str, bool]:
        raise RuntimeError("no prompter")

    def over_budget(self, title: str, budget_s: float, elapsed_s: float, *, extend_s: float) -> str:
        return "extend"

    def timed_out(self, title: str, detail: str, *, wait_s: float) -> tuple[str, float]:
        return ("fail", 0.0)


# A display sink: each event (secrets already masked) with the run's id.
Sink = Callable[[Event, str], Any]
AuditSink = Callable[[dict[str, Any]], Any]  # takes an event's record (AuditLog.write)


class Emitter:
    """Sends each event to the audit log first (write-ahead: it returns only once the record is on
    disk), then to the display sinks. Secrets are masked, by the one scrubber, before any sink sees
    the event; display sinks get the masked event back as a typed event."""

    def __init__(self, audit: AuditSink | None, ui: list[Sink], secrets: Iterable[str] = (),
                 run_id: str = "", by: str | None = None) -> None:
        self.audit = audit
        self.by = by  # who acts, on every audit record (a resumed run's new operator)
        self.ui = ui
        self.scrubber = Scrubber()
        for s in secrets:
            self.add_secret(s)
        self.run_id = run_id  # the audit log puts it on every record itself; displays get it here

    def add_secret(self, value: str | None) -> None:
        """Mask `value` in every later event, and everywhere else the process prints (the scrubber is
        shared): the error that ends a run is printed by the CLI, not by a sink."""
        if value:
            self.scrubber.add(value)

    def add_secret_value(self, value: Any) -> None:
        """Mask a value derived from a secret: the whole of it and each of its leaves (a template
        over a secret variable rendered to a dict, a list or a number)."""
        for leaf in secret_leaves(value):
            self.scrubber.add(leaf)

    def __call__(self, event: Event) -> None:
        refresh()  # a credential resolved since the last event (an AWS role's) is masked from here on
        raw = to_record(event)
        record = self.scrubber.value(raw)
        if event.AUDITED and self.audit is not None:
            self.audit({**record, BY: self.by} if self.by else record)
        shown = event if record == raw else from_record(record)
        for sink in self.ui:
            sink(shown, self.run_id)


@dataclass
class Context:
    options: RunOptions
    emit: Emitter
    clock: Clock = field(default_factory=RealClock)
    prompter: Prompter = field(default_factory=NoPrompter)
    aws: Any = None  # AwsRunner
    http: Any = None  # HttpRunner
    notify_targets: Any = None  # NotifyTargets
    run_id: str = ""
    aws_region: str = "eu-central-1"
    lease: Any = None  # the incident's lock (hybridops.engine.lock.Lease) when the run holds one
