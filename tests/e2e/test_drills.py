"""`hybridops rehearse` on simulated time: the drill matrix of the five incidents recovers and reports in
simulated time; the same seed gives the same drill; seeded faults are injected and reported with what
the runbook did; runbooks without their key action do not recover; the drill's post-incident timeline.

Each drill is a real subprocess (`python -m hybridops rehearse ...`) from a directory without
./runbooks (the packaged runbooks, as after an install). Nothing here depends on the machine's
speed: a drill's waits are simulated, so its outcome follows from the runbook, the scenario and the
seed alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
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
    without_steps,
)

from hybridops.drill import plan_faults
from hybridops.events import ran_to_end
from hybridops.runbook.catalog import PACKAGED

SCENARIO = {
    "outage": "outage",
    "bedrock-failure": "bedrock-down",
    "mcp-failure": "mcp-down",
    "high-error-rate": "error-spike",
    "routing-efficiency": "efficiency-drop",
}
# The operator action each incident's recovery is credited to, and the request it sends.
MITIGATION = {
    "outage": ("restart-routing-service", "deployment"),
    "bedrock-failure": ("force-mcp", "force-MCP for 3600s"),
    "mcp-failure": ("restart-mcp-router", "deployment"),
    "high-error-rate": ("increase-timeout", "timeout 15000ms"),
    "routing-efficiency": ("update-routing-thresholds", "routing thresholds"),
}
FAULT_SEED = 5


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str
    dir: Path
    env: dict[str, str]

    def report(self, name: str) -> dict[str, Any]:
        return json.loads((self.dir / "reports" / f"{name}.json").read_text(encoding="utf-8"))

    def why(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-3000:]}"


def _rehearse(base: Path, name: str, *args: str) -> Ran:
    d = base / name
    d.mkdir()
    env = clean_env(d, d / "audit")
    p = hybridops("rehearse", *args, env=env, timeout=180, cwd=d)  # no ./runbooks there: the packaged ones
    return Ran(p.returncode, p.stdout, p.stderr, d, env)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drills")


@pytest.fixture(scope="module")
def matrix(base: Path) -> Ran:
    """`rehearse --all --auto --report DIR`: the five drills, one after another, in one process."""
    return _rehearse(base, "matrix", "--all", "--auto", "--report", str(base / "matrix" / "reports"))


@pytest.fixture(scope="module")
def faulted(base: Path) -> Ran:
    return _rehearse(base, "faults", "--all", "--auto", "--faults", "--seed", str(FAULT_SEED),
                     "--report", str(base / "faults" / "reports"))


def _logs(ran: Ran) -> dict[str, Path]:
    """incident -> its drill's audit log."""
    out = {}
    for log in sorted((ran.dir / "audit").glob("*.jsonl")):
        records, _ = chained(log)
        out[records[0]["runbook"]["id"]] = log
    return out


def test_the_drill_matrix_recovers_all_five_and_prints_one_table(matrix: Ran) -> None:
    assert matrix.code == 0, matrix.why()
    assert matrix.stderr == ""
    for incident in INCIDENTS:
        assert f"drill {incident} in scenario {SCENARIO[incident]}: RECOVERED" in matrix.stdout
        row = next(line for line in matrix.stdout.splitlines() if line.strip().startswith(incident + " "))
        assert re.search(rf"\b{SCENARIO[incident]}\b.*\byes\b", row), row  # names never cut off
    summary = json.loads((matrix.dir / "reports" / "summary.json").read_text(encoding="utf-8"))
    assert summary["recovered"] is True and summary["seed"] == 0 and summary["faults"] is False
    assert sorted(d["incident"] for d in summary["drills"]) == sorted(INCIDENTS)
    md = (matrix.dir / "reports" / "summary.md").read_text(encoding="utf-8")
    assert md.startswith("# Drill matrix (seed 0)\n")
    assert all(f"| {i} | {SCENARIO[i]} | yes |" in md for i in INCIDENTS), md
    assert sorted(_logs(matrix)) == sorted(INCIDENTS)


