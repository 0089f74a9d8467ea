"""`hybridops import` through the real CLI: the source runbook's page becomes five runbook files that
`hybridops validate` accepts, and a page `hybridops render` wrote imports back to a valid runbook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from e2e_support import CliResult, admin_calls, aws_calls, base_env, run_cli

from hybridops.sandbox import Sandbox

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "markdown" / "source-runbook.md"


def test_import_then_validate(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    out = tmp_path / "imported"
    result = run_cli(["import", str(SOURCE), "-o", str(out)], env)
    assert result.code == 0, result.stderr
    written = sorted(p.name for p in out.glob("*.yaml"))
    assert written == ["bedrock-client-failure.yaml", "complete-system-outage.yaml", "high-error-rate.yaml",
                       "mcp-router-failure.yaml", "routing-efficiency-degradation.yaml"]
    assert sorted(Path(line).name for line in result.stdout.split()) == written
    assert f"{SOURCE}:171:4: kept as a manual step" in result.stderr
    assert "Traceback" not in result.stderr
    checked = run_cli(["validate", str(out)], env)
    assert checked.code == 0, checked.stdout + checked.stderr
    assert "5 runbooks valid" in checked.stdout + checked.stderr

    page = tmp_path / "routing-efficiency.md"
    assert run_cli(["render", "routing-efficiency", "-o", str(page)], env).code == 0
    back = run_cli(["import", str(page), "-o", str(tmp_path / "back")], env)
    assert back.code == 0, back.stderr
    assert (tmp_path / "back" / "routing-efficiency.yaml").is_file()
    assert run_cli(["validate", str(tmp_path / "back")], env).code == 0


def test_an_imported_runbook_runs_against_the_sandbox(tmp_path: Path, scenario: Callable[[str], Sandbox],
                                                      run: Callable[..., CliResult]) -> None:
    """The imported High Error Rate runbook, run with --yes: the sandbox receives the source's commands
    (its log reads, the config update with its JSON body, the circuit-breaker call), each once."""
    out = tmp_path / "imported"
    assert run(["import", str(SOURCE), "-o", str(out)]).code == 0
    sb = scenario("error-spike")
    result = run(["incident", "high-error-rate", "--runbooks", str(out), "--yes"])
    assert result.code == 0, result.stdout + result.stderr
    calls = sb.requests()
    assert [c["body"] for c in admin_calls(calls, "POST", "/admin/config/update")] == [{"timeout": 15000}]
    assert len(admin_calls(calls, "POST", "/admin/circuit-breaker/enable")) == 1
    reads = aws_calls(calls, "FilterLogEvents")
    assert reads and {r["logGroupName"] for r in reads} == {"/aws/ecs/hybrid-routing"}
    assert {r.get("filterPattern") for r in reads} == {"ERROR"}
