"""Safety gates against the real sandbox (moto in server mode and the admin API, over HTTP): a dry run
sends nothing at all, audit shipping included; a change declared a read is refused before anything is
sent; a rendered path cannot escape; a throttled change is sent exactly throttles + 1 times (botocore
never retries it behind the engine's back)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from e2e_support import CliResult, aws_calls, check_run_log, events, step_status

from hybridops.sandbox import SCENARIO_FOR_INCIDENT, Sandbox

Run = Callable[..., CliResult]
Scenario = Callable[[str], Sandbox]

HEADER = """\
id: {id}
title: Safety gates
severity: P3
response_time: 1h
impact: none
owner: e2e
version: "1"
{variables}phases:
  - id: p
    title: P
    steps:
"""


def write(tmp_path: Path, name: str, steps: str, variables: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEADER.format(id=name, variables=variables) + steps, encoding="utf-8")
    return path


def fault(sb: Sandbox, **body: Any) -> None:
    response = httpx.post(f"{sb.admin_url}/_sandbox/fault", json=body, timeout=5)
    assert response.status_code == 200, response.text


def test_a_dry_run_sends_nothing_not_even_its_audit_records(scenario: Scenario, run: Run,
                                                            cli_env: dict[str, str]) -> None:
    env = {**cli_env, "HYBRIDOPS_AUDIT_LOG_GROUP": "/hybridops/e2e-dry-run"}
    note = "dry run: audit records not shipped to CloudWatch Logs (/hybridops/e2e-dry-run)"
    for incident, output in [(i, "text") for i in sorted(SCENARIO_FOR_INCIDENT)] + [("bedrock-failure", "json")]:
        sb = scenario(SCENARIO_FOR_INCIDENT[incident])
        result = run(["incident", incident, "--dry-run", "--output", output], env=env)
        assert result.code == 0, result.stderr
        assert sb.requests() == []  # no CreateLogGroup, CreateLogStream or PutLogEvents; nothing else either
        assert (result.stdout + result.stderr).count(note) == 1
        check_run_log(result.log(), runbook=incident, status="completed", dry_run=True)
    sb = scenario("bedrock-down")
    # the same settings in a real run do ship: the dry run's silence is the dry run's
    result = run(["incident", "bedrock-failure", "--yes"], env=env)
    assert {"CreateLogStream", "PutLogEvents"} <= {c["operation"] for c in sb.requests() if c.get("service") == "logs"}


DELETE = """\
      - id: delete
        title: Delete the MCP router service
        budget: 1m
        mutating: false
        aws: {service: ecs, operation: DeleteService, params: {cluster: mcp-cluster, service: mcp-router-service}}
"""


def test_a_change_declared_a_read_is_refused_before_anything_is_sent(scenario: Scenario, run: Run,
                                                                     tmp_path: Path) -> None:
    sb = scenario("mcp-down")
    path = write(tmp_path, "declared-read", DELETE)
    problem = (f"{path}:15:19: step delete: `mutating: false` is not allowed: ecs DeleteService changes state "
               "(Delete)")
    result = run(["validate", path])
    assert result.code == 1 and result.stdout.splitlines()[0].startswith(problem), result.stdout
    for args in (["--read-only"], ["--dry-run"], ["--yes"]):
        result = run(["incident", path, *args])
        assert result.code == 1, result.stdout
        assert [line for line in result.stderr_lines() if line.startswith(problem)], result.stderr
        assert "Traceback" not in result.stderr and result.logs() == []
    assert sb.requests() == []
    assert [s["serviceName"] for s in _services(sb)] == ["mcp-router-service"]  # still there


def _services(sb: Sandbox) -> list[dict[str, Any]]:
    import boto3

    ecs = boto3.client("ecs", endpoint_url=sb.aws_url, region_name=sb.env["AWS_DEFAULT_REGION"],
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    return ecs.describe_services(cluster="mcp-cluster", services=["mcp-router-service"])["services"]


def test_a_rendered_path_cannot_escape_to_another_path_with_the_token(scenario: Scenario, run: Run,
                                                                      tmp_path: Path) -> None:
    sb = scenario("healthy")
    path = write(tmp_path, "escape", """\
      - id: read
        title: Read what the operator names
        budget: 1m
        http: {method: GET, path: "/{{ p }}", capture: {s: status}}
