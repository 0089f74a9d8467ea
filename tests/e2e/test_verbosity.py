"""-q, the default and -v of a real run against the sandbox (over real HTTP, not on a terminal): what
each shows of the same incident, and that the audit log records the same whatever is shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from e2e_support import check_run_log, step_status

from hybridops.sandbox import Sandbox

ARGS = ["incident", "mcp-failure", "--read-only"]


def test_each_verbosity_shows_what_it_says(scenario: Callable[[str], Sandbox], run: Callable[..., Any]) -> None:
    sb = scenario("mcp-down")
    health = f"{sb.admin_url}/health/component/mcp-router"
    quiet, default, verbose = (run([*ARGS, *flag]) for flag in (["-q"], [], ["-v"]))
    assert quiet.code == default.code == verbose.code == 4, default.stdout[-2000:]  # read-only: not recovered

    # the default: a poll shows its request once, then one line per check with what it shows
    watch = section(default.stdout, "monitor-mcp-recovery")
    checks = [x for x in watch if re.match(r"  poll #\d+: ", x)]
    assert watch[1] == f"  polling GET {health}" and len(checks) > 3
    assert all("mcp-router critical, 30000.0 ms, 100.0 % errors — condition not yet" in x for x in checks)
    assert not any(x.startswith(("  → ", "  ← ")) for x in watch)

    # -q: one line per step, the verdict; no request, no poll, no table
    qlines = quiet.stdout.splitlines()
    statuses = step_status(events_of(quiet))
    assert [x.split()[0] for x in qlines if x.startswith("  ") and x.split()[0] in statuses] == list(statuses)
    assert not any("→" in x or "poll #" in x or "polling" in x for x in qlines)
    assert any(x.startswith("ended unresolved") for x in qlines) and "time to first mitigation" not in quiet.stdout

    # -v: every request and response with its content, the poll's included
    vwatch = section(verbose.stdout, "monitor-mcp-recovery")
    assert vwatch.count(f"  → GET {health}") == len([x for x in vwatch if x.startswith("  poll #")]) == len(checks)
    assert re.search(r'  ← 200 in \S+  \{"component": "mcp-router", "status": "critical"', verbose.stdout)

    # what is shown never changes what is recorded
    assert step_status(events_of(quiet)) == step_status(events_of(default)) == step_status(events_of(verbose))


def section(stdout: str, step: str) -> list[str]:
    """The lines a step printed, from its ▶ line to the next step's."""
    lines = stdout.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"▶ {step} "))
    end = next((i for i, x in enumerate(lines) if i > start and x.startswith("▶ ")), len(lines))
    return lines[start:end]


def events_of(result: Any) -> list[dict[str, Any]]:
    return check_run_log(result.log(), runbook="mcp-failure", status="unresolved", read_only=True)


def test_quiet_and_verbose_together_is_a_usage_error(run: Callable[..., Any]) -> None:
    result = run([*ARGS, "-q", "-v"])
    assert (result.code, result.stdout, result.stderr) == (2, "", "error: -q/--quiet and -v/--verbose cannot be "
                                                                  "used together\n")
    assert result.logs() == []  # refused before anything was opened or sent
