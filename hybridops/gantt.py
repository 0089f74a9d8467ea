"""A Mermaid `gantt` chart of a run's steps against their budgets (GitHub and most wikis render it).

Used by the drill report and `hybridops audit timeline --format md`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from hybridops.durations import format_duration

BAD = ("failed", "aborted", "interrupted", "unfinished")


@dataclass(frozen=True)
class GanttStep:
    id: str
    phase: str | None
    status: str
    started_s: float  # seconds into the run
    duration_s: float | None  # None: it never finished
    budget_s: float | None
    over_budget: bool


def gantt(steps: Iterable[GanttStep], *, title: str, start_wall: float | None = None) -> list[str]:
    """The chart's lines: per phase, each step's budget as one bar and what it took as another
    (`crit` when it failed, never finished or went over budget).

    Each bar starts at its time of day in UTC (the run's start plus the step's offset on the run's
    clock) and lasts whole seconds, at least one, so that a step of a few milliseconds still shows.
    (Rendered with mermaid-cli: `dateFormat X` with epoch seconds draws every bar the same length.)"""
    base = float(start_wall or 0)
    out = ["gantt", f"    title {_label(title)}", "    dateFormat YYYY-MM-DDTHH:mm:ss", "    axisFormat %H:%M:%S",
           "    todayMarker off"]
    phase: str | None = None
    for i, s in enumerate(steps):
        if i == 0 or s.phase != phase:
            phase = s.phase
            out.append(f"    section {_label(phase or 'steps')}")
        start = datetime.fromtimestamp(int(base + s.started_s), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if s.budget_s is not None:
            out.append(f"    {_label(s.id)} budget {_label(format_duration(s.budget_s))} "
                       f":b{i}, {start}, {max(1, round(s.budget_s))}s")
        took = s.duration_s or 0.0
        bad = s.status in BAD or s.over_budget
        shown = "" if s.duration_s is None else f" {_label(format_duration(took))}"
        out.append(f"    {_label(s.id)} {_label(s.status)}{shown} "
                   f":{'crit' if bad else 'done'}, s{i}, {start}, {max(1, round(took))}s")
    return out


def _label(text: str) -> str:
    """Mermaid gantt text: no `:`, `#` or `;` (they end or comment a task line)."""
    return "".join(c if c not in ":#;" else " " for c in text).strip() or "-"
