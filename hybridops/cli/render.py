"""Showing a run: rich on a terminal, plain lines otherwise, or one JSON object per event."""

from __future__ import annotations

import json
import sys
from typing import Any

from hybridops.durations import format_duration
from hybridops.events import (
    BudgetWarning,
    Call,
    ConfirmRequest,
    Event,
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


def json_sink(event: Event, run_id: str) -> None:
    """`--output json`: one JSON object per event, the record the audit log writes plus the run id."""
    record = to_record(event)
    line = {"event": record.pop("event"), "run_id": run_id, **record}
    sys.stdout.write(json.dumps(line, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def describe_request(call: Call) -> str:
    """The exact request, escaped for rich markup (JSON lists look like markup tags)."""
    from rich.markup import escape

    return escape(describe_call(call, exact=True))


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
                + (f"  {self.text}" if self.text else ""))


class TextRenderer:
    """The human view of a run. On a terminal each step shows a live elapsed timer against its budget,
    which waits extend with their countdown.

    `verbosity` -1 (`-q`): a line per finished step, the confirmations and warnings, the verdict.
    0: also each request and response, except inside a poll, which shows its request once and then a
    line per check with the values it shows. 1 (`-v`): every request and response, with the content."""

    def __init__(self, console, clock: Any = None, verbosity: int = 0) -> None:
        from hybridops.engine.clock import RealClock

        self.c = console
        self.verbosity = verbosity
        self.polling = False  # within a poll step whose request has been shown once
        self.clock = clock or RealClock()
        self.run_id = ""
        self.kind: str | None = None  # the kind of the step running: it knows how to show its result
        self.tty = console.is_terminal
        self.status = None
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
        title = f"[bold]{rb.title}[/] ({rb.id}){mode}"
        if self.verbosity < 0:
            self.c.print(title)
            self.c.print(f"audit log run id: {self.run_id}".rstrip())
            return
        if self.tty:
            self.c.rule(title)
        else:  # a rule is cut to the console's width, and the mode must never be cut off
            self.c.print(title)
        self.c.print(f"severity [bold red]{rb.severity}[/]  response time {rb.response_time}  "
                     f"operator {e.operator}")
        self.c.print(f"impact: {rb.impact}")
        for symptom in rb.symptoms:
            self.c.print(f"  symptom: {symptom}")
        if e.clock == "simulated":
            self.c.print("simulated time: waits and polls pass at once; every time shown is simulated")
        elif e.time_scale != 1:
            self.c.print(f"time scale: every wait, interval, timeout and budget divided by {e.time_scale:g}")
        self.c.print(f"audit log run id: {self.run_id}".rstrip())

    def on_RunResumed(self, e: RunResumed) -> None:  # noqa: N802
        from rich.markup import escape

        who = e.aws_caller_arn or e.operator
        by = f" (by {escape(who)})" if who else ""
        self.c.rule(f"[bold]resuming[/] from step {e.from_step}{by}")

    def on_StepStarted(self, e: StepStarted) -> None:  # noqa: N802
        self.kind = e.kind
        self.polling = False
        mark = " [bold yellow]\\[MUTATING][/]" if e.mutating else ""
        budget = e.budget_s or 0.0
        self.timer = _Elapsed(budget, self.clock)
        if self.verbosity < 0:
            self._status(f"{e.step_id}: {e.title}")
            return
        self.c.print(f"\n[bold]▶ {e.step_id}[/] {e.title}{mark}  [dim](budget "
                     f"{format_duration(budget)}, {e.phase})[/]")
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
        note = f"  [dim]({e.call.note})[/]" if e.call.note else ""
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
            self.c.print(f"  ← {e.status} in {format_duration(e.duration_s)}{content}", highlight=False,
                         markup=False)
        else:
            self.c.print(f"  [red]✗ {e.error}[/]", highlight=False)

    def on_Prompt(self, e: Prompt) -> None:  # noqa: N802
        if e.source != "operator" and self.verbosity >= 0:
            self.c.print(f"  ? {e.question} → {e.answer} [dim]({e.source})[/]")

    def on_PollTick(self, e: PollTick) -> None:  # noqa: N802
        holds = "holds" if e.holds else "not yet"
        text = (f"  poll #{e.attempt}: {short_value(e.latest, 120)} — condition {holds}, "
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
        if not self.tty or self.timer is None:
            return
        self.timer.text = text.strip()
        if self.status is None:
            self.status = self.c.status(self.timer)
            self.status.start()

    def on_BudgetWarning(self, e: BudgetWarning) -> None:  # noqa: N802
        self._stop_status()
        what = "over its budget" if e.over else "80% of its budget used"
        self.c.print(f"  [yellow]⚠ {e.step_id}: {what} "
                     f"({format_duration(e.elapsed_s)} of {format_duration(e.budget_s)})[/]")

    def on_StepFinished(self, e: StepFinished) -> None:  # noqa: N802
        self._stop_status()
        self.timer = None
        color = {"ok": "green", "failed": "red", "skipped": "yellow", "declined": "yellow"}.get(e.status, "cyan")
        over = " [bold red]OVER BUDGET[/]" if e.over_budget else ""
        detail = e.error or e.reason or ""
        if self.verbosity < 0:
            self.c.print(f"  [bold]{e.step_id}[/] [{color}]{e.status}[/] in {format_duration(e.duration_s or 0.0)} "
                         f"/ {format_duration(e.budget_s or 0.0)}{over} {detail}".rstrip(), highlight=False)
            return
        if e.result is not None and self.kind:
            self._display(kind(self.kind).display(e.result))
        self.c.print(f"  [{color}]{e.status}[/] in {format_duration(e.duration_s or 0.0)} / "
                     f"{format_duration(e.budget_s or 0.0)}{over} {detail}".rstrip(), highlight=False)
        if e.captures:
            shown = ", ".join(f"{k}={short_value(v)}" for k, v in e.captures.items() if not isinstance(v, dict))
            if shown:
                self.c.print(f"  [dim]captured {shown}[/]", highlight=False)

    def _display(self, shown: Display | None) -> None:
        if isinstance(shown, Line):
            self.c.print(f"  {shown.text}", highlight=False, markup=False)
        elif isinstance(shown, Table):
            print_table(self.c, shown.title, shown.headers, [[str(x) for x in row] for row in shown.rows],
                        right=("count", "share"))

    def on_RunFinished(self, e: RunFinished) -> None:  # noqa: N802
        self._stop_status()


def summary_table(console, result) -> None:
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


def print_table(console, title: str, headers: list[str], rows: list[list[str]], right: tuple[str, ...] = ()) -> None:
    """A table: rich's at a terminal; off one, padded columns (rich would measure and lay out every
    cell, about 1 ms a row of a 1,000-step run's summary)."""
    if console.is_terminal:
        from rich.table import Table as RichTable

        table = RichTable(title=title, title_justify="left", show_edge=True)
        for h in headers:
            table.add_column(h, justify="right" if h in right else "left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
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
