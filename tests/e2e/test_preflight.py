"""Issue 13 §1 end to end: `hybridops preflight` and `incident --check-permissions` against the sandbox
(moto in server mode over HTTP, whose SimulatePrincipalPolicy reads moto's IAM). The sandbox's caller
is a session of the seeded operator role; an `iam-deny` fault (POST /_sandbox/fault) takes a
permission away from it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

RUNBOOKS = Path(__file__).resolve().parents[2] / "hybridops" / "runbooks"
PREFLIGHT_CALLS = {("sts", "GetCallerIdentity"), ("iam", "GetRole"), ("iam", "SimulatePrincipalPolicy")}


@pytest.fixture(autouse=True)
def _permissions_restored(sandbox: Any) -> Any:
    """The session's sandbox leaves this module without its injected denies."""
    yield
    sandbox.set_scenario("healthy")


def deny(sb: Any, action: str) -> None:
    response = httpx.post(f"{sb.admin_url}/_sandbox/fault", json={"kind": "iam-deny", "action": action}, timeout=5)
    assert response.status_code == 200, response.text


def calls(sb: Any) -> list[tuple[str, str]]:
    return [(r.get("service") or r["api"], r.get("operation") or r.get("path")) for r in sb.requests()]


def test_preflight_passes_for_the_seeded_role_and_a_denied_restart_fails_naming_the_statement(scenario, run) -> None:
    sb = scenario("mcp-down")
    passed = run(["preflight", "mcp-failure"])
    assert passed.code == 0, passed.stderr
    role = f"arn:aws:iam::{sb.account_id}:role/hybridops-oncall"
    assert f"preflight mcp-failure: as {role} (caller arn:aws:sts::{sb.account_id}:assumed-role/" in passed.stdout
    restart = next(line for line in passed.stdout.splitlines() if line.startswith("restart-mcp-router"))
    assert restart.split() == ["restart-mcp-router", "ecs:UpdateService",
                               f"arn:aws:ecs:eu-central-1:{sb.account_id}:service/mcp-cluster/mcp-router-service",
                               "allowed", "yes", "runbook-changes", "(role)"]
    assert set(calls(sb)) <= PREFLIGHT_CALLS  # a preflight asks, it sends nothing of the runbook's

    deny(sb, "ecs:UpdateService")
    refused = run(["preflight", "mcp-failure"])
    assert refused.code == 1
    assert refused.stderr_lines() == [
        f"error: step restart-mcp-router: ecs:UpdateService on arn:aws:ecs:eu-central-1:{sb.account_id}:service/"
        "mcp-cluster/mcp-router-service: explicit deny by policy hybridops-sandbox-deny-1 (user-managed, line 4 "
        "column 5)",
        f"error: 1 mutating action(s) of mcp-failure would be denied to {role}: a run would stop halfway"]
    assert "explicit deny" in next(line for line in refused.stdout.splitlines() if line.startswith("restart-mcp"))


def test_json_and_github_formats(scenario, cli, cli_env, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    sb = scenario("outage")
    for name in ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency"):
        code, out, err = cli("preflight", name, "--format", "json")
        report = json.loads(out)
        assert (code, report["ok"], report["denied_reads"]) == (0, True, 0), (name, err)
        assert report["checks"] and {c["decision"] for c in report["checks"]} == {"allowed"}
    deny(sb, "ecs:UpdateService")
    code, out, _ = cli("preflight", "outage", "--format", "json")
    report = json.loads(out)
    [denied] = [c for c in report["checks"] if c["decision"] != "allowed"]
    assert code == 1 and report["ok"] is False and report["denied_mutating"] == 1
    assert (denied["step"], denied["action"], denied["mutating"], denied["decision"]) == \
        ("restart-routing-service", "ecs:UpdateService", True, "explicitDeny")
    assert denied["matched_statements"] == [{"policy": "hybridops-sandbox-deny-1", "type": "user-managed",
                                             "line": 4, "column": 5}]

    deny(sb, "cloudwatch:GetMetricStatistics")  # reads: warnings
    code, out, _ = cli("preflight", "outage", "--format", "github")
    annotation = re.compile(r"::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=preflight::(.+)")
    found = [annotation.fullmatch(line) for line in out.splitlines()]
    assert code == 1 and found and all(found), out
    levels = [(m.group(1), m.group(5).split(":")[0]) for m in found if m]
    assert levels == [("warning", "step check-system-health-metric"), ("error", "step restart-routing-service"),
                      ("warning", "step metrics-before-outage")]
    error = next(m for m in found if m and m.group(1) == "error")
    text = Path(error.group(2)).read_text().splitlines()
    step_at = next(i for i, line in enumerate(text, 1) if "id: restart-routing-service" in line)
    assert step_at < int(error.group(3)) < step_at + 12 and "ecs" in text[int(error.group(3)) - 1]


def test_incident_check_permissions_stops_before_the_first_request(scenario, run) -> None:
    sb = scenario("mcp-down")
    deny(sb, "ecs:UpdateService")
    stopped = run(["incident", "mcp-failure", "--yes", "--check-permissions"])
    assert stopped.code == 1
    assert stopped.stderr_lines() == [
        f"error: preflight: step restart-mcp-router: ecs:UpdateService on arn:aws:ecs:eu-central-1:{sb.account_id}:"
        "service/mcp-cluster/mcp-router-service: explicit deny by policy hybridops-sandbox-deny-1 (user-managed, "
        f"line 4 column 5) (as arn:aws:iam::{sb.account_id}:role/hybridops-oncall; nothing was sent)"]
    assert set(calls(sb)) <= PREFLIGHT_CALLS and ("iam", "SimulatePrincipalPolicy") in calls(sb)
    assert stopped.logs() == []  # stopped before the run began: nothing to audit, nothing to resume

    sb = scenario("mcp-down")  # the permission is back: the same run goes through
    ran = run(["incident", "mcp-failure", "--yes", "--check-permissions"])
    assert ran.code == 0, ran.stderr
    seen = calls(sb)
    first_step = next(i for i, c in enumerate(seen) if c not in PREFLIGHT_CALLS)
    assert ("iam", "SimulatePrincipalPolicy") in seen[:first_step] and ("ecs", "UpdateService") in seen[first_step:]


def test_a_user_given_as_role_is_answered_as_a_user(scenario, cli, cli_env, monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    import boto3

    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    sb = scenario("healthy")
    iam = boto3.client("iam", endpoint_url=sb.aws_url, region_name="us-east-1", aws_access_key_id="sandbox",
                       aws_secret_access_key="sandbox")
    name = "auditor-" + secrets.token_hex(4)  # IAM outlives scenario changes: a name of this test's own
    user = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="reads", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": ["logs:FilterLogEvents", "sqs:Get*"]}]}))
    code, out, _ = cli("preflight", "mcp-failure", "--role", user, "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["principal"] == user and report["caller"] is None
    decisions = {(c["step"], c["decision"], tuple(s["type"] for s in c["matched_statements"]))
                 for c in report["checks"]}
    assert ("lookup-queue-url", "allowed", ("user",)) in decisions
    assert ("restart-mcp-router", "implicitDeny", ()) in decisions
