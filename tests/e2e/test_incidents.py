"""The five incidents through the CLI against the sandbox, over real HTTP: `--yes` runs make exactly the
source runbook's calls and leave the scenario recovered; `--dry-run` sends nothing and shows them all;
`--output json` is one JSON event per line."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_support import (
    PLANTED,
    CliResult,
    admin_calls,
    aws_calls,
    check_run_log,
    events,
    mutations,
    notifications,
    run_cli,
    sandbox_env,
    step_status,
)

from hybridops.audit.log import LOG_KEYS
from hybridops.sandbox import SCENARIO_FOR_INCIDENT, Sandbox

INCIDENTS = sorted(SCENARIO_FOR_INCIDENT)
FORCE_MCP = {"reason": "Bedrock unavailable", "duration": 3600}
THRESHOLDS = {"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000, "fallbackAggressiveness": 0.7}

# The source runbook's changes, exactly and in order (issue 4, "Done when").
MUTATIONS: dict[str, list[tuple[Any, ...]]] = {
    "outage": [
        ("aws", "ecs", "UpdateService",
         {"cluster": "hybrid-routing-cluster", "service": "hybrid-routing-service", "forceNewDeployment": True}),
        ("admin", "POST", "/admin/circuit-breaker/reset", None),
    ],
    "bedrock-failure": [
        ("admin", "POST", "/admin/routing/force-mcp", FORCE_MCP),
        ("admin", "POST", "/admin/routing/bedrock-percentage", {"percentage": 10}),
        ("admin", "POST", "/admin/routing/bedrock-percentage", {"percentage": 50}),
        ("admin", "POST", "/admin/routing/bedrock-percentage", {"percentage": 100}),
    ],
    "mcp-failure": [
        ("aws", "ecs", "UpdateService",
         {"cluster": "mcp-cluster", "service": "mcp-router-service", "forceNewDeployment": True}),
    ],
    "high-error-rate": [("admin", "POST", "/admin/config/update", {"timeout": 15000})],
    "routing-efficiency": [("admin", "POST", "/admin/routing/config", THRESHOLDS)],
}
# How the recovering runs end: bedrock-failure's InvokeModel probe fails while Bedrock is down (a finding,
# `on_failure: continue`), so that run completes with one failed step (exit 3); the others cleanly.
END_OF_RUN = {"bedrock-failure": ("completed_with_failures", 3)}
# What Slack and PagerDuty receive on the way to recovery.
NOTIFICATIONS: dict[str, list[tuple[str, ...]]] = {
    "outage": [("pagerduty", "trigger"), ("slack", "#ops-critical"), ("pagerduty", "resolve"),
               ("slack", "#ops-critical")],
    "bedrock-failure": [("slack", "#ops-critical"), ("pagerduty", "trigger"), ("pagerduty", "resolve"),
                        ("slack", "#ops-critical")],
    "mcp-failure": [("pagerduty", "trigger"), ("pagerduty", "resolve"), ("slack", "#ops-critical")],
    "high-error-rate": [("pagerduty", "trigger"), ("pagerduty", "resolve"), ("slack", "#ops-critical")],
    "routing-efficiency": [],
}


@dataclass(frozen=True)
class IncidentRun:
    result: CliResult
    calls: list[dict[str, Any]]  # what the sandbox received, in order
    received: list[dict[str, Any]]  # what Slack and PagerDuty received
    records: list[dict[str, Any]]  # the audit log
    status: dict[str, Any]  # the sandbox world at the end
    sandbox: Sandbox
    facts: dict[str, str]  # resource names looked up straight from the sandbox right after the run


@pytest.fixture(scope="module")
def incident_run(sandbox: Sandbox, receiver: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], IncidentRun]:
    """incident_run(id): `hybridops incident ID --yes` in its scenario, run once per module and shared by
    the tests of the real run and of its dry run."""
    done: dict[str, IncidentRun] = {}

    def get(incident: str) -> IncidentRun:
        if incident not in done:
            sb = sandbox
            sb.set_scenario(SCENARIO_FOR_INCIDENT[incident])
            receiver.clear()
            tmp = tmp_path_factory.mktemp(incident)
            result = run_cli(["incident", incident, "--yes"], sandbox_env(tmp, sb, receiver), cwd=tmp)
            status, code = END_OF_RUN.get(incident, ("completed", 0))
            assert result.code == code, result.stderr
            records = check_run_log(result.log(), runbook=incident, status=status)
            calls, received, status = sb.requests(), receiver.received(), sb.status()
            facts = {"target_group_arn": _target_group_arn(sb), "task_role_arn": _task_role_arn(sb),
                     "mcp_queue_url": _queue_url(sb, "mcp-router-queue")}
            done[incident] = IncidentRun(result, calls, received, records, status, sb, facts)
        return done[incident]

    return get


# --- the real runs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("incident", INCIDENTS)
def test_incident_runs_to_recovery_with_the_source_runbooks_changes(incident: str,
                                                                    incident_run: Callable[[str], IncidentRun]):
    run = incident_run(incident)
    assert run.result.stderr == ""
    assert "\x1b" not in run.result.stdout  # plain lines when not on a terminal
    assert mutations(run.calls) == MUTATIONS[incident]
    assert run.status["recovered"] is True, run.status["history"]
    assert run.status["scenario"] == SCENARIO_FOR_INCIDENT[incident]

    # Preflight: STS first of all, and its ARN is the operator in the log.
    first = run.calls[0]
    assert (first["api"], first.get("service"), first.get("operation")) == ("aws", "sts", "GetCallerIdentity")
    started = run.records[0]
    assert started["aws_caller_arn"].startswith(f"arn:aws:sts::{run.sandbox.account_id}:")
    assert started["operator"] == started["aws_caller_arn"]
    assert started["admin_url"] == run.sandbox.admin_url and started["yes"] is True

    # Every call made is in the audit log, announced before it was sent; the admin API accepted the token.
    audited = [r for r in run.records if r["event"] == "request" and r["target"] in ("aws", "http")]
    assert len(audited) == len(run.calls) - 1  # all but the preflight's STS call
    assert all(c["status"] != 401 for c in run.calls if c["api"] == "admin")
    for mutation in events(run.records, "request", mutating=True):
        assert events(run.records, "prompt", step_id=mutation["step_id"])[0]["source"] == "--yes"

    # Mitigation recorded: the run's time to first mitigation, the steps that mitigated.
    finished = run.records[-1]
    assert finished["time_to_mitigation_s"] is not None and finished["time_to_mitigation_s"] > 0
    assert any(r["mitigation"] for r in events(run.records, "step_finished"))

    # Slack and PagerDuty got the run's notifications, one dedup key per run.
    assert notifications(run.received) == NOTIFICATIONS[incident]
    pagerduty = [r["body"] for r in run.received if r["path"] == "/v2/enqueue"]
    assert all(b["dedup_key"] == run.result.log().stem for b in pagerduty)
    assert all(b["routing_key"] == PLANTED.routing_key for b in pagerduty)

    # The text output names the run up front and ends with the summary table and where the log is.
    assert f"audit log run id: {run.result.log().stem}\n" in run.result.stdout
    assert f"run {run.result.log().stem}: completed" in run.result.stdout
    assert "time to first mitigation:" in run.result.stdout
    assert run.result.stdout.rstrip().endswith(f"audit log: {run.result.log()}")


def test_outage_reads(incident_run: Callable[[str], IncidentRun]):
    run = incident_run("outage")
    calls = run.calls
    assert calls[1] == {**calls[1], "api": "admin", "method": "GET", "path": "/health", "status": 503}
    metric = aws_calls(calls, "GetMetricStatistics")[0]
    assert {k: metric[k] for k in ("Namespace", "MetricName", "Period", "Statistics")} == {
        "Namespace": "HybridRouting/Health", "MetricName": "SystemHealth", "Period": 60, "Statistics": ["Average"]}
    assert metric["EndTime"] - metric["StartTime"] == 300  # the last 5 minutes
    describe = aws_calls(calls, "DescribeServices")
    assert describe and all(p == {"cluster": "hybrid-routing-cluster", "services": ["hybrid-routing-service"]}
                            for p in describe)
    # the target group ARN the runbook looked up from the ECS service, as the sandbox holds it
    tg_arn = run.facts["target_group_arn"]
    assert aws_calls(calls, "DescribeTargetHealth") == [{"TargetGroupArn": tg_arn}]
    order = [c.get("operation") or c["path"] for c in calls]
    assert order.index("DescribeTargetHealth") < order.index("UpdateService") < order.index(
        "/admin/circuit-breaker/reset")
    logs = aws_calls(calls, "FilterLogEvents")
    assert logs and logs[0]["logGroupName"] == "/aws/ecs/hybrid-routing" and logs[0]["filterPattern"] == "ERROR"
    health = events(run.records, "request", step_id="check-aws-health-dashboard")
    assert [(h["service"], h["operation"], h["region"]) for h in health] == [("health", "DescribeEvents", "us-east-1")]
    assert aws_calls(calls, "DescribeEvents") == [
        {"filter": {"regions": ["eu-central-1"], "eventStatusCodes": ["open"]}}]
    assert step_status(run.records)["quick-recovery-worked"] == "ok"
    assert "implement-fallback" not in step_status(run.records)  # recovery worked: no fallback


def test_bedrock_failure_reads(incident_run: Callable[[str], IncidentRun]):
    run = incident_run("bedrock-failure")
    invoke = aws_calls(run.calls, "InvokeModel")
    assert len(invoke) == 1 and invoke[0]["modelId"] == "anthropic.claude-3-sonnet-20240229-v1:0"
    assert invoke[0]["body"]["max_tokens"] == 10
    assert step_status(run.records)["invoke-bedrock"] == "failed"  # Bedrock is down: the finding, not a stop
    health = events(run.records, "request", step_id="check-aws-health")
    assert [(h["service"], h["operation"], h["region"]) for h in health] == [("health", "DescribeEvents", "us-east-1")]
    assert aws_calls(run.calls, "DescribeEvents") == [{"filter": {"services": ["BEDROCK"]}}]
    # the default recovery path (investigate): the task role is looked up, then simulated
    role = run.facts["task_role_arn"]
    simulated = aws_calls(run.calls, "SimulatePrincipalPolicy")
    assert simulated == [{"PolicySourceArn": role, "ActionNames.member.1": "bedrock:InvokeModel",
                          "ResourceArns.member.1": "*"}]
    vpce = aws_calls(run.calls, "DescribeVpcEndpoints")
    assert vpce == [{"Filter.1.Name": "service-name",
                     "Filter.1.Value.1": "com.amazonaws.eu-central-1.bedrock-runtime"}]
    # Bedrock is tested until it answers, before any traffic goes back to it
    tests = admin_calls(run.calls, "POST", "/admin/bedrock/test")
    first_percentage = run.calls.index(admin_calls(run.calls, "POST", "/admin/routing/bedrock-percentage")[0])
    assert tests and all(run.calls.index(t) < first_percentage for t in tests)
    assert events(run.records, "response", step_id="test-bedrock-connectivity")[-1]["summary"]["ok"] is True
    # each increase is followed by its monitoring before the next one
    order = [(c.get("path"), (c.get("body") or {}).get("percentage")) for c in run.calls if c["api"] == "admin"]
    for low, high in ((10, 50), (50, 100)):
        between = order[order.index(("/admin/routing/bedrock-percentage", low)) + 1:
                         order.index(("/admin/routing/bedrock-percentage", high))]
        assert ("/health", None) in between
    assert "rollback-to-mcp" not in step_status(run.records)


def test_mcp_failure_reads(incident_run: Callable[[str], IncidentRun]):
    run = incident_run("mcp-failure")
    queue_url = run.facts["mcp_queue_url"]
    assert aws_calls(run.calls, "GetQueueUrl") == [{"QueueName": "mcp-router-queue"}]
    depth = aws_calls(run.calls, "GetQueueAttributes")
    assert depth and all(p == {"QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages"]}
                         for p in depth)
    order = [c.get("operation") for c in run.calls]
    assert order.index("GetQueueAttributes") < order.index("UpdateService")
    logs = aws_calls(run.calls, "FilterLogEvents")
    assert logs and all(p["logGroupName"] == "/aws/ecs/mcp-router" for p in logs)
    statuses = step_status(run.records)
    assert statuses["monitor-mcp-recovery"] == "ok" and statuses["mcp-not-recovered"] == "skipped"
    depth_before = events(run.records, "step_finished", step_id="check-queue-depth")[0]["captures"]["queue_depth"]
    assert int(depth_before) > 0


def test_high_error_rate_reads(incident_run: Callable[[str], IncidentRun]):
    run = incident_run("high-error-rate")
    logs = aws_calls(run.calls, "FilterLogEvents")
    assert [(p["logGroupName"], p["filterPattern"]) for p in logs] == [
        ("/aws/ecs/hybrid-routing", "ERROR"), ("/aws/ecs/hybrid-routing", "ERROR"),  # the errors, then grouped
        ("/aws/ecs/hybrid-routing", "ValidationException")]  # validation errors are among them: a sample
    # the last 15 minutes of logs, by the sandbox's clock
    assert all(abs(p["startTime"] - (run.calls[0]["ts"] - 15 * 60) * 1000) < 60_000 for p in logs)
    # authentication errors among them: the task role is looked up and simulated
    assert aws_calls(run.calls, "SimulatePrincipalPolicy") == [
        {"PolicySourceArn": run.facts["task_role_arn"], "ActionNames.member.1": "bedrock:InvokeModel",
         "ResourceArns.member.1": "*"}]
    assert aws_calls(run.calls, "ListServiceQuotas") == [{"ServiceCode": "bedrock"}]  # throttling among them
    grouped = events(run.records, "step_finished", step_id="group-errors-by-type")[0]["result"]
    assert grouped["type"] == "errors_by_type" and grouped["top"] == "TimeoutError"
    assert step_status(run.records)["timeouts-dominate"] == "ok"
    assert events(run.records, "step_finished", step_id="timeouts-dominate")[0]["captures"] == {
        "timeouts_dominate": True}
    assert "errors by type" in run.result.stdout  # the table of errors by type
    statuses = step_status(run.records)
    assert statuses["enable-circuit-breaker"] == "skipped" and statuses["verify-error-rate"] == "ok"


def test_routing_efficiency_reads(incident_run: Callable[[str], IncidentRun]):
    run = incident_run("routing-efficiency")
    logs = aws_calls(run.calls, "FilterLogEvents")
    assert logs and all(p["logGroupName"] == "/aws/ecs/hybrid-routing" and p["filterPattern"] == "routing-decision"
                        for p in logs)
    body = admin_calls(run.calls, "POST", "/admin/routing/config")[0]["body"]
    assert [type(body[k]) for k in THRESHOLDS] == [int, int, float]  # 8000 not "8000", 0.7 not "0.7"
    table = events(run.records, "step_finished", step_id="review-routing-decisions")[0]["result"]
    assert table["type"] == "json_groups" and table["total"] > 0
    assert set(table["rows"][0]) == {"operation", "route", "reason", "count", "share"}
    assert events(run.records, "step_finished", step_id="efficiency-below-threshold")[0]["captures"] == {
        "efficiency_low": True}


# --- dry runs --------------------------------------------------------------------------------------------


def _key(request: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a request across a real and a dry run (values only a real run knows left out)."""
    target = request["target"]
    if target == "aws":
        params = request["params"] if request["mutating"] else None
        return ("aws", request["service"], request["operation"], request["region"], json.dumps(params))
    if target == "http":
        return ("http", request["method"], request["path"], json.dumps(request["body"]))
    if target == "pagerduty":
        return ("pagerduty", request["body"]["event_action"])
    return ("slack", request["body"].get("channel"))