@pytest.mark.parametrize("incident", INCIDENTS)
def test_each_drill_reports_in_simulated_time_what_mitigated_it(matrix: Ran, incident: str) -> None:
    report = matrix.report(incident)
    assert (report["incident"], report["scenario"], report["recovered"]) == (incident, SCENARIO[incident], True)
    assert (report["format"], report["clock"], report["seed"], report["faults_enabled"]) == (2, "simulated", 0, False)
    assert not [k for k in report if "world" in k or k == "time_scale"]  # one set of times: simulated
    step, what = MITIGATION[incident]
    assert report["mitigation"]["step"] == step and what in report["mitigation"]["what"], report["mitigation"]
    assert report["why"].startswith(f"recovered: step {step} (")
    ttm = report["time_to_mitigation_s"]
    assert isinstance(ttm, float) and 0 < ttm < report["duration_s"]
    assert report["final_health"] == "healthy" and report["health"][-1]["status"] == "healthy"
    assert report["faults"] == []

    # Every step the log says ran is in the report, in order, with the log's own figures.
    records, torn = chained(_logs(matrix)[incident])
    assert torn == b""
    finished = events(records, "step_finished")
    started = {r["step_id"]: r for r in events(records, "step_started")}
    assert [s["id"] for s in report["steps"]] == [r["step_id"] for r in finished]
    for s, r in zip(report["steps"], finished, strict=True):
        assert (s["status"], s["duration_s"], s["budget_s"], s["over_budget"]) == \
            (r["status"], r["duration_s"], r["budget_s"], r["over_budget"])
        assert s["started_s"] == started[s["id"]]["at_s"] <= r["at_s"]
        assert s["budget_s"] == r["budget_world_s"]  # budgets are the runbook's own: nothing is scaled
    assert report["over_budget"] == [s["id"] for s in report["steps"] if s["over_budget"]]
    assert report["failed"] == [s["id"] for s in report["steps"] if s["status"] == "failed"]
    # Waits and polls took their simulated time, however fast the process ran.
    runbook = yaml.safe_load((PACKAGED / f"{incident}.yaml").read_text(encoding="utf-8"))
    waits = {st["id"]: st["wait"]["duration"] for ph in runbook["phases"] for st in ph["steps"] if "wait" in st}
    for s in report["steps"]:
        if s["id"] in waits and s["status"] == "ok":
            assert s["duration_s"] >= _seconds(waits[s["id"]]), s
    assert report["duration_s"] >= sum(s["duration_s"] for s in report["steps"]) - 1


def _seconds(text: str) -> float:
    from hybridops.durations import parse_duration

    return parse_duration(text)


