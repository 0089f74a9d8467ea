"""The shipped runbooks hold what the on-call team's source runbook says (source-runbook.md).

Each test loads a runbook through `load_runbook` and checks the source's values: names, budgets, the
model id and body, regions, the force-MCP body, the gradual re-enable with its roll-back, the timeout and
circuit-breaker mitigations, the routing thresholds, the look-back windows, the checklists, the
placeholder lookups, and that diagnostics never stop an incident.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hybridops.runbook.expr import builtins, evaluate, references, render
from hybridops.runbook.load import load_runbook
from hybridops.runbook.model import AnyStep, AwsStep, ChoiceStep, GoTo, HttpStep, ManualStep, Runbook

RUNBOOKS = Path(__file__).resolve().parents[2] / "hybridops" / "runbooks"
IDS = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")
MODEL_ID = "anthropic.claude-3-sonnet-20240229-v1:0"
MODEL_BODY = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"test"}]}'
FORCE_MCP_BODY = {"reason": "Bedrock unavailable", "duration": 3600}
NOW = 1_790_000_000.0  # a fixed clock for rendering time templates
OWNER = "DevOps & AI Operations Team"


def load(runbook_id: str) -> Runbook:
    return load_runbook(RUNBOOKS / f"{runbook_id}.yaml").runbook


def step(rb: Runbook, step_id: str) -> AnyStep:
    for _, s in rb.steps():
        if s.id == step_id:
            return s
    raise AssertionError(f"{rb.id}: no step {step_id!r} (steps: {rb.step_ids()})")


def context(rb: Runbook, **extra: Any) -> dict[str, Any]:
    """What a run sees before any capture: the variables' defaults, the builtins, and `extra`."""
    ctx: dict[str, Any] = {v.name: v.default for v in rb.variables}
    ctx.update(builtins(NOW))
    ctx.update({"run_id": "test-run", "incident": rb.id, "steps": {}})
    ctx.update(extra)
    return ctx


def rendered(rb: Runbook, value: Any, **extra: Any) -> Any:
    return render(value, context(rb, **extra))


def index(rb: Runbook, step_id: str) -> int:
    return rb.step_ids().index(step_id)


def steps_of_kind(rb: Runbook, kind: str) -> list[AnyStep]:
    return [s for _, s in rb.steps() if s.kind == kind]


def posts(rb: Runbook, path: str) -> list[AnyStep]:
    return [s for _, s in rb.steps() if isinstance(s, HttpStep) and s.http.method == "POST" and s.http.path == path]


def checklist(rb: Runbook, step_id: str) -> list[str]:
    s = step(rb, step_id)
    assert isinstance(s, ManualStep), f"{step_id} is a {s.kind} step, not manual"
    return s.manual.checklist


# --- every runbook ----------------------------------------------------------------------------------


@pytest.mark.parametrize("runbook_id", IDS)
def test_file_is_named_by_id_and_points_editors_at_the_schema(runbook_id: str) -> None:
    path = RUNBOOKS / f"{runbook_id}.yaml"
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../specs/runbook.schema.json"
    assert load(runbook_id).id == runbook_id


@pytest.mark.parametrize("where", ["runbooks", "hybridops/runbooks"])
def test_the_schema_line_resolves_where_users_edit(where: str) -> None:
    """Editors resolve `$schema` against the path they opened, lexically (as a URI), not through the
    `runbooks` symlink: from the repository root and from the installed package alike."""
    import hybridops
    from hybridops.runbook.model import json_schema

    repo = Path(hybridops.__file__).parent.parent
    for path in sorted((repo / where).glob("*.yaml")):
        ref = path.read_text().splitlines()[0].split("$schema=", 1)[1]
        target = Path(os.path.normpath(repo / where / ref))
        assert target.is_file(), f"{where}/{path.name}: {ref} does not resolve ({target})"
        assert json.loads(target.read_text()) == json_schema()


def test_exactly_the_five_incidents_ship() -> None:
    assert sorted(p.stem for p in RUNBOOKS.glob("*.yaml")) == sorted(IDS)


