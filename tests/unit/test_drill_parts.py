"""The pieces of a drill that need no sandbox: the simulated clock, the seeded fault plan, the Mermaid
chart, the budget warning's words, and reading terminal lines so that a signal always lands."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from hybridops.drill import plan_faults
from hybridops.engine.clock import SimClock
from hybridops.events import BudgetWarning
from hybridops.gantt import GanttStep, gantt
from hybridops.sandbox.faults import check_fault


def test_sim_clock_jumps_on_sleep_and_counts_real_time_once() -> None:
    real = [50.0]
    clock = SimClock(start_wall=1_000_000.0, real=lambda: real[0])
    assert clock.monotonic() == 0.0 and clock.now() == 1_000_000.0
    assert clock.sleep(600) is False  # never "woken early": nobody waits
    real[0] += 2.5  # processing
    assert clock.monotonic() == 602.5 and clock.jumped == 600
    assert clock.now() == 1_000_602.5
    clock.advance(-5)  # time never goes back
    assert clock.monotonic() == 602.5


def test_sim_clock_is_shared_safely_between_threads() -> None:
    clock = SimClock()
    threads = [threading.Thread(target=lambda: [clock.advance(1) for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.jumped == 4000


def test_a_fault_plan_follows_its_seed_and_incident_and_every_fault_is_valid() -> None:
    plans = {(seed, incident): plan_faults(seed, incident) for seed in range(40)
             for incident in ("outage", "mcp-failure")}
    assert plan_faults(3, "outage") == plans[(3, "outage")]  # the same seed, the same plan
    assert len({repr(p) for p in plans.values()}) > 30  # seeds (and incidents) vary it
    kinds = {f["kind"] for p in plans.values() for f in p}
    assert kinds == {"http-503", "slow", "aws-throttle", "component-down"}
    for plan in plans.values():
        assert plan
        for fault in plan:
            assert check_fault(fault)["kind"] == fault["kind"]
            if fault["kind"] == "aws-throttle":
                assert fault["on_request"] >= 2  # never the preflight identity check
            if fault["kind"] == "component-down":
                assert fault["for_s"] > 0 and fault["at_s"] >= 30


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "boom"},
     "kind must be one of http-503, slow, hold, aws-throttle, component-down, component-up, iam-deny"),
    ({"kind": "http-503", "count": 0}, "count must be a positive integer"),
    ({"kind": "slow", "seconds": 601}, "seconds must be a number from 0 to 600"),
    ({"kind": "component-down", "component": "db"}, "component must be one of direct-bedrock, mcp-router"),
    ({"kind": "component-up", "component": "mcp-router", "for_s": 3},
     "for_s must be a positive number of seconds (component-down only)"),
    ({"kind": "http-503", "at_s": 1, "on_request": 2}, "give at_s or on_request, not both"),
    ({"kind": "component-down", "component": "mcp-router", "on_request": 2},
     "on_request must be a positive integer (request faults only)"),
    ({"kind": "aws-throttle", "at_s": float("nan")}, "at_s must be a number of seconds, 0 or more"),
    ([], "a fault is a JSON object"),
])
def test_a_fault_that_makes_no_sense_is_refused(fault, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        check_fault(fault)


def test_gantt_has_a_budget_bar_and_a_result_bar_per_step_and_no_characters_mermaid_chokes_on() -> None:
    steps = [GanttStep("check", "immediate", "ok", 0.0, 0.3, 120.0, False),
             GanttStep("monitor", "immediate", "ok", 0.3, 600.0, 600.0, False),
             GanttStep("fix: #1; now", "recovery", "failed", 600.3, 700.0, 300.0, True),
             GanttStep("cut", "recovery", "interrupted", 1300.3, None, 60.0, False)]
    assert gantt(steps, title="t: x", start_wall=1_764_000_000.0) == [
        "gantt", "    title t  x", "    dateFormat YYYY-MM-DDTHH:mm:ss", "    axisFormat %H:%M:%S",
        "    todayMarker off",
        "    section immediate",
        "    check budget 2m00s :b0, 2025-11-24T16:00:00, 120s",
        "    check ok 0.3s :done, s0, 2025-11-24T16:00:00, 1s",
        "    monitor budget 10m00s :b1, 2025-11-24T16:00:00, 600s",
        "    monitor ok 10m00s :done, s1, 2025-11-24T16:00:00, 600s",
        "    section recovery",
        "    fix   1  now budget 5m00s :b2, 2025-11-24T16:10:00, 300s",
        "    fix   1  now failed 11m40s :crit, s2, 2025-11-24T16:10:00, 700s",
        "    cut budget 1m00s :b3, 2025-11-24T16:21:40, 60s",
        "    cut interrupted :crit, s3, 2025-11-24T16:21:40, 1s",
    ]


def test_the_budget_warning_says_over_budget_when_the_first_look_is_late() -> None:
    from rich.console import Console

    from hybridops.cli.render import TextRenderer

    console = Console(record=True, width=200, force_terminal=False)
    r = TextRenderer(console)
    r(BudgetWarning(step_id="poll", elapsed_s=10.0, budget_s=6.0, over=True), "run-1")
    r(BudgetWarning(step_id="wait", elapsed_s=480.0, budget_s=600.0, over=False), "run-1")
    assert console.export_text().splitlines() == ["  ⚠ poll: over its budget (10s of 6.0s)",
                                                   "  ⚠ wait: 80% of its budget used (8m00s of 10m00s)"]


def test_terminal_lines_keep_what_was_typed_ahead_and_let_a_signal_through(monkeypatch) -> None:
    from hybridops.cli import terminal

    r, w = os.pipe()
    monkeypatch.setattr(terminal.sys, "stdin", os.fdopen(r, "r"))
    lines = terminal.TerminalLines()
    os.write(w, b"yes\nno\npartial")
    assert lines.readline() == "yes\n" and lines.ready(0.0) and lines.readline() == "no\n"
    assert lines.ready(0.1) is False  # half a line is not a line

    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2, 0.2)  # again and again, should one be missed
        with pytest.raises(Stop):
            lines.readline()  # waits for a line that never comes, until the signal
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    os.write(w, b" done\n")
    assert lines.readline() == "partial done\n"
    os.close(w)
    with pytest.raises(EOFError):
        lines.readline()


def test_a_drill_of_a_scenario_that_was_never_broken_says_so_instead_of_timing_a_mitigation() -> None:
    from hybridops.drill import _why

    report = {"recovered": True, "mitigation": None, "time_to_mitigation_s": None, "run_status": "completed",
              "final_health": "healthy", "error": None}
    assert _why(report, {"health": {"status": "healthy"}}) == (
        "recovered: the system was healthy throughout; no action was needed")