def _shown(request: dict[str, Any], admin_url: str) -> str:
    """The line the text output shows for a mutating request."""
    if request["target"] == "aws":
        return (f"aws {request['service']} {request['operation']} ({request['region']}) "
                + json.dumps(request["params"], separators=(", ", ": ")))
    body = "" if request["body"] is None else " " + json.dumps(request["body"], separators=(", ", ": "))
    return f"{request['method']} {admin_url}{request['path']}{body}"


@pytest.mark.parametrize("incident", INCIDENTS)
def test_dry_run_sends_nothing_and_shows_every_request(incident: str, incident_run: Callable[[str], IncidentRun],
                                                      scenario: Callable[[str], Sandbox], receiver: Any, run: Any,
                                                      cli_env: dict[str, str]):
    real = incident_run(incident)
    sb = scenario(SCENARIO_FOR_INCIDENT[incident])
    # no credentials of any kind: no AWS keys, no admin token
    env = {k: v for k, v in cli_env.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HYBRIDOPS_ADMIN_TOKEN")}
    result = run(["incident", incident, "--dry-run"], env=env)
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    assert sb.requests() == []  # nothing at all, not even STS
    assert receiver.received() == []
    records = check_run_log(result.log(), runbook=incident, status="completed", dry_run=True)
    assert records[0]["aws_caller_arn"] is None
    assert "[DRY RUN: nothing will be sent]" in result.stdout

    shown = events(records, "request")
    assert shown and all(r["dry_run"] for r in shown)
    assert result.stdout.count("would send ") == len(shown)
    # every request the real run made (its notifications too) is among those the dry run showed
    real_requests = {_key(r) for r in events(real.records, "request")}
    missing = real_requests - {_key(r) for r in shown}
    assert not missing, f"the dry run did not show: {sorted(missing)}"
    # each mutation in full, as the text output shows it
    for request in events(real.records, "request", mutating=True):
        assert f"would send {_shown(request, sb.admin_url)}" in result.stdout
    assert all(s in ("dry_run", "ok", "skipped") for s in step_status(records).values())


# --- JSON output -------------------------------------------------------------------------------------------


def test_json_output_is_one_event_per_line_matching_the_audit_log(scenario: Callable[[str], Sandbox], run: Any):
    scenario("efficiency-drop")
    result = run(["incident", "routing-efficiency", "--yes", "--output", "json"])
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.endswith("\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(isinstance(e, dict) and isinstance(e.get("event"), str) for e in lines)
    assert lines[0]["event"] == "run_started" and lines[-1]["event"] == "run_finished"
    assert lines[-1]["status"] == "completed"
    assert all(e["run_id"] == result.log().stem for e in lines)  # to find the audit log, or resume
    # the audited events, in the same order and with the same fields as the log (which adds its chain)
    records = check_run_log(result.log(), runbook="routing-efficiency", status="completed")
    audited = [e for e in lines if e["event"] not in ("poll_tick", "wait_tick", "budget_warning", "confirm_request")]
    chain_keys = LOG_KEYS  # the chain, the integrity tail and the seal
    assert [{k: v for k, v in r.items() if k not in chain_keys or k == "event"} for r in records] == [
        {k: v for k, v in e.items() if k != "run_id"} for e in audited]
    assert any(e["event"] == "poll_tick" for e in lines)  # live updates are events too


def _target_group_arn(sb: Sandbox) -> str:
    return _client(sb, "elbv2").describe_target_groups(Names=["hybrid-routing-tg"])["TargetGroups"][0][
        "TargetGroupArn"]


def _task_role_arn(sb: Sandbox) -> str:
    return _client(sb, "iam").get_role(RoleName="hybrid-routing-task-role")["Role"]["Arn"]


def _queue_url(sb: Sandbox, name: str) -> str:
    return _client(sb, "sqs").get_queue_url(QueueName=name)["QueueUrl"]


def _client(sb: Sandbox, service: str) -> Any:
    """A boto3 client straight at the sandbox (after the run: its calls are not among those asserted)."""
    import boto3

    env = sb.env
    return boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                 region_name=env["AWS_DEFAULT_REGION"]).client(service,
                                                                               endpoint_url=sb.aws_url)



def test_an_answer_takes_its_branch_in_a_dry_run(scenario: Callable[[str], Sandbox], run: Any):
    sb = scenario("bedrock-down")
    result = run(["incident", "bedrock-failure", "--dry-run", "--answer", "wait-or-investigate=wait"])
    assert result.code == 0, result.stderr
    records = check_run_log(result.log(), runbook="bedrock-failure", status="completed", dry_run=True)
    [prompt] = events(records, "prompt", step_id="wait-or-investigate")
    assert (prompt["answer"], prompt["source"]) == ("wait", "--answer")
    shown = {r["step_id"] for r in events(records, "request")}
    assert "test-bedrock-connectivity" in shown
    assert not shown & {"lookup-task-definition", "lookup-role", "check-iam-permissions", "check-vpc-endpoints"}
    assert sb.requests() == []