METADATA = {
    "outage": (
        "Complete System Outage",
        "P0",
        "immediate",
        "All AI operations unavailable",
        ["Health endpoint returns 503", "All routing paths failing", "Multiple critical alerts"],
        "outage",
    ),
    "bedrock-failure": (
        "Bedrock Client Failure",
        "P0",
        "immediate",
        "Direct Bedrock operations unavailable",
        ["Direct Bedrock health = Critical", "All direct operations failing", "Automatic fallback to MCP active"],
        "bedrock-down",
    ),
    "mcp-failure": (
        "MCP Router Failure",
        "P1",
        "15m",
        "Standard operations degraded, fallback to direct Bedrock",
        [
            "MCP router health = Critical",
            "Standard operations routing to direct Bedrock",
            "Increased direct Bedrock usage",
        ],
        "mcp-down",
    ),
    "high-error-rate": (
        "High Error Rate",
        "P1",
        "15m",
        "Degraded user experience",
        ["Error rate >5%", "Multiple failed operations", "Increased alert volume"],
        "error-spike",
    ),
    "routing-efficiency": (
        "Routing Efficiency Degradation",
        "P2",
        "1h",
        "Suboptimal routing decisions",
        ["Routing efficiency <70%", "Increased fallback usage", "Suboptimal path selection"],
        "efficiency-drop",
    ),
}


@pytest.mark.parametrize("runbook_id", IDS)
def test_metadata_comes_from_the_source(runbook_id: str) -> None:
    rb = load(runbook_id)
    title, severity, response_time, impact, symptoms, scenario = METADATA[runbook_id]
    assert (rb.title, rb.severity, rb.response_time, rb.impact) == (title, severity, response_time, impact)
    assert rb.symptoms == symptoms
    assert (rb.owner, rb.version, rb.scenario) == (OWNER, "1.0.0", scenario)


@pytest.mark.parametrize("runbook_id", IDS)
def test_every_step_has_a_budget_and_every_variable_a_description(runbook_id: str) -> None:
    rb = load(runbook_id)
    for _, s in rb.steps():
        assert s.budget > 0, s.id
    for v in rb.variables:
        assert v.description, v.name
        assert v.default is not None, f"{v.name}: every variable has a default from the source"


@pytest.mark.parametrize("runbook_id", IDS)
def test_manual_steps_say_what_to_do(runbook_id: str) -> None:
    for s in steps_of_kind(load(runbook_id), "manual"):
        assert s.manual.checklist, s.id


# Read-only calls that must stop the run when they fail: the re-enable's health baseline (without it
# the roll-back guard means nothing) and the Bedrock test poll (never re-enable a Bedrock that fails).
MUST_SUCCEED = {("bedrock-failure", "baseline-health"), ("bedrock-failure", "test-bedrock-connectivity")}


@pytest.mark.parametrize("runbook_id", IDS)
def test_diagnostics_never_abort_the_incident(runbook_id: str) -> None:
    rb = load(runbook_id)
    for _, s in rb.steps():
        if (rb.id, s.id) in MUST_SUCCEED:
            continue
        reads = s.kind in ("log_errors", "log_json") or (s.call is not None and not s.is_mutating)
        if reads:
            assert s.on_failure != "abort", f"{s.id}: a failing diagnostic is a finding, not a reason to stop"


@pytest.mark.parametrize("runbook_id", IDS)
def test_ids_of_go_to_targets_exist_and_step_references_resolve(runbook_id: str) -> None:
    rb = load(runbook_id)
    ids = set(rb.step_ids())
    for _, s in rb.steps():
        targets = [s.next] if s.next else []
        if isinstance(s.on_failure, GoTo):
            targets.append(s.on_failure.goto)
        for body in (getattr(s, "check", None), getattr(s, "confirm", None)):
            if body is not None:
                keys = ("if_true", "if_false", "if_yes", "if_no")
                targets += [getattr(body, k) for k in keys if getattr(body, k, None)]
        if isinstance(s, ChoiceStep):
            targets += [o.goto for o in s.choice.options if o.goto]
        for t in targets:
            assert t == "end" or t in ids, f"{s.id}: go-to {t!r}"


