"""`hybridops undo` against the sandbox: a bedrock-failure run's force-MCP and percentage changes are
reversed newest first, confirmed (--yes) and audited in a log linked to the run; the world's state
shows it; --dry-run shows the plan and sends nothing; an undo is not undone again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e_support import CliResult, admin_calls, chained_records, events, run_cli

from hybridops.audit.log import verify_log
from hybridops.sandbox import Sandbox

BEFORE = 80  # the scenario's share of direct Bedrock before the incident


def test_undo_reverses_a_bedrock_failure_run_and_the_world_shows_it(scenario: Callable[[str], Sandbox],
                                                                   cli_env: dict[str, str], tmp_path: Any) -> None:
    sb = scenario("bedrock-down")
    env = {**cli_env, "HYBRIDOPS_AUDIT_DIR": str(tmp_path / "audit")}  # one audit dir for the run and its undo

    def run(args: list[str], env: dict[str, str]) -> CliResult:
        return run_cli(args, env, cwd=tmp_path)

    result = run(["incident", "bedrock-failure", "--yes", "--answer", "wait-or-investigate=wait"], env=env)
    assert result.code == 3, result.stderr  # the probe fails while Bedrock is down
    metrics = sb.world.metrics()
    assert (metrics["bedrockPercentage"], metrics["forceMcpUntil"]) == (100, None)
    incident_run = result.log().stem

    plan = run(["undo", "last", "--dry-run"], env=env)
    assert plan.code == 0, plan.stderr
    assert plan.stdout.splitlines()[:5] == [
        f"undo of run {incident_run}: 4 change(s), newest first",
        "  undo-1-bedrock-100-percent: Undo Increase direct Bedrock to 100% (reverses step bedrock-100-percent)",
        "  undo-2-bedrock-50-percent: Undo Increase direct Bedrock to 50% (reverses step bedrock-50-percent)",
        "  undo-3-bedrock-10-percent: Undo Enable direct Bedrock for 10% of traffic (reverses step "
        "bedrock-10-percent)",
        "  undo-4-force-mcp: Undo Enable aggressive MCP fallback (force MCP) (reverses step force-mcp)"]
    sent = len(sb.requests())
    assert sb.world.metrics()["bedrockPercentage"] == 100 and len(sb.requests()) == sent  # nothing sent

    undone = run(["undo", "last", "--yes"], env=env)  # `last` skips the dry run: the incident's run
    assert undone.code == 0, undone.stderr
    metrics = sb.world.metrics()
    assert (metrics["bedrockPercentage"], metrics["forceMcpUntil"]) == (BEFORE, None)  # as before the run
    undos = {p: chained_records(p) for p in (tmp_path / "audit").glob("*-bedrock-failure-undo-*.jsonl")}
    assert sorted(r[0]["dry_run"] for r in undos.values()) == [False, True]  # the plan, then the undo
    undo_log, records = next((p, r) for p, r in undos.items() if not r[0]["dry_run"])
    assert verify_log(undo_log, require_finished=True).status == "completed"
    assert records[0]["undo_of"] == incident_run and records[0]["runbook"]["id"] == "bedrock-failure"
    assert [(r["step_id"], r["status"]) for r in events(records, "step_finished")] == [
        ("undo-1-bedrock-100-percent", "ok"), ("undo-2-bedrock-50-percent", "ok"),
        ("undo-3-bedrock-10-percent", "ok"), ("undo-4-force-mcp", "ok")]
    assert [p["source"] for p in events(records, "prompt")] == ["--yes"] * 4  # each confirmed
    calls = sb.requests()[sent:]
    assert [c["path"] for c in calls if c["api"] == "admin" and c["method"] == "POST"] == [
        "/admin/routing/force-mcp"] * 3 + ["/admin/routing/bedrock-percentage"]
    assert admin_calls(calls, "POST", "/admin/routing/bedrock-percentage")[0]["body"] == {"percentage": BEFORE}

    again = run(["undo", undo_log.stem, "--yes"], env=env)
    assert again.code == 1 and again.stderr.splitlines() == [
        f"error: run {undo_log.stem} is itself the undo of run {incident_run}"]


def test_a_run_without_changes_has_nothing_to_undo(scenario: Callable[[str], Sandbox], cli_env: dict[str, str],
                                                   tmp_path: Any) -> None:
    scenario("mcp-down")
    env = {**cli_env, "HYBRIDOPS_AUDIT_DIR": str(tmp_path / "audit")}

    def run(args: list[str], env: dict[str, str]) -> CliResult:
        return run_cli(args, env, cwd=tmp_path)

    result = run(["incident", "mcp-failure", "--read-only"], env=env)
    assert result.code == 4, result.stderr
    undo = run(["undo", result.log().stem, "--yes"], env=env)
    assert undo.code == 1 and undo.stderr.splitlines() == [
        f"error: run {result.log().stem} has no completed change that declares an undo"]


HOLD = """
import sys
from hybridops.engine.lock import FileLock, new_holder
lease = FileLock(sys.argv[1], "bedrock-failure").acquire(new_holder("bedrock-failure", "run-A", "alice@h"))
print("held", flush=True)
sys.stdin.readline()
lease.release()
"""


def test_an_undo_holds_the_incident_as_a_run_does(scenario: Callable[[str], Sandbox], cli_env: dict[str, str],
                                                  tmp_path: Any) -> None:
    import subprocess
    import sys

    sb = scenario("bedrock-down")
    audit = tmp_path / "audit"
    env = {**cli_env, "HYBRIDOPS_AUDIT_DIR": str(audit)}
    result = run_cli(["incident", "bedrock-failure", "--yes", "--answer", "wait-or-investigate=wait"], env,
                     cwd=tmp_path)
    assert result.code == 3, result.stderr
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(audit)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"  # another live run holds it
        sent = len(sb.requests())
        refused = run_cli(["undo", "last", "--yes"], env, cwd=tmp_path)
        assert refused.code == 1 and "incident bedrock-failure is being run by alice@h" in refused.stderr
        assert len(sb.requests()) == sent and sb.world.metrics()["bedrockPercentage"] == 100  # nothing sent
        taken = run_cli(["undo", "last", "--yes", "--take-over"], env, cwd=tmp_path)
        assert taken.code == 0, taken.stderr
        assert sb.world.metrics()["bedrockPercentage"] == BEFORE
        undo_log = next(audit.glob("*-bedrock-failure-undo-*.jsonl"))
        assert [r["holder_run_id"] for r in events(chained_records(undo_log), "lock_taken_over")] == ["run-A"]
    finally:
        holder.communicate("\n", timeout=30)
