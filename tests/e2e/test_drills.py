"""`hybridops rehearse`: each of the five incidents, rehearsed with --auto at the default time scale,
recovers its sandbox and says so in a JSON and a Markdown report and in an audit log marked as a drill;
a runbook without its key action does not recover; the drill's post-incident timeline.

All drills run once, side by side, as real subprocesses (they spend most of their time in scaled
waits); the tests then read what they left.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _drill_helpers import (
    INCIDENTS,
    REPO_RUNBOOKS,
    chained,
    clean_env,
    events,
    hybridops,
    lines,
    only_log,
    posts_to,
    start,
    without_steps,
)

from hybridops.runbook.catalog import PACKAGED

PARALLEL = 3
DEFAULT_SCALE = 120.0  # `rehearse`'s default --time-scale; the drills below never pass one
SCENARIO = {
    "outage": "outage",
    "bedrock-failure": "bedrock-down",
    "mcp-failure": "mcp-down",
    "high-error-rate": "error-spike",
    "routing-efficiency": "efficiency-drop",
}
BROKEN = {
    # the runbook, what is taken out of it, and the request that must then never be sent
    "bedrock-without-force-mcp": ("bedrock-failure", "/admin/routing/force-mcp"),
    "outage-without-breaker-reset": ("outage", "/admin/circuit-breaker/reset"),
}


@dataclass
class Drill:
    name: str
    args: list[str]
    audit_dir: Path
    report: Path
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    wall_s: float = 0.0
    code: int | None = None
    stdout: str = ""
    stderr: str = ""

    def data(self) -> dict[str, Any]:
        assert self.report.is_file(), f"{self.name}: no report at {self.report}; stderr: {self.stderr[-2000:]}"
        return json.loads(self.report.read_text(encoding="utf-8"))

    def log(self) -> Path:
        return only_log(self.audit_dir)

    def why(self) -> str:
        return f"{self.name}: exit {self.code}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}"


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Drill]:
    base = tmp_path_factory.mktemp("drills")
    broken_dir = base / "broken-runbooks"
    dropped = {
        "bedrock-without-force-mcp": without_steps(
            REPO_RUNBOOKS / "bedrock-failure.yaml", broken_dir / "bedrock", posts_to("/admin/routing/force-mcp"),
            redirect={"rollback-to-mcp": "notify-rollback"}),
        "outage-without-breaker-reset": without_steps(
            REPO_RUNBOOKS / "outage.yaml", broken_dir / "outage", posts_to("/admin/circuit-breaker/reset")),
    }
    assert dropped == {"bedrock-without-force-mcp": ["force-mcp", "rollback-to-mcp"],
                       "outage-without-breaker-reset": ["reset-circuit-breakers"]}

    def drill(name: str, *args: str, report: str) -> Drill:
        d = base / name
        d.mkdir()
        return Drill(name, list(args), d / "audit", d / report, clean_env(d, d / "audit"))

    todo = [drill(i, "rehearse", i, "--auto", "--report", str(base / i / "report.json"), report="report.json")
            for i in INCIDENTS]
    md = drill("md", "rehearse", "routing-efficiency", "--auto", "--report", str(base / "md" / "report.md"),
               "--audit-dir", str(base / "md" / "audit"), report="report.md")
    md.env["HYBRIDOPS_AUDIT_DIR"] = str(base / "md" / "not-here")  # --audit-dir wins over the environment
    todo.append(md)
    for name, (incident, _) in BROKEN.items():
        todo.append(drill(name, "rehearse", incident, "--auto", "--runbooks", str(broken_dir / incident.split("-")[0]),
                          "--report", str(base / name / "report.json"), report="report.json"))
    # Longest first, a few at a time: on two cores, eight drills starting at once spend their first
    # seconds fighting over the CPU while their sandboxes' clocks already run at 120x.
    queue = sorted(todo, key=lambda d: d.args[1] != "bedrock-failure")
    running: list[Drill] = []
    while queue or running:
        while queue and len(running) < PARALLEL:
            d = queue.pop(0)
            d.started = time.monotonic()
            d.proc = start(*d.args, env=d.env, cwd=d.audit_dir.parent)  # no ./runbooks: the packaged ones
            running.append(d)
        time.sleep(0.05)
        for d in list(running):
            assert d.proc is not None
            if d.proc.poll() is not None:
                d.wall_s = time.monotonic() - d.started
                d.stdout, d.stderr = d.proc.communicate()
                d.code = d.proc.returncode
                running.remove(d)
            elif time.monotonic() - d.started > 180:
                d.proc.kill()
                raise AssertionError(f"drill {d.name} still running after 180s")
    print(f"\ndrill wall times ({PARALLEL} at a time, default time scale):")
    for d in todo:
        print(f"  {d.name:<30} exit {d.code}  {d.wall_s:5.1f}s")
    return {d.name: d for d in todo}


def _close(a: float, b: float, tol: float) -> bool:
    return math.isclose(a, b, abs_tol=tol)


@pytest.mark.parametrize("incident", INCIDENTS)
def test_rehearse_auto_recovers_and_reports(drills: dict[str, Drill], incident: str) -> None:
    d = drills[incident]
    assert d.code == 0, d.why()
    report = d.data()
    print(f"{incident}: {d.wall_s:.1f}s wall, run {report['duration_s']}s "
          f"(≈{report['world_duration_s']}s real-world), time to mitigation {report['time_to_mitigation_s']}s "
          f"(≈{report['time_to_mitigation_world_s']}s real-world), over budget {report['over_budget']}")
    assert report["incident"] == incident
    assert report["scenario"] == SCENARIO[incident]  # the scenario matching the incident, by default
    assert report["recovered"] is True
    assert report["run_status"] == "completed"
    assert report["time_scale"] == DEFAULT_SCALE
    ttm = report["time_to_mitigation_s"]
    assert isinstance(ttm, int | float) and not isinstance(ttm, bool) and ttm > 0
    assert _close(report["time_to_mitigation_world_s"], ttm * DEFAULT_SCALE, 0.1 + 0.0005 * DEFAULT_SCALE)
    assert f"drill {incident} in scenario {SCENARIO[incident]}: RECOVERED" in d.stdout

    # Every step the log says ran is in the report, in order, with its duration and budget both as
    # measured (scaled) and as the real-world time they stand for.
    records, torn = chained(d.log())
    assert torn == b""
    finished = events(records, "step_finished")
    steps = report["steps"]
    assert [s["id"] for s in steps] == [r["step_id"] for r in finished]
    assert steps, "a drill that ran no step"
    for s, r in zip(steps, finished, strict=True):
        for key in ("duration_s", "budget_s", "world_duration_s", "world_budget_s"):
            assert isinstance(s[key], int | float) and s[key] >= 0, (s["id"], key, s[key])
        assert s["status"] == r["status"]
        assert s["duration_s"] == r["duration_s"] and s["budget_s"] == r["budget_s"]
        assert s["world_budget_s"] == r["budget_world_s"], s["id"]  # the runbook's own budget
        assert _close(s["world_duration_s"], s["duration_s"] * DEFAULT_SCALE, 0.1 + 0.0005 * DEFAULT_SCALE)
        assert _close(s["budget_s"] * DEFAULT_SCALE, s["world_budget_s"], 0.0005 * DEFAULT_SCALE + 1e-6)
        assert s["over_budget"] is r["over_budget"]
    assert report["over_budget"] == [s["id"] for s in steps if s["over_budget"]]
    assert report["failed"] == [s["id"] for s in steps if s["status"] == "failed"]
    assert report["skipped"] == [s["id"] for s in steps if s["status"] in ("skipped", "declined")]


@pytest.mark.parametrize("incident", INCIDENTS)
def test_drill_is_audited_as_a_drill(drills: dict[str, Drill], incident: str) -> None:
    d = drills[incident]
    log = d.log()
    records, _ = chained(log)
    started, last = records[0], records[-1]
    assert started["event"] == "run_started"
    assert started["drill"] is True and started["scenario"] == SCENARIO[incident]
    assert started["runbook"]["id"] == incident and started["yes"] is True
    assert Path(started["runbook"]["path"]).parent == PACKAGED  # what a fresh install finds, from any directory
    assert started["time_scale"] == DEFAULT_SCALE
    assert log.stem == d.data()["run_id"]
    assert (last["event"], last["status"]) == ("run_finished", "completed")
    verify = hybridops("audit", "verify", log.stem, env=d.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listed = hybridops("audit", "list", "--format", "json", env=d.env)
    assert listed.returncode == 0, listed.stderr
    assert '"drill": true' in listed.stdout and log.stem in listed.stdout


def test_markdown_report_renders(drills: dict[str, Drill]) -> None:
    d = drills["md"]
    assert d.code == 0, d.why()
    text = d.report.read_text(encoding="utf-8")
    assert text.startswith("# Drill report: routing-efficiency (scenario efficiency-drop)\n")
    assert "- **Recovered:** yes" in text
    assert "- **Time to mitigation:** n/a" not in text and "real-world)" in text
    assert not Path(d.env["HYBRIDOPS_AUDIT_DIR"]).exists()
    records, _ = chained(d.log())
    assert f"`{d.log().stem}`, completed" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| step |")]
    assert [row.split(" | ")[0].removeprefix("| ") for row in table] == \
        [r["step_id"] for r in events(records, "step_finished")]
    assert all(row.count("|") == 7 for row in table), table


@pytest.mark.parametrize("name", BROKEN)
def test_runbook_without_its_key_action_does_not_recover(drills: dict[str, Drill], name: str) -> None:
    d = drills[name]
    incident, path = BROKEN[name]
    report = d.data()
    print(f"{name}: {d.wall_s:.1f}s wall, final health {report['final_health']}, failed {report['failed']}")
    assert d.code == 1, d.why()
    assert report["incident"] == incident and report["scenario"] == SCENARIO[incident]
    assert report["recovered"] is False and report["system_recovered"] is False
    # The runbook ran to its end: the verdict is about the system, not a crash of the run.
    assert report["run_status"] == "completed", report["error"]
    assert f"drill {incident} in scenario {SCENARIO[incident]}: NOT RECOVERED" in d.stdout
    records, _ = chained(d.log())
    assert records[0]["drill"] is True
    assert [r for r in events(records, "request") if r.get("path") == path] == []
    assert events(records, "run_finished")[-1]["status"] == "completed"


def test_timeline_of_a_completed_drill(drills: dict[str, Drill]) -> None:
    d = drills["bedrock-failure"]
    log = d.log()
    records, _ = chained(log)
    p = hybridops("audit", "timeline", log.stem, "--format", "md", env=d.env)
    assert p.returncode == 0, p.stderr
    md = p.stdout
    assert md.startswith("# Incident timeline: Bedrock Client Failure\n")
    assert "- **Mode:** drill (scenario bedrock-down), time scale 120" in md
    # The force-MCP change, as the action it was, with its decision and result.
    change = [line for line in md.splitlines() if "| force-mcp |" in line and "Change:" in line]
    assert change == [next(line for line in md.splitlines()
                           if line.endswith('| force-mcp | Change: `POST /admin/routing/force-mcp '
                                            '{"reason":"Bedrock unavailable","duration":3600}` |'))]
    assert any("| force-mcp | Decision: Run mutating step force-mcp? -> yes (--yes) |" in line
               for line in md.splitlines())
    # Time to mitigation: the first mitigation step, as the log's run_finished has it.
    ttm = events(records, "run_finished")[-1]["time_to_mitigation_s"]
    assert isinstance(ttm, int | float) and ttm > 0
    ttm_line = next(line for line in md.splitlines() if line.startswith("- **Time to mitigation:**"))
    assert ttm_line.endswith("(`force-mcp`)"), ttm_line
    # Over-budget steps named in the summary and marked in the budget table; none marked otherwise.
    over = [r["step_id"] for r in events(records, "step_finished") if r["over_budget"]]
    summary = [line for line in md.splitlines() if line.startswith("- **Over budget:**")]
    budget_rows = md.split("## Steps against budget", 1)[1].splitlines()
    marked = [row.split(" | ")[0].removeprefix("| ").removesuffix(" (mitigation)")
              for row in budget_rows if row.startswith("| ") and row.rstrip().endswith("** |")]
    assert marked == over
    if over:
        assert all(f"`{s}`" in summary[0] for s in over), summary
    else:
        assert summary == []
    assert "| force-mcp (mitigation) | ok |" in md
    assert lines(p) == []


def test_a_drill_is_not_resumed(drills: dict[str, Drill]) -> None:
    d = drills["outage-without-breaker-reset"]
    kept = d.log().read_bytes()
    p = hybridops("resume", d.log().stem, "--yes", env=d.env)
    assert p.returncode == 1
    assert lines(p) == ["error: a drill's sandbox ended with it; start the drill again with `hybridops rehearse`"]
    assert d.log().read_bytes() == kept