@pytest.mark.parametrize("runbook_id", IDS)
def test_shipped_runbook_validates(runbook_id: str) -> None:
    validate = pytest.importorskip("hybridops.runbook.validate")
    report = validate.validate_file(RUNBOOKS / f"{runbook_id}.yaml")
    assert report.ok, "\n".join(map(str, report.problems))


PLACEHOLDERS = [
    # runbook, variable, lookup step, service, operation, JMESPath of the capture
    (
        "outage",
        "target_group_arn",
        "lookup-target-group",
        "ecs",
        "DescribeServices",
        "services[0].loadBalancers[0].targetGroupArn",
    ),
    ("mcp-failure", "mcp_queue_url", "lookup-queue-url", "sqs", "GetQueueUrl", "QueueUrl"),
    ("bedrock-failure", "role_arn", "lookup-role", "ecs", "DescribeTaskDefinition", "taskDefinition.taskRoleArn"),
]


@pytest.mark.parametrize(("runbook_id", "var", "lookup", "service", "operation", "query"), PLACEHOLDERS)
def test_placeholders_are_variables_looked_up_when_empty(
    runbook_id: str, var: str, lookup: str, service: str, operation: str, query: str
) -> None:
    rb = load(runbook_id)
    variable = rb.variable(var)
    assert variable is not None and variable.default == ""
    s = step(rb, lookup)
    assert s.when is not None and s.when.strip() == f"not {var}"
    assert (s.aws.service, s.aws.operation) == (service, operation)
    assert s.aws.capture == {var: query}
    assert s.on_failure == "continue"
    # the guard: skipped when the operator set the variable
    assert evaluate(s.when, context(rb)) is True
    assert evaluate(s.when, context(rb, **{var: "arn:aws:example"})) is False
    # every use of the placeholder comes after the lookup
    for _, other in rb.steps():
        uses = any(var in references(t) for t in _templates(other.aws.params if isinstance(other, AwsStep) else {}))
        if uses and other.id != lookup:
            assert index(rb, other.id) > index(rb, lookup), other.id


def _templates(value: Any):
    if isinstance(value, str):
        if "{{" in value:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _templates(v)
    elif isinstance(value, list):
        for v in value:
            yield from _templates(v)


@pytest.mark.parametrize("runbook_id", ["outage", "bedrock-failure", "mcp-failure", "high-error-rate"])
def test_p0_and_p1_page_and_resolve(runbook_id: str) -> None:
    rb = load(runbook_id)
    pages = [s for s in steps_of_kind(rb, "notify") if s.notify.via == "pagerduty"]
    actions = [s.notify.action for s in pages]
    assert actions[0] == "trigger" and actions[-1] == "resolve"
    assert index(rb, pages[-1].id) > max(index(rb, s.id) for s in rb_mutations(rb))


def rb_mutations(rb: Runbook) -> list[AnyStep]:
    return [s for _, s in rb.steps() if s.is_mutating]


# --- 1. Complete System Outage -----------------------------------------------------------------------


def test_outage_verify_outage() -> None:
    rb = load("outage")
    health = step(rb, "check-health-endpoint")
    assert (health.http.method, health.http.path, health.budget) == ("GET", "/health", 120)
    assert 503 in health.http.expect and 200 in health.http.expect
    metric = step(rb, "check-system-health-metric")
    assert (metric.aws.service, metric.aws.operation, metric.budget) == ("cloudwatch", "GetMetricStatistics", 120)
    params = rendered(rb, metric.aws.params)
    assert params["Namespace"] == "HybridRouting/Health" and params["MetricName"] == "SystemHealth"
    assert params["Period"] == 60 and params["Statistics"] == ["Average"]
    # a 5-minute window ending now
    assert params["StartTime"] == builtins(NOW)["ago_iso"]("5m") and params["EndTime"] == builtins(NOW)["now_iso"]()


