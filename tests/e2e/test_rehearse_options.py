"""`rehearse --scenario`: a runbook drilled against the wrong incident does not recover it."""

from __future__ import annotations

import json
from pathlib import Path

from _drill_helpers import clean_env, hybridops


def test_a_runbook_rehearsed_in_another_scenario_does_not_recover_it(tmp_path: Path) -> None:
    env = clean_env(tmp_path, tmp_path / "audit")
    report = tmp_path / "r.json"
    # Restarting the MCP router does nothing for a full outage.
    p = hybridops("rehearse", "mcp-failure", "--scenario", "outage", "--auto", "--report", report, env=env)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["incident"], data["scenario"], data["recovered"]) == ("mcp-failure", "outage", False)
    assert data["final_health"] == "critical"
    assert "NOT RECOVERED" in p.stdout


def test_an_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    env = clean_env(tmp_path, tmp_path / "audit")
    p = hybridops("rehearse", "outage", "--scenario", "volcano", "--auto", env=env)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "error: unknown scenario 'volcano'; choose one of healthy, outage, bedrock-down, mcp-down, "
        "error-spike, efficiency-drop"]
    assert not (tmp_path / "audit").exists() or not list((tmp_path / "audit").glob("*.jsonl"))
