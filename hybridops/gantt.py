"""A Mermaid `gantt` chart of a run's steps against their budgets (GitHub and most wikis render it).

Used by the drill report and `hybridops audit timeline --format md`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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

    Times are seconds since the epoch (`dateFormat X`) from the run's start; the axis shows the time
    of day in the reader's time zone."""
    base = float(start_wall or 0)
    out = ["gantt", f"    title {_label(title)}", "    dateFormat X", "    axisFormat %H:%M:%S"]
    phase: str | None = None
    for i, s in enumerate(steps):
        if i == 0 or s.phase != phase:
            phase = s.phase
            out.append(f"    section {_label(phase or 'steps')}")
        start = int(base + s.started_s)
        if s.budget_s is not None:
            out.append(f"    {_label(s.id)} budget {_label(format_duration(s.budget_s))} "
                       f":b{i}, {start}, {start + max(1, round(s.budget_s))}")
        took = s.duration_s or 0.0
        bad = s.status in BAD or s.over_budget
        shown = "" if s.duration_s is None else f" {_label(format_duration(took))}"
        # a bar under a second would not show: every step gets at least one
        out.append(f"    {_label(s.id)} {_label(s.status)}{shown} "
                   f":{'crit' if bad else 'done'}, s{i}, {start}, {start + max(1, round(took))}")
    return out


def _label(text: str) -> str:
    """Mermaid gantt text: no `:`, `#` or `;` (they end or comment a task line)."""
    return "".join(c if c not in ":#;" else " " for c in text).strip() or "-"