def test_outage_activate_incident_response() -> None:
    rb = load("outage")
    items = checklist(rb, "activate-incident-response")
    assert items[1:] == ["Notify #ops-critical Slack channel", "Assemble incident response team"]
    # what the checklist and the instructions say depends on what hybridops could send: never more
    sent = context(rb, steps={"page-pagerduty": {"status": "ok"}, "notify-ops-critical": {"status": "ok"}})
    lost = context(rb, steps={"page-pagerduty": {"status": "failed"}, "notify-ops-critical": {"status": "ok"}})
    assert render(items[0], sent) == "Create PagerDuty incident (the page above reached the on-call engineer)"
    assert render(items[0], lost) == "Create PagerDuty incident (the page above was NOT sent: page by hand)"
    instructions = step(rb, "activate-incident-response").manual.instructions
    assert render(instructions, sent).startswith("The PagerDuty event and the #ops-critical message above were sent")
    assert render(instructions, lost).startswith("hybridops could not send every notification above")
    page, slack = step(rb, "page-pagerduty"), step(rb, "notify-ops-critical")
    assert (page.notify.via, page.notify.action, page.notify.severity) == ("pagerduty", "trigger", "critical")
    assert (slack.notify.via, slack.notify.channel) == ("slack", "#ops-critical")
    for s in (page, slack, step(rb, "activate-incident-response")):
        assert s.budget == 60


def test_escalation_and_roll_back_steps_end_the_run_unresolved() -> None:
    unresolved = {rid: [s.id for _, s in load(rid).steps() if s.outcome == "unresolved"] for rid in IDS}
    assert unresolved == {"outage": ["implement-fallback"], "bedrock-failure": ["fallback-failing", "after-rollback"],
                          "mcp-failure": ["mcp-not-recovered"], "high-error-rate": ["error-rate-not-recovered"],
                          "routing-efficiency": []}


def test_outage_check_infrastructure() -> None:
    rb = load("outage")
    ecs = step(rb, "describe-ecs-service")
    assert (ecs.aws.service, ecs.aws.operation) == ("ecs", "DescribeServices")
    assert rendered(rb, ecs.aws.params) == {"cluster": "hybrid-routing-cluster", "services": ["hybrid-routing-service"]}
    alb = step(rb, "check-alb-target-health")
    assert (alb.aws.service, alb.aws.operation) == ("elbv2", "DescribeTargetHealth")
    assert alb.aws.params == {"TargetGroupArn": "{{ target_group_arn }}"}
    for sid in ("describe-ecs-service", "lookup-target-group", "check-alb-target-health"):
        assert step(rb, sid).budget == 180


def test_outage_quick_recovery_then_fallback_only_if_it_failed() -> None:
    rb = load("outage")
    restart = step(rb, "restart-routing-service")
    assert (restart.aws.service, restart.aws.operation) == ("ecs", "UpdateService")
    assert rendered(rb, restart.aws.params) == {
        "cluster": "hybrid-routing-cluster",
        "service": "hybrid-routing-service",
        "forceNewDeployment": True,
    }
    reset = posts(rb, "/admin/circuit-breaker/reset")
    assert [s.id for s in reset] == ["reset-circuit-breakers"]
    for sid in ("restart-routing-service", "reset-circuit-breakers", "wait-for-recovery", "quick-recovery-worked"):
        assert step(rb, sid).budget == 300
    verdict = step(rb, "quick-recovery-worked")
    assert verdict.title == "Did quick recovery work?"
    assert verdict.check.if_false == "implement-fallback"
    # yes: jump over the fallback to the first step after it
    fallback_steps = [s.id for p, s in rb.steps() if p.id == "fallback"]
    assert fallback_steps[0] == "implement-fallback"
    assert index(rb, verdict.check.if_true) == index(rb, fallback_steps[-1]) + 1
    ok = context(rb, steps={"wait-for-recovery": {"status": "ok"}})
    failed = context(rb, steps={"wait-for-recovery": {"status": "failed"}})
    assert evaluate(verdict.check.condition, ok) is True
    assert evaluate(verdict.check.condition, failed) is False
    assert checklist(rb, "implement-fallback") == [
        "Enable emergency mode",
        "Route all traffic to backup system",
        "Communicate status to stakeholders",
    ]