@pytest.mark.parametrize("incident", INCIDENTS)
def test_each_drill_is_audited_as_a_drill_on_simulated_time(matrix: Ran, incident: str) -> None:
    log = _logs(matrix)[incident]
    records, _ = chained(log)
    first, last = records[0], records[-1]
    assert (first["drill"], first["scenario"], first["clock"], first["seed"]) == (True, SCENARIO[incident],
                                                                                  "simulated", 0)
    assert Path(first["runbook"]["path"]).parent == PACKAGED
    assert (last["event"], last["status"]) == ("run_finished", matrix.report(incident)["run_status"])
    assert last["status"] == ("completed_with_failures" if incident == "bedrock-failure" else "completed")
    assert last["duration_s"] == matrix.report(incident)["duration_s"]
    assert log.stem == matrix.report(incident)["run_id"]
    verify = hybridops("audit", "verify", log.stem, env=matrix.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_markdown_report_has_a_gantt_chart_health_and_budgets(matrix: Ran) -> None:
    md = (matrix.dir / "reports" / "mcp-failure.md").read_text(encoding="utf-8")
    report = matrix.report("mcp-failure")
    assert md.startswith("# Drill report: mcp-failure (scenario mcp-down)\n")
    assert "- **Recovered:** yes (final health: healthy)" in md
    assert f"- **Why:** {report['why']}" in md and "- **Seed:** 0" in md
    chart = md.split("```mermaid\n", 1)[1].split("```", 1)[0].splitlines()
    assert chart[:5] == ["gantt", "    title mcp-failure drill (simulated time)", "    dateFormat YYYY-MM-DDTHH:mm:ss",
                         "    axisFormat %H:%M:%S", "    todayMarker off"]
    bars = [line.strip() for line in chart if re.match(r"\s+\S.* :(done|crit|b\d+)", line)]
    assert len(bars) == 2 * len(report["steps"])  # a budget bar and a bar of what it took, per step
    for i, s in enumerate(report["steps"]):
        start = datetime.fromtimestamp(int(report["started_wall"] + s["started_s"]), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert bars[2 * i].startswith(f"{s['id']} budget ") and bars[2 * i].endswith(
            f":b{i}, {start}, {max(1, round(s['budget_s']))}s")
        assert bars[2 * i + 1].startswith(f"{s['id']} {s['status']} ") and bars[2 * i + 1].endswith(
            f", s{i}, {start}, {max(1, round(s['duration_s']))}s")
    health = md.split("## Health over time", 1)[1]
    assert "| restart-mcp-router |" in health and "| healthy | action | deployment" in health


def test_the_same_seed_gives_the_same_drill_and_another_seed_other_faults(base: Path) -> None:
    args = ("mcp-failure", "--auto", "--faults", "--seed", "11")
    one, two = (_rehearse(base, f"seeded-{n}", *args, "--report", str(base / f"seeded-{n}" / "r.json"))
                for n in (1, 2))
    a, b = (json.loads((r.dir / "r.json").read_text(encoding="utf-8")) for r in (one, two))
    assert (one.code, two.code) == (0 if a["recovered"] else 1, 0 if b["recovered"] else 1)
    assert a["seed"] == b["seed"] == 11
    assert [(s["id"], s["status"], s["requests"]) for s in a["steps"]] == \
        [(s["id"], s["status"], s["requests"]) for s in b["steps"]]
    assert [(f["kind"], f["what"], f["hit"], f["step"]) for f in a["faults"]] == \
        [(f["kind"], f["what"], f["hit"], f["step"]) for f in b["faults"]]
    assert a["faults"], "seed 11 injects faults into mcp-failure"
    assert (a["recovered"], a["mitigation"]["step"] if a["mitigation"] else None) == \
        (b["recovered"], b["mitigation"]["step"] if b["mitigation"] else None)
    # Timings agree within the few simulated seconds real processing adds.
    for x, y in zip(a["steps"], b["steps"], strict=True):
        assert abs(x["started_s"] - y["started_s"]) < 5 and abs(x["duration_s"] - y["duration_s"]) < 5, (x, y)
    assert plan_faults(11, "mcp-failure") != plan_faults(12, "mcp-failure")


def test_the_fault_matrix_reports_every_fault_and_the_outcome_of_each_drill(faulted: Ran) -> None:
    summary = json.loads((faulted.dir / "reports" / "summary.json").read_text(encoding="utf-8"))
    assert (summary["seed"], summary["faults"]) == (FAULT_SEED, True)
    assert faulted.code == (0 if all(d["recovered"] for d in summary["drills"]) else 1), faulted.why()
    assert f"drills (seed {FAULT_SEED}, with injected faults, simulated time)" in faulted.stdout
    injected = 0
    for incident in INCIDENTS:
        report = faulted.report(incident)
        assert report["faults_enabled"] is True and report["seed"] == FAULT_SEED
        planned = {f["kind"] for f in plan_faults(FAULT_SEED, incident)}
        for f in report["faults"]:
            assert f["kind"] in planned, (incident, f)
            assert isinstance(f["t"], float) and f["response"], f
            if f["kind"] in ("http-503", "slow", "aws-throttle"):
                assert f["hit"] and f["step"] in {s["id"] for s in report["steps"]} | {None}, f
                if f["step"] is not None:
                    assert f["response"].startswith(f["step"] + " "), f
        injected += len(report["faults"])
        row = next(d for d in summary["drills"] if d["incident"] == incident)
        assert (row["recovered"], row["faults"]) == (report["recovered"], len(report["faults"]))
        if not report["recovered"]:
            assert f"{incident}: {report['why']}" in faulted.stdout
        md = (faulted.dir / "reports" / f"{incident}.md").read_text(encoding="utf-8")
        assert "## Injected faults" in md
    assert injected >= 5, "the seed injects faults into the drills"


@pytest.fixture(scope="module")
def broken(base: Path) -> Ran:
    """Two runbooks without their key action, drilled as a matrix of their own."""
    d = base / "broken-runbooks"
    dropped = [
        without_steps(REPO_RUNBOOKS / "bedrock-failure.yaml", d, posts_to("/admin/routing/force-mcp"),
                      redirect={"rollback-to-mcp": "notify-rollback"}),
        without_steps(REPO_RUNBOOKS / "outage.yaml", d, posts_to("/admin/circuit-breaker/reset")),
    ]
    assert dropped == [["force-mcp", "rollback-to-mcp"], ["reset-circuit-breakers"]]
    return _rehearse(base, "broken", "--all", "--auto", "--runbooks", str(d), "--report",
                     str(base / "broken" / "reports"))


def test_runbooks_without_their_key_action_do_not_recover(broken: Ran) -> None:
    assert broken.code == 1, broken.why()
    bedrock, outage = broken.report("bedrock-failure"), broken.report("outage")
    for report in (bedrock, outage):
        assert report["recovered"] is False and report["system_recovered"] is False
        assert ran_to_end(report["run_status"]), report["error"]  # a verdict on the system, not a crash
        assert f"drill {report['incident']} in scenario {report['scenario']}: NOT RECOVERED" in broken.stdout
    # Bedrock came back by itself after 20 simulated minutes: that is no one's mitigation.
    assert bedrock["final_health"] == "healthy" and bedrock["mitigation"] is None
    [healed] = [h for h in bedrock["health"] if h["cause"] == "self"]
    assert healed["what"] == "Bedrock answers again" and abs(healed["t"] - 20 * 60) < 5  # minus the run's start
    assert re.fullmatch(r"not recovered by the runbook: bedrock answers again by itself (19m5\ds|20m00s) into "
                        r"the run; no operator action mitigated it first", bedrock["why"]), bedrock["why"]
    assert outage["why"].startswith("not recovered: final health critical")
    logs = _logs(broken)
    for incident, path in (("bedrock-failure", "/admin/routing/force-mcp"),
                           ("outage", "/admin/circuit-breaker/reset")):
        records, _ = chained(logs[incident])
        assert [r for r in events(records, "request") if r.get("path") == path] == []


def test_timeline_of_a_drill_has_its_gantt_chart(matrix: Ran) -> None:
    log = _logs(matrix)["bedrock-failure"]
    records, _ = chained(log)
    p = hybridops("audit", "timeline", log.stem, "--format", "md", env=matrix.env)
    assert p.returncode == 0, p.stderr
    md = p.stdout
    assert md.startswith("# Incident timeline: Bedrock Client Failure\n")
    assert "- **Mode:** drill (scenario bedrock-down), simulated time, seed 0" in md
    assert "| force-mcp (mitigation) | ok |" in md
    chart = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert chart.startswith("gantt\n    title Bedrock Client Failure - steps against budget\n")
    for r in events(records, "step_finished"):
        assert f"    {r['step_id']} {r['status']} " in chart, r["step_id"]
    assert lines(p) == []


def test_a_drill_is_not_resumed(matrix: Ran) -> None:
    log = _logs(matrix)["outage"]
    kept = log.read_bytes()
    p = hybridops("resume", log.stem, "--yes", env=matrix.env)
    assert p.returncode == 1
    assert lines(p) == ["error: a drill's sandbox ended with it; start the drill again with `hybridops rehearse`"]
    assert log.read_bytes() == kept


def test_one_drill_with_json_output_and_a_markdown_report(base: Path) -> None:
    ran = _rehearse(base, "one", "routing-efficiency", "--auto", "--output", "json", "--report",
                    str(base / "one" / "r.md"))
    assert ran.code == 0, ran.why()
    last = json.loads(ran.stdout.splitlines()[-1])
    assert last["event"] == "drill_report" and last["recovered"] is True and last["incident"] == "routing-efficiency"
    assert all(json.loads(line)["event"] for line in ran.stdout.splitlines())  # one JSON object per line
    assert (ran.dir / "r.md").read_text(encoding="utf-8").startswith("# Drill report: routing-efficiency")
    assert only_log(ran.dir / "audit").stem == last["run_id"]


@pytest.mark.parametrize(("args", "message"), [
    (["--all", "outage"], "error: give a runbook id, or --all"),
    ([], "error: give a runbook id, or --all"),
    (["--all", "--scenario", "outage"],
     "error: --scenario does not go with --all: each runbook is drilled in its own scenario"),
    (["--all", "--report", "x.json"],
     "error: with --all, --report names a directory (one report per drill, and a summary)"),
    (["outage", "--report", "x.txt"], "error: --report must end in .json or .md"),
    (["outage", "--time-scale", "120"], None),
])
def test_rehearse_usage_errors(base: Path, tmp_path: Path, args: list[str], message: str | None) -> None:
    p = hybridops("rehearse", *args, env=clean_env(tmp_path, tmp_path / "audit"))
    assert p.returncode == 2, p.stderr
    if message is not None:
        assert lines(p) == [message]
    else:  # drills have no time scale any more: their time is simulated
        assert "--time-scale" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "audit").exists()


def test_a_drill_ignores_the_operators_own_aws_and_hybridops_settings(base: Path) -> None:
    # A broken AWS profile, real-looking keys, another endpoint and admin API in the shell: the drill
    # uses none of them (it must never reach a real account) and leaves its process environment alone.
    d = base / "hostile"
    d.mkdir()
    env = {**clean_env(d, d / "audit"), "AWS_PROFILE": "no-such-profile", "AWS_ACCESS_KEY_ID": "AKIAREALLOOKING",
           "AWS_SECRET_ACCESS_KEY": "real-looking-secret", "AWS_SESSION_TOKEN": "real-looking-token",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "HYBRIDOPS_ADMIN_URL": "http://127.0.0.1:9",
           "HYBRIDOPS_ADMIN_TOKEN": "operator-token", "AWS_CONFIG_FILE": str(d / "missing")}
    p = hybridops("rehearse", "mcp-failure", "--auto", "--report", d / "r.json", env=env, cwd=d, timeout=180)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr
    report = json.loads((d / "r.json").read_text(encoding="utf-8"))
    assert report["recovered"] is True and report["failed"] == []
    records, _ = chained(only_log(d / "audit"))
    started = records[0]
    assert started["admin_url"].startswith("http://127.0.0.1:") and started["admin_url"] != "http://127.0.0.1:9"
    assert "operator-token" not in json.dumps(records) and "real-looking" not in json.dumps(records)
