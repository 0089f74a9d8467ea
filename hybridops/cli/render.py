"""Showing a run: rich on a terminal, plain lines otherwise, or one JSON object per event."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hybridops.cli.console import PlainConsole
from hybridops.durations import format_duration
from hybridops.events import (
    BudgetWarning,
    Call,
    ConfirmRequest,
    Event,
    LockLost,
    PollTick,
    Prompt,
    Request,
    Response,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFinished,
    StepStarted,
    WaitTick,
    to_record,
)
from hybridops.kinds import kind
from hybridops.kinds.base import Display, Line, Table, describe_call
from hybridops.scrub import inert

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from hybridops.engine.run import RunResult


def json_sink(event: Event, run_id: str) -> None:
    """`--output json`: one JSON object per event, the record the audit log writes plus the run id."""
    record = to_record(event)
    line = {"event": record.pop("event"), "run_id": run_id, **record}
    sys.stdout.write(json.dumps(line, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def shown(value: object) -> str:
    """A value from outside the tool (a server's answer or error, a URL, a log event, a runbook's or
    an operator's words) as it goes into a line of markup: one line, control characters escaped
    visibly (`\\x1b`, `\\n`), markup escaped, so it can neither move the cursor nor style itself.

    Every such value the renderer prints goes through here (or `as_line`, for lines printed without
    markup). The consoles also escape whatever else reaches them (hybridops.cli.console), keeping
    only line breaks; the audit log and `--output json` keep the value exactly, JSON-escaped."""
    from rich.markup import escape

    return escape(as_line(value))


def as_line(value: object) -> str:
    """A value from outside as one line of text printed without markup (see `shown`)."""
    return inert(value if isinstance(value, str) else str(value), single_line=True)


def describe_request(call: Call) -> str:
    """The exact request, escaped for rich markup (JSON lists look like markup tags)."""
    return shown(describe_call(call, exact=True))


class _Elapsed:
    """A status line whose elapsed timer rich re-renders on every refresh (a live step timer), on the
    run's own clock (a drill's is simulated)."""

    def __init__(self, budget_s: float, clock: Any) -> None:
        self._clock = clock.monotonic
        self.t0 = self._clock()
        self.budget_s = budget_s
        self.text = ""

    def __rich__(self) -> str:
        elapsed = self._clock() - self.t0
        style = "red" if elapsed > self.budget_s else ("yellow" if elapsed >= 0.8 * self.budget_s else "dim")
        return (f"[{style}]{format_duration(elapsed)} of {format_duration(self.budget_s)}[/]"
                + (f"  {shown(self.text)}" if self.text else ""))


class TextRenderer:
    """The human view of a run. On a terminal each step shows a live elapsed timer against its budget,
    which waits extend with their countdown.

    `verbosity` -1 (`-q`): a line per finished step, the confirmations and warnings, the verdict.
    0: also each request and response, except inside a poll, which shows its request once and then a
    line per check with the values it shows. 1 (`-v`): every request and response, with the content."""

    def __init__(self, console: Console | PlainConsole, clock: Any = None, verbosity: int = 0) -> None:
        from hybridops.engine.clock import RealClock

        self.c = console
        self.verbosity = verbosity
        self.polling = False  # within a poll step whose request has been shown once
        self.clock = clock or RealClock()
        self.run_id = ""
        self.kind: str | None = None  # the kind of the step running: it knows how to show its result
        self.tty = console.is_terminal
        self.status: Status | None = None
        self.timer: _Elapsed | None = None

    def pause(self) -> None:
        """Stop the live line (before a prompt: the operator's typing must not fight a refresh)."""
        self._stop_status()

    def __call__(self, event: Event, run_id: str) -> None:
        self.run_id = run_id
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def on_RunStarted(self, e: RunStarted) -> None:  # noqa: N802 (named for the event class)
        rb = e.runbook
        mode = " [DRY RUN: nothing will be sent]" if e.dry_run else ""
        mode += " [READ-ONLY: mutating steps skipped]" if e.read_only else ""
        mode += " [DRILL]" if e.drill else ""
        title = f"[bold]{shown(rb.title)}[/] ({shown(rb.id)}){mode}"
        if self.verbosity < 0:
            self.c.print(title)
            self.c.print(f"audit log run id: {self.run_id}".rstrip())
            return
        if self.tty:
            self.c.rule(title)
        else:  # a rule is cut to the console's width, and the mode must never be cut off
            self.c.print(title)
        self.c.print(f"severity [bold red]{shown(rb.severity)}[/]  response time {shown(rb.response_time)}  "
                     f"operator {shown(e.operator)}")
        self.c.print(f"impact: {shown(rb.impact)}")
        for symptom in rb.symptoms:
            self.c.print(f"  symptom: {shown(symptom)}")
        if e.clock == "simulated":
            self.c.print("simulated time: waits and polls pass at once; every time shown is simulated")
        elif e.time_scale != 1:
            self.c.print(f"time scale: every wait, interval, timeout and budget divided by {e.time_scale:g}")
        self.c.print(f"audit log run id: {self.run_id}".rstrip())

    def on_RunResumed(self, e: RunResumed) -> None:  # noqa: N802
        who = e.aws_caller_arn or e.operator
        by = f" (by {shown(who)})" if who else ""
        self.c.rule(f"[bold]resuming[/] from step {shown(e.from_step)}{by}")

    def on_StepStarted(self, e: StepStarted) -> None:  # noqa: N802
        self.kind = e.kind
        self.polling = False
        mark = " [bold yellow]\\[MUTATING][/]" if e.mutating else ""
        budget = e.budget_s or 0.0
        self.timer = _Elapsed(budget, self.clock)
        if self.verbosity < 0:
            self._status(f"{e.step_id}: {e.title}")
            return
        self.c.print(f"\n[bold]▶ {shown(e.step_id)}[/] {shown(e.title)}{mark}  [dim](budget "
                     f"{format_duration(budget)}, {shown(e.phase)})[/]")
        self._status("")

    def _in_poll(self) -> bool:
        """A poll's checks are shown as one line each, not as request/response pairs."""
        return self.kind == "poll" and self.verbosity == 0

    def on_Request(self, e: Request) -> None:  # noqa: N802
        if self.verbosity < 0:
            return
        if self._in_poll() and not e.dry_run:
            if not self.polling:
                self.polling = True
                self.c.print(f"  polling {describe_request(e.call)}", highlight=False)
            return
        prefix = "would send" if e.dry_run else ("retry" if e.attempt > 1 else "→")
        note = f"  [dim]({shown(e.call.note)})[/]" if e.call.note else ""
        self.c.print(f"  {prefix} {describe_request(e.call)}{note}", markup=True, highlight=False)

    def on_ConfirmRequest(self, e: ConfirmRequest) -> None:  # noqa: N802
        self._stop_status()
        self.c.print(f"  [bold yellow]mutating request:[/] {describe_request(e.call)}")
        if e.undo is not None:
            self.c.print(f"  [dim]undo: {describe_request(e.undo)}[/]")
        else:
            self.c.print("  [dim]undo: none declared (this change cannot be undone automatically)[/]")

    def on_Response(self, e: Response) -> None:  # noqa: N802
        if self.verbosity < 0 or self._in_poll():
            return
        if e.ok:
            content = f"  {short_value(e.summary, 400)}" if self.verbosity > 0 and e.summary is not None else ""
            self.c.print(as_line(f"  ← {e.status} in {format_duration(e.duration_s)}{content}"), highlight=False,
                         markup=False)
        else:
            self.c.print(f"  [red]✗ {shown(e.error)}[/]", highlight=False)

    def on_Prompt(self, e: Prompt) -> None:  # noqa: N802
        if e.source != "operator" and self.verbosity >= 0:
            self.c.print(f"  ? {shown(e.question)} → {shown(e.answer)} [dim]({shown(e.source)})[/]")

    def on_PollTick(self, e: PollTick) -> None:  # noqa: N802
        holds = "holds" if e.holds else "not yet"
        text = as_line(f"  poll #{e.attempt}: {short_value(e.latest, 120)} — condition {holds}, "
                       f"{format_duration(e.remaining_s)} left")
        if self.verbosity < 0:
            self._status(text)
        else:  # one line per check, at a terminal too: the history of a watch is what the operator reads
            self.c.print(text, highlight=False, markup=False)

    def on_WaitTick(self, e: WaitTick) -> None:  # noqa: N802
        if self.tty:
            self._status(f"  waiting: {format_duration(e.remaining_s)} left (Enter ends the wait early, "
                         "Ctrl-C stops the run)")

    def _status(self, text: str) -> None:
        if not self.tty or self.timer is None or isinstance(self.c, PlainConsole):  # no live line off a terminal
            return
        self.timer.text = text.strip()
        if self.status is None:
            self.status = self.c.status(self.timer)
            self.status.start()

    def on_LockLost(self, e: LockLost) -> None:  # noqa: N802
        self._stop_status()  # from the lease's thread too: rich's console serialises the lines
        self.c.print(f"  [bold red]⚠ {shown(e.reason)}[/]: this run stops before its next change")

    def on_BudgetWarning(self, e: BudgetWarning) -> None:  # noqa: N802
        self._stop_status()
        what = "over its budget" if e.over else "80% of its budget used"
        self.c.print(f"  [yellow]⚠ {shown(e.step_id)}: {what} "
                     f"({format_duration(e.elapsed_s)} of {format_duration(e.budget_s)})[/]")

    def on_StepFinished(self, e: StepFinished) -> None:  # noqa: N802
        self._stop_status()
        self.timer = None
        color = {"ok": "green", "failed": "red", "skipped": "yellow", "declined": "yellow"}.get(e.status, "cyan")
        over = " [bold red]OVER BUDGET[/]" if e.over_budget else ""
        detail = shown(e.error or e.reason or "")
        if self.verbosity < 0:
            self.c.print(f"  [bold]{shown(e.step_id)}[/] [{color}]{e.status}[/] in "
                         f"{format_duration(e.duration_s or 0.0)} / {format_duration(e.budget_s or 0.0)}{over} "
                         f"{detail}".rstrip(), highlight=False)
            return
        if e.result is not None and self.kind:
            self._display(kind(self.kind).display(e.result))
        self.c.print(f"  [{color}]{e.status}[/] in {format_duration(e.duration_s or 0.0)} / "
                     f"{format_duration(e.budget_s or 0.0)}{over} {detail}".rstrip(), highlight=False)
        if e.captures:
            captured = ", ".join(f"{k}={short_value(v)}" for k, v in e.captures.items() if not isinstance(v, dict))
            if captured:
                self.c.print(f"  [dim]captured {shown(captured)}[/]", highlight=False)

    def _display(self, result: Display | None) -> None:
        if isinstance(result, Line):
            self.c.print(f"  {as_line(result.text)}", highlight=False, markup=False)
        elif isinstance(result, Table):
            print_table(self.c, result.title, result.headers, [[str(x) for x in row] for row in result.rows],
                        right=("count", "share"))

    def on_RunFinished(self, e: RunFinished) -> None:  # noqa: N802
        self._stop_status()


def summary_table(console: Console | PlainConsole, result: RunResult) -> None:
    """The closing table: each step against its budget, time to first mitigation, total."""
    scale = result.time_scale
    rows = []
    for s in result.steps:
        dur = format_duration(s.duration_s)
        if scale != 1:
            dur += f" (≈{format_duration(s.duration_s * scale)} real-world)"
        rows.append([s.step_id, s.status, dur, format_duration(s.budget_s), "OVER BUDGET" if s.over_budget else ""])
    print_table(console, f"run {result.run_id}: {result.status}", ["step", "status", "duration", "budget", ""],
                rows)
    ttm = "n/a" if result.time_to_mitigation_s is None else format_duration(result.time_to_mitigation_s)
    console.print(f"time to first mitigation: {ttm}   total: {format_duration(result.duration_s)}")


def print_table(console: Console | PlainConsole, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
                right: tuple[str, ...] = ()) -> None:
    """A table: rich's at a terminal; off one, padded columns (rich would measure and lay out every
    cell, about 1 ms a row of a 1,000-step run's summary). Cells are text, never markup: they may be
    a log event's message. Each is one line, control characters escaped."""
    title, headers = as_line(title), [as_line(h) for h in headers]
    rows = [[as_line(c) for c in row] for row in rows]
    if console.is_terminal:
        from rich.table import Table as RichTable
        from rich.text import Text

        table = RichTable(title=Text(title), title_justify="left", show_edge=True)
        for h in headers:
            table.add_column(Text(h), justify="right" if h in right else "left")
        for row in rows:
            table.add_row(*(Text(c) for c in row))
        console.print(table)
        return
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if h in right else c.ljust(w)
                         for c, w, h in zip(cells, widths, headers, strict=True)).rstrip()

    console.print(title, markup=False)
    console.print(line(headers), markup=False)
    console.print(line(["-" * w for w in widths]), markup=False)
    for row in rows:
        console.print(line(row), markup=False)


def short_value(v: Any, limit: int = 80) -> str:
    text = json.dumps(v, default=str) if not isinstance(v, str) else v
    return text if len(text) <= limit else text[: limit - 3] + "..."