def test_outage_root_cause_analysis_and_prevention() -> None:
    rb = load("outage")
    assert checklist(rb, "rca-checklist") == [
        "Review CloudWatch Logs for errors",
        "Check AWS Health Dashboard",
        "Analyze metrics leading up to outage",
        "Document timeline and actions taken",
    ]
    assert checklist(rb, "prevention-follow-ups") == [
        "Implement additional monitoring",
        "Review and update runbooks",
        "Conduct post-mortem meeting",
        "Update incident response procedures",
    ]
    logs = step(rb, "review-error-logs")
    assert rendered(rb, logs.log_errors.log_group) == "/aws/ecs/hybrid-routing"
    aws_health = step(rb, "check-aws-health-dashboard")
    assert rendered(rb, aws_health.aws.region) == "us-east-1"
    assert aws_health.on_failure == "continue"


# --- 2. Bedrock Client Failure -----------------------------------------------------------------------


def test_bedrock_verify_status() -> None:
    rb = load("bedrock-failure")
    invoke = step(rb, "invoke-bedrock")
    assert (invoke.aws.service, invoke.aws.operation) == ("bedrock-runtime", "InvokeModel")
    params = rendered(rb, invoke.aws.params)
    assert params["modelId"] == MODEL_ID
    assert params["body"] == MODEL_BODY
    assert json.loads(params["body"])["max_tokens"] == 10
    assert rendered(rb, invoke.aws.region) == "eu-central-1"
    assert invoke.is_mutating is False and invoke.is_mitigation is False
    assert invoke.on_failure == "continue" and invoke.budget == 120
    health = step(rb, "check-aws-health")
    assert (health.aws.service, health.aws.operation) == ("health", "DescribeEvents")
    assert rendered(rb, health.aws.region) == "us-east-1"
    assert health.aws.params == {"filter": {"services": ["BEDROCK"]}}
    assert health.on_failure == "continue" and health.budget == 120


def test_bedrock_aggressive_mcp_fallback() -> None:
    rb = load("bedrock-failure")
    force = step(rb, "force-mcp")
    assert force.http.body == FORCE_MCP_BODY
    assert force.budget == 60 and force.is_mutating and force.undo is not None
    assert force.undo.http.path == "/admin/routing/bedrock-percentage"
    assert rendered(rb, force.undo.http.body, bedrock_percentage_before=80) == {"percentage": 80}
    # every force-MCP request (the fallback and the roll-back) sends the source's body
    for s in posts(rb, "/admin/routing/force-mcp"):
        assert s.http.body == FORCE_MCP_BODY, s.id


def test_bedrock_notify_stakeholders() -> None:
    rb = load("bedrock-failure")
    assert checklist(rb, "notify-stakeholders") == [
        "Post in #ops-critical",
        "Create PagerDuty incident",
        "Update status page",
    ]
    assert step(rb, "notify-ops-critical").notify.channel == "#ops-critical"
    assert step(rb, "page-pagerduty").notify.action == "trigger"
    for sid in ("notify-ops-critical", "page-pagerduty", "notify-stakeholders"):
        assert step(rb, sid).budget == 120


def test_bedrock_monitor_fallback_every_30s() -> None:
    rb = load("bedrock-failure")
    mon = step(rb, "monitor-fallback")
    assert mon.poll.http.path == "/health/component/mcp-router"
    assert mon.poll.every == 30 and mon.poll.while_ is not None
    assert mon.on_failure == "continue"
    assert evaluate(mon.poll.while_, context(rb, mcp_status="healthy")) is True
    assert evaluate(mon.poll.while_, context(rb, mcp_status="critical")) is False