""", variables="variables:\n  - {name: p, description: a path under the admin API}\n")
    for escape in ("../_sandbox/reset", "health/%2e%2e/_sandbox/reset", "health/..%2f_sandbox/reset",
                   "health//metrics", "health?x=1", "_sandbox/reset"):
        result = run(["incident", path, "--var", f"p={escape}"])
        assert result.code == 1
        assert result.stderr_lines() == [result.stderr_lines()[0]]
        assert result.stderr.startswith("error: step read failed: refused before sending: GET "), result.stderr
        records = check_run_log(result.log(), runbook="escape", status="failed", runbook_file=path)
        assert events(records, "request") == []
    assert [c for c in sb.requests() if c["api"] == "admin"] == []  # nothing reached the admin API
    result = run(["incident", path, "--var", "p=health"])
    assert result.code == 0, result.stderr
    assert [(c["method"], c["path"]) for c in sb.requests() if c["api"] == "admin"] == [("GET", "/health")]


RESTART = """\
      - id: restart
        title: Restart the MCP router
        budget: 5m
        on_failure: continue
        aws: {service: ecs, operation: UpdateService,
              params: {cluster: mcp-cluster, service: mcp-router-service, forceNewDeployment: true}}
"""


def test_a_throttled_change_is_sent_exactly_throttles_plus_one_times(scenario: Scenario, run: Run,
                                                                     tmp_path: Path) -> None:
    path = write(tmp_path, "throttled", RESTART)
    for throttles, sent, status in ((1, 2, "ok"), (2, 3, "ok"), (5, 3, "failed")):
        sb = scenario("mcp-down")
        fault(sb, kind="aws-throttle", count=throttles)
        result = run(["incident", path, "--yes", "--skip-preflight"])
        assert len(aws_calls(sb.requests(), "UpdateService")) == sent, (throttles, result.stdout)
        records = check_run_log(result.log(), runbook="throttled",
                                status="completed" if status == "ok" else "completed_with_failures",
                                runbook_file=path)
        assert step_status(records)["restart"] == status
        responses = events(records, "response", step_id="restart")
        assert [r["ok"] for r in responses] == [False] * min(throttles, sent) + [True] * (sent - throttles)
        assert all("Throttl" in r["error"] for r in responses if not r["ok"])


RESET = """\
      - id: reset
        title: Reset circuit breakers
        budget: 5m
        on_failure: continue
        http: {method: POST, path: /admin/circuit-breaker/reset}
"""


def test_a_change_answered_503_is_sent_exactly_failures_plus_one_times(scenario: Scenario, run: Run,
                                                                       tmp_path: Path) -> None:
    path = write(tmp_path, "unavailable", RESET)
    for failures, sent, status in ((1, 2, "ok"), (2, 3, "ok"), (4, 3, "failed")):
        sb = scenario("outage")
        fault(sb, kind="http-503", count=failures)
        result = run(["incident", path, "--yes", "--skip-preflight"])
        resets = [c["status"] for c in sb.requests() if c.get("path") == "/admin/circuit-breaker/reset"]
        assert resets == ([503] * failures + [200])[:sent], (failures, result.stdout)
        records = check_run_log(result.log(), runbook="unavailable", runbook_file=path,
                                status="completed" if status == "ok" else "completed_with_failures")
        assert step_status(records)["reset"] == status
        assert [r["attempt"] for r in events(records, "request", step_id="reset")] == list(range(1, sent + 1))
