"""Showing a run: rich on a terminal, plain lines otherwise, or one JSON object per event."""

from __future__ import annotations

import json
import sys
from typing import Any

from hybridops.durations import format_duration


def json_sink(event: str, fields: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def describe_request(f: dict[str, Any]) -> str:
    """The exact request, escaped for rich markup (JSON lists look like markup tags)."""
    from rich.markup import escape

    from hybridops.audit.timeline import describe_request as describe

    return escape(describe(f, exact=True))


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
    which waits and polls extend with their countdown or latest value."""

    def __init__(self, console, clock: Any = None) -> None:
        from hybridops.engine.clock import RealClock

        self.c = console
        self.clock = clock or RealClock()
        self.tty = console.is_terminal
        self.status = None
        self.timer: _Elapsed | None = None
        self.current: dict[str, Any] = {}

    def pause(self) -> None:
        """Stop the live line (before a prompt: the operator's typing must not fight a refresh)."""
        self._stop_status()

    def __call__(self, event: str, f: dict[str, Any]) -> None:
        handler = getattr(self, f"on_{event}", None)
        if handler is not None:
            handler(f)

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def on_run_started(self, f: dict[str, Any]) -> None:
        rb = f.get("runbook", {})
        mode = " [DRY RUN: nothing will be sent]" if f.get("dry_run") else ""
        mode += " [READ-ONLY: mutating steps skipped]" if f.get("read_only") else ""
        mode += " [DRILL]" if f.get("drill") else ""
        title = f"[bold]{rb.get('title')}[/] ({rb.get('id')}){mode}"
        if self.tty:
            self.c.rule(title)
        else:  # a rule is cut to the console's width, and the mode must never be cut off
            self.c.print(title)
        self.c.print(f"severity [bold red]{rb.get('severity')}[/]  response time {rb.get('response_time')}  "
                     f"operator {f.get('operator')}")
        self.c.print(f"impact: {rb.get('impact')}")
        for s in rb.get("symptoms", []):
            self.c.print(f"  symptom: {s}")
        if f.get("clock") == "simulated":
            self.c.print("simulated time: waits and polls pass at once; every time shown is simulated")
        elif f.get("time_scale", 1) != 1:
            self.c.print(f"time scale: every wait, interval, timeout and budget divided by {f['time_scale']:g}")
        self.c.print(f"audit log run id: {f.get('run_id', '')}".rstrip())

    def on_run_resumed(self, f: dict[str, Any]) -> None:
        self.c.rule(f"[bold]resuming[/] from step {f.get('from_step')}")

    def on_step_started(self, f: dict[str, Any]) -> None:
        self.current = f
        mark = " [bold yellow]\\[MUTATING][/]" if f.get("mutating") else ""
        self.c.print(f"\n[bold]▶ {f['step_id']}[/] {f['title']}{mark}  [dim](budget "
                     f"{format_duration(f['budget_s'])}, {f['phase']})[/]")
        self.timer = _Elapsed(f["budget_s"], self.clock)
        self._status("")

    def on_request(self, f: dict[str, Any]) -> None:
        prefix = "would send" if f.get("dry_run") else ("retry" if f.get("attempt", 1) > 1 else "→")
        note = f"  [dim]({f['note']})[/]" if f.get("note") else ""
        self.c.print(f"  {prefix} {describe_request(f)}{note}", markup=True, highlight=False)

    def on_confirm_request(self, f: dict[str, Any]) -> None:
        self._stop_status()
        self.c.print(f"  [bold yellow]mutating request:[/] {describe_request(f)}")

    def on_response(self, f: dict[str, Any]) -> None:
        if f.get("ok"):
            self.c.print(f"  ← {f.get('status')} in {format_duration(f.get('duration_s') or 0)}", highlight=False)
        else:
            self.c.print(f"  [red]✗ {f.get('error')}[/]", highlight=False)

    def on_prompt(self, f: dict[str, Any]) -> None:
        if f.get("source") != "operator":
            self.c.print(f"  ? {f.get('question')} → {f.get('answer')} [dim]({f.get('source')})[/]")

    def on_poll_tick(self, f: dict[str, Any]) -> None:
        holds = "holds" if f.get("holds") else "not yet"
        text = (f"  poll #{f['attempt']}: {_short(f.get('latest'), 120)} — condition {holds}, "
                f"{format_duration(f.get('remaining_s', 0))} left")
        if self.tty:
            self._status(text)
        else:
            self.c.print(text, highlight=False)

    def on_wait_tick(self, f: dict[str, Any]) -> None:
        if self.tty:
            self._status(f"  waiting: {format_duration(f['remaining_s'])} left (Enter ends the wait early, "
                         "Ctrl-C stops the run)")

    def _status(self, text: str) -> None:
        if not self.tty or self.timer is None:
            return
        self.timer.text = text.strip()
        if self.status is None:
            self.status = self.c.status(self.timer)
            self.status.start()

    def on_budget_warning(self, f: dict[str, Any]) -> None:
        self._stop_status()
        what = "over its budget" if f.get("over") else "80% of its budget used"
        self.c.print(f"  [yellow]⚠ {f['step_id']}: {what} "
                     f"({format_duration(f['elapsed_s'])} of {format_duration(f['budget_s'])})[/]")

    def on_step_finished(self, f: dict[str, Any]) -> None:
        self._stop_status()
        self.timer = None
        status = f["status"]
        color = {"ok": "green", "failed": "red", "skipped": "yellow", "declined": "yellow"}.get(status, "cyan")
        over = " [bold red]OVER BUDGET[/]" if f.get("over_budget") else ""
        detail = f.get("error") or f.get("reason") or ""
        self._result(f.get("result"))
        self.c.print(f"  [{color}]{status}[/] in {format_duration(f['duration_s'])} / "
                     f"{format_duration(f['budget_s'])}{over} {detail}".rstrip(), highlight=False)
        if f.get("captures"):
            shown = ", ".join(f"{k}={_short(v)}" for k, v in f["captures"].items() if not isinstance(v, dict))
            if shown:
                self.c.print(f"  [dim]captured {shown}[/]", highlight=False)

    def _result(self, result: Any) -> None:
        if not isinstance(result, dict):
            return
        if result.get("table") == "errors_by_type":
            self._table(["count", "error type"], [[r["count"], r["type"]] for r in result.get("by_type", [])],
                        f"errors by type ({result.get('total', 0)} in all)")
        elif result.get("table") == "json_groups":
            rows = result.get("rows", [])
            cols = [k for k in (rows[0] if rows else {}) if k not in ("count", "share")]
            self._table(["count", "share", *cols],
                        [[r["count"], f"{r['share']:.0%}", *[r[c] for c in cols]] for r in rows],
                        f"{result.get('total', 0)} records")
        elif "would_send" in result:
            self.c.print(f"  skipped request: {describe_request(result['would_send'])}", highlight=False)
        elif "message" in result and "value" in result:
            self.c.print(f"  check {result['condition']} → {result['value']}: {result['message']}", highlight=False)

    def _table(self, headers: list[str], rows: list[list[Any]], title: str) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_edge=self.tty)
        for h in headers:
            table.add_column(h, justify="right" if h in ("count", "share") else "left")
        for r in rows:
            table.add_row(*[str(x) for x in r])
        self.c.print(table)

    def on_run_finished(self, f: dict[str, Any]) -> None:
        self._stop_status()


def summary_table(console, result) -> None:
    """The closing table: each step against its budget, time to first mitigation, total."""
    from rich.table import Table

    table = Table(title=f"run {result.run_id}: {result.status}", title_justify="left", show_edge=console.is_terminal)
    for h in ("step", "status", "duration", "budget", ""):
        table.add_column(h)
    scale = result.time_scale
    for s in result.steps:
        dur = format_duration(s.duration_s)
        if scale != 1:
            dur += f" (≈{format_duration(s.duration_s * scale)} real-world)"
        table.add_row(s.step_id, s.status, dur, format_duration(s.budget_s), "OVER BUDGET" if s.over_budget else "")
    console.print(table)
    ttm = "n/a" if result.time_to_mitigation_s is None else format_duration(result.time_to_mitigation_s)
    console.print(f"time to first mitigation: {ttm}   total: {format_duration(result.duration_s)}")


def _short(v: Any, limit: int = 80) -> str:
    text = json.dumps(v, default=str) if not isinstance(v, str) else v
    return text if len(text) <= limit else text[: limit - 3] + "..."