def test_bedrock_wait_or_investigate_is_a_choice_defaulting_to_investigate() -> None:
    rb = load("bedrock-failure")
    choice = step(rb, "wait-or-investigate").choice
    assert choice.default == "investigate"
    goto = {o.value: o.goto for o in choice.options}
    assert index(rb, goto["investigate"]) < index(rb, "check-iam-permissions")
    assert goto["wait"] == "test-bedrock-connectivity"
    iam = step(rb, "check-iam-permissions")
    assert (iam.aws.service, iam.aws.operation) == ("iam", "SimulatePrincipalPolicy")
    assert iam.aws.params == {
        "PolicySourceArn": "{{ role_arn }}",
        "ActionNames": ["bedrock:InvokeModel"],
        "ResourceArns": ["*"],
    }
    assert iam.on_failure == "continue"
    vpc = step(rb, "check-vpc-endpoints")
    assert (vpc.aws.service, vpc.aws.operation) == ("ec2", "DescribeVpcEndpoints")
    assert rendered(rb, vpc.aws.params) == {
        "Filters": [{"Name": "service-name", "Values": ["com.amazonaws.eu-central-1.bedrock-runtime"]}]
    }
    assert vpc.on_failure == "continue"


def test_bedrock_connectivity_test_is_a_probe_polled_until_ok() -> None:
    rb = load("bedrock-failure")
    test = step(rb, "test-bedrock-connectivity")
    assert (test.poll.http.method, test.poll.http.path) == ("POST", "/admin/bedrock/test")
    assert test.is_mutating is False
    assert evaluate(test.poll.until, context(rb, bedrock_test_ok=True)) is True
    assert evaluate(test.poll.until, context(rb, bedrock_test_ok=False)) is False


def test_bedrock_gradual_reenable_10_50_100_with_monitoring_and_rollback() -> None:
    rb = load("bedrock-failure")
    ids = rb.step_ids()
    raises = posts(rb, "/admin/routing/bedrock-percentage")
    assert [s.http.body["percentage"] for s in raises] == [10, 50, 100]
    for s in raises:
        # each increase is followed by 10 minutes of watching overall health
        mon = step(rb, ids[ids.index(s.id) + 1])
        assert mon.poll is not None and mon.poll.http.path == "/health"
        assert mon.poll.timeout == 600 and mon.poll.while_ is not None
        assert mon.budget == 600
        assert 503 in mon.poll.http.expect
        assert isinstance(mon.on_failure, GoTo) and mon.on_failure.goto == "rollback-to-mcp"
        # health worse than the baseline on MCP alone -> roll back
        cond = mon.poll.while_
        assert evaluate(cond, context(rb, health_status="healthy", baseline_health_status="healthy")) is True
        assert evaluate(cond, context(rb, health_status="degraded", baseline_health_status="healthy")) is False
        assert evaluate(cond, context(rb, health_status="critical", baseline_health_status="degraded")) is False
        assert s.undo is not None and s.undo.http.body == FORCE_MCP_BODY
    rollback = step(rb, "rollback-to-mcp")
    assert rollback.http.path == "/admin/routing/force-mcp" and rollback.http.body == FORCE_MCP_BODY
    last_monitor = step(rb, ids[ids.index(raises[-1].id) + 1])
    # after the last 10 minutes, success skips the roll-back
    assert last_monitor.next is not None and index(rb, last_monitor.next) > index(rb, "rollback-to-mcp")
    assert index(rb, "baseline-health") < index(rb, raises[0].id)


# --- 3. MCP Router Failure ---------------------------------------------------------------------------


def test_mcp_verify_status() -> None:
    rb = load("mcp-failure")
    health = step(rb, "check-mcp-health")
    assert (health.http.method, health.http.path, health.budget) == ("GET", "/health/component/mcp-router", 180)
    logs = step(rb, "mcp-log-errors")
    assert rendered(rb, logs.log_errors.log_group) == "/aws/ecs/mcp-router"
    assert logs.log_errors.since == 600 and logs.budget == 180
    follow = step(rb, "follow-mcp-logs")
    assert rendered(rb, follow.poll.aws.params["logGroupName"]) == "/aws/ecs/mcp-router"
    assert follow.budget == 180


def test_mcp_check_message_queue() -> None:
    rb = load("mcp-failure")
    assert rendered(rb, step(rb, "lookup-queue-url").aws.params) == {"QueueName": "mcp-router-queue"}
    depth = step(rb, "check-queue-depth")
    assert (depth.aws.service, depth.aws.operation) == ("sqs", "GetQueueAttributes")
    assert depth.aws.params == {"QueueUrl": "{{ mcp_queue_url }}", "AttributeNames": ["ApproximateNumberOfMessages"]}
    for sid in ("lookup-queue-url", "check-queue-depth"):
        assert step(rb, sid).budget == 120


def test_mcp_restart_and_monitor_every_30s() -> None:
    rb = load("mcp-failure")
    restart = step(rb, "restart-mcp-router")
    assert (restart.aws.service, restart.aws.operation, restart.budget) == ("ecs", "UpdateService", 300)
    assert rendered(rb, restart.aws.params) == {
        "cluster": "mcp-cluster",
        "service": "mcp-router-service",
        "forceNewDeployment": True,
    }
    mon = step(rb, "monitor-mcp-recovery")
    assert mon.poll.http.path == "/health/component/mcp-router" and mon.poll.every == 30
    assert evaluate(mon.poll.until, context(rb, mcp_recovery_status="healthy")) is True
    assert evaluate(mon.poll.until, context(rb, mcp_recovery_status="critical")) is False


# --- 4. High Error Rate ------------------------------------------------------------------------------


def _errors(top: str, share: float, types: list[str]) -> dict[str, Any]:
    return {"total": 100, "top": top, "top_share": share, "by_type": [{"type": t, "count": 1} for t in types]}


def test_errors_identified_over_15_minutes() -> None:
    rb = load("high-error-rate")
    raw = step(rb, "check-error-logs")
    params = rendered(rb, raw.aws.params)
    assert (raw.aws.service, raw.aws.operation) == ("logs", "FilterLogEvents")
    assert params["logGroupName"] == "/aws/ecs/hybrid-routing" and params["filterPattern"] == "ERROR"
    assert params["startTime"] == int((NOW - 900) * 1000)
    grouped = step(rb, "group-errors-by-type")
    assert grouped.log_errors.since == 900 and grouped.log_errors.filter_pattern == "ERROR"
    assert rendered(rb, grouped.log_errors.log_group) == "/aws/ecs/hybrid-routing"
    for sid in ("check-error-logs", "group-errors-by-type"):
        assert step(rb, sid).budget == 300


def test_common_causes_table_drives_the_diagnostics() -> None:
    rb = load("high-error-rate")
    ok = {"group-errors-by-type": {"status": "ok"}}
    rows = {  # check -> (error type, guarded diagnostic)
        "auth-errors-present": ("AuthenticationError", "check-iam-role"),
        "throttling-present": ("ThrottlingException", "check-api-quotas"),
        "validation-present": ("ValidationException", "check-input-data"),
    }
    for check_id, (error_type, diagnostic) in rows.items():
        check = step(rb, check_id).check
        with_it = context(rb, steps=ok, errors=_errors("TimeoutError", 0.6, ["TimeoutError", error_type]))
        without = context(rb, steps=ok, errors=_errors("TimeoutError", 0.6, ["TimeoutError"]))
        assert evaluate(check.condition, with_it) is True, check_id
        assert evaluate(check.condition, without) is False, check_id
        assert step(rb, diagnostic).when == check.capture
        assert step(rb, check_id).budget == 300
    assert step(rb, "check-latency-metrics").when == "timeouts_dominate"


def test_timeout_raised_to_15000_only_when_timeouts_dominate() -> None:
    rb = load("high-error-rate")
    raise_timeout = posts(rb, "/admin/config/update")
    assert [s.id for s in raise_timeout] == ["increase-timeout"]
    s = raise_timeout[0]
    assert rendered(rb, s.http.body) == {"timeout": 15000}
    assert s.budget == 300 and s.when == "timeouts_dominate"
    dominate = step(rb, "timeouts-dominate")
    assert dominate.check.capture == "timeouts_dominate"
    assert index(rb, "timeouts-dominate") < index(rb, "increase-timeout")
    ok = {"group-errors-by-type": {"status": "ok"}}
    # the error-spike mix: TimeoutError 62 of 100
    assert evaluate(dominate.check.condition, context(rb, steps=ok, errors=_errors("TimeoutError", 0.62, []))) is True
    # an outage's mix: every type about a quarter
    assert evaluate(dominate.check.condition, context(rb, steps=ok, errors=_errors("TimeoutError", 0.28, []))) is False
    assert (
        evaluate(dominate.check.condition, context(rb, steps=ok, errors=_errors("ThrottlingException", 0.9, [])))
        is False
    )
    # log analysis failed: nothing dominates, no mitigation on unknown data
    failed = {"group-errors-by-type": {"status": "failed"}}
    assert evaluate(dominate.check.condition, context(rb, steps=failed)) is False


def test_circuit_breaker_only_when_failures_cascade() -> None:
    rb = load("high-error-rate")
    enable = posts(rb, "/admin/circuit-breaker/enable")
    assert [s.id for s in enable] == ["enable-circuit-breaker"]
    assert enable[0].when == "failures_cascade" and enable[0].budget == 300
    cascade = step(rb, "failures-cascade").check
    assert cascade.capture == "failures_cascade"
    assert rb.variable("cascade_error_rate").default == 20
    ok = {"read-error-rate-now": {"status": "ok"}, "read-component-health": {"status": "ok"}}
    assert evaluate(cascade.condition, context(rb, steps=ok, error_rate_now=30.0, unhealthy_paths=0)) is True
    assert evaluate(cascade.condition, context(rb, steps=ok, error_rate_now=7.3, unhealthy_paths=2)) is True
    assert evaluate(cascade.condition, context(rb, steps=ok, error_rate_now=7.3, unhealthy_paths=1)) is False
    # the threshold is a variable
    assert (
        evaluate(cascade.condition, context(rb, steps=ok, error_rate_now=7.3, unhealthy_paths=0, cascade_error_rate=5))
        is True
    )


# --- 5. Routing Efficiency Degradation ---------------------------------------------------------------


def test_routing_decisions_of_the_last_hour() -> None:
    rb = load("routing-efficiency")
    s = step(rb, "review-routing-decisions")
    assert s.log_json.filter_pattern == "routing-decision" and s.log_json.since == 3600
    assert s.log_json.fields == ["operation", "route", "reason"]
    assert rendered(rb, s.log_json.log_group) == "/aws/ecs/hybrid-routing"
    assert s.budget == 600


def test_analyze_health_metrics() -> None:
    rb = load("routing-efficiency")
    assert checklist(rb, "analyze-health-metrics") == [
        "Check if health checks are accurate",
        "Verify component health status",
        "Review fallback trigger conditions",
    ]
    for sid in (
        "read-routing-metrics",
        "efficiency-below-threshold",
        "check-component-health",
        "analyze-health-metrics",
    ):
        assert step(rb, sid).budget == 600
    low = step(rb, "efficiency-below-threshold").check
    ok = {"read-routing-metrics": {"status": "ok"}}
    assert evaluate(low.condition, context(rb, steps=ok, routing_efficiency=61.3)) is True
    assert evaluate(low.condition, context(rb, steps=ok, routing_efficiency=93.0)) is False


def test_routing_thresholds_8000_25000_0_7() -> None:
    rb = load("routing-efficiency")
    (update,) = posts(rb, "/admin/routing/config")
    body = rendered(rb, update.http.body)
    assert body == {"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000, "fallbackAggressiveness": 0.7}
    assert isinstance(body["directBedrockLatencyThreshold"], int) and isinstance(body["mcpLatencyThreshold"], int)
    assert update.budget == 1200


def test_monitor_improvement_every_60s_for_20_minutes() -> None:
    rb = load("routing-efficiency")
    mon = step(rb, "monitor-routing-efficiency")
    assert mon.poll.http.path == "/health/metrics" and mon.poll.every == 60 and mon.poll.timeout == 1200
    assert mon.budget == 1200
    assert evaluate(mon.poll.until, context(rb, routing_efficiency_now=70.0)) is True
    assert evaluate(mon.poll.until, context(rb, routing_efficiency_now=69.9)) is False
