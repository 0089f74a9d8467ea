"""The permission preflight's collector and its use of SimulatePrincipalPolicy (issue 13 §1), with
in-process fakes for STS and IAM. The sandbox's own simulation: test_permissions_sandbox.py."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from hybridops.engine.permissions import (
    Need,
    check_permissions,
    collect,
    iam_action,
    principal_for,
    simulate,
)
from hybridops.engine.retry import CallFailure
from hybridops.errors import PreflightFailed
from hybridops.runbook.load import load_runbook
from hybridops.runbook.model import AwsStep, LogErrorsStep, LogJsonStep, PollStep, Runbook

RUNBOOKS = Path(__file__).resolve().parents[2] / "hybridops" / "runbooks"
ACCOUNT = "123456789012"
REGION = "eu-central-1"
# IAM's service prefixes, as the Service Authorization Reference names them (not read from botocore)
PREFIX = {"ecs": "ecs", "elbv2": "elasticloadbalancing", "bedrock-runtime": "bedrock", "health": "health",
          "service-quotas": "servicequotas", "cloudwatch": "cloudwatch", "logs": "logs", "sqs": "sqs",
          "iam": "iam", "ec2": "ec2", "sts": "sts"}


def shipped(name: str) -> Runbook:
    return load_runbook(RUNBOOKS / f"{name}.yaml").runbook


def defaults(rb: Runbook) -> dict[str, Any]:
    return {v.name: v.default for v in rb.variables}


def write_runbook(tmp_path: Path, steps: str, variables: str = "") -> Runbook:
    text = textwrap.dedent("""\
        id: perms
        title: Permissions
        severity: P2
        response_time: 1h
        impact: none
        owner: test
        version: 1.0.0
        variables:
          - {name: region, default: eu-west-1}
          - {name: cluster, default: prod-cluster}
          - {name: service, default: api}
        """) + textwrap.dedent(variables) + "phases:\n  - id: p\n    title: P\n    steps:\n" + textwrap.indent(
        textwrap.dedent(steps), "      ")
    path = tmp_path / "perms.yaml"
    path.write_text(text)
    return load_runbook(path).runbook


@pytest.mark.parametrize("name", ["outage", "bedrock-failure", "mcp-failure", "high-error-rate",
                                  "routing-efficiency"])
def test_every_aws_call_and_log_query_of_a_shipped_runbook_is_collected(name: str) -> None:
    rb = shipped(name)
    expected = []
    for _, step in rb.steps():
        if isinstance(step, AwsStep | PollStep) and step.call is not None and hasattr(step.call, "service"):
            call = step.call
            action = "bedrock:InvokeModel" if call.operation == "InvokeModel" else \
                f"{PREFIX[call.service]}:{call.operation}"
            expected.append((step.id, action, step.is_mutating))
        if isinstance(step, LogErrorsStep | LogJsonStep):
            expected.append((step.id, "logs:FilterLogEvents", False))
    needs = collect(rb, defaults(rb), region=REGION, account=ACCOUNT)
    assert [(n.step, n.action, n.mutating) for n in needs] == expected
    assert expected  # every shipped runbook calls AWS (routing-efficiency through its log step)


def test_resources_are_the_arns_the_runbook_knows() -> None:
    by_step = {(n.step, n.action): n for n in collect(shipped("outage"), defaults(shipped("outage")),
                                                       region=REGION, account=ACCOUNT)}
    service_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/hybrid-routing-cluster/hybrid-routing-service"
    restart = by_step[("restart-routing-service", "ecs:UpdateService")]
    assert restart.resources == (service_arn,) and restart.mutating
    assert by_step[("describe-ecs-service", "ecs:DescribeServices")].resources == (service_arn,)
    assert by_step[("review-error-logs", "logs:FilterLogEvents")].resources == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/ecs/hybrid-routing",)
    # a target group captured by an earlier step is not known before the run; Describe* takes no resource
    assert by_step[("check-alb-target-health", "elasticloadbalancing:DescribeTargetHealth")].resources == ("*",)
    mcp = {n.step: n for n in collect(shipped("mcp-failure"), defaults(shipped("mcp-failure")),
                                      region=REGION, account=ACCOUNT)}
    assert mcp["lookup-queue-url"].resources == (f"arn:aws:sqs:{REGION}:{ACCOUNT}:mcp-router-queue",)
    assert mcp["follow-mcp-logs"].via == "poll" and mcp["mcp-log-errors"].via == "log"
    bedrock = {n.step: n for n in collect(shipped("bedrock-failure"), defaults(shipped("bedrock-failure")),
                                          region=REGION, account=ACCOUNT)}
    assert bedrock["invoke-bedrock"].resources == (
        f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-3-sonnet-20240229-v1:0",)
    assert not bedrock["invoke-bedrock"].mutating  # a probe by the mutation classification
    # role_arn has a default ("") but a step captures it: unknown before the run
    assert bedrock["check-iam-permissions"].resources == ("*",)


def test_undo_branches_variables_and_regions(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """\
        - id: pick
          title: Which way?
          budget: 1m
          choice:
            question: which?
            options: [{value: a, goto: scale}, {value: b, goto: drain}]
        - id: scale
          title: Scale
          budget: 1m
          aws:
            service: ecs
            operation: UpdateService
            region: "{{ region }}"
            params: {cluster: "{{ cluster }}", service: "{{ service }}", desiredCount: 4}
          undo:
            aws:
              service: ecs
              operation: UpdateService
              region: "{{ region }}"
              params: {cluster: "{{ cluster }}", service: "{{ service }}", desiredCount: 2}
          next: end
        - id: drain
          title: Drain the queue
          budget: 1m
          when: "false"
          aws:
            service: sqs
            operation: PurgeQueue
            params: {QueueUrl: "https://sqs.us-east-1.amazonaws.com/999999999999/jobs"}
        - id: alarm
          title: Alarm
          budget: 1m
          aws: {service: cloudwatch, operation: DescribeAlarms}
        """)
    needs = collect(rb, {"region": "eu-west-1", "cluster": "blue", "service": "api"}, region=REGION,
                    account=ACCOUNT)
    arn = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:service/blue/api"  # the call's own region, from the --var
    assert [(n.step, n.via, n.action, n.resources, n.mutating) for n in needs] == [
        ("scale", "call", "ecs:UpdateService", (arn,), True),
        ("scale", "undo", "ecs:UpdateService", (arn,), True),
        ("drain", "call", "sqs:PurgeQueue", ("arn:aws:sqs:us-east-1:999999999999:jobs",), True),
        ("alarm", "call", "cloudwatch:DescribeAlarms", ("*",), False),
    ]
    assert needs[1].loc[-2:] == ("undo", "aws")


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("elbv2", "DescribeTargetHealth", "elasticloadbalancing:DescribeTargetHealth"),
    ("bedrock-runtime", "InvokeModel", "bedrock:InvokeModel"),
    ("bedrock-runtime", "Converse", "bedrock:InvokeModel"),
    ("cloudwatch", "GetMetricStatistics", "cloudwatch:GetMetricStatistics"),
    ("service-quotas", "ListServiceQuotas", "servicequotas:ListServiceQuotas"),
    ("lambda", "Invoke", "lambda:InvokeFunction"),
    ("ecs", "UpdateService", "ecs:UpdateService"),
])
def test_iam_action_names(service: str, operation: str, action: str) -> None:
    assert iam_action(service, operation) == action


class FakeIam:
    """STS and IAM as the engine's AWS runner sees them: decisions per action, in pages of `page`."""

    def __init__(self, decisions: dict[str, str], *, page: int = 100, caller: str = "", role_arn: str = "") -> None:
        self.decisions = decisions
        self.page = page
        self.caller = caller or f"arn:aws:sts::{ACCOUNT}:assumed-role/oncall/alice"
        self.role_arn = role_arn
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(self, service: str, operation: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append((service, operation, params))
        if operation == "GetCallerIdentity":
            return {"Arn": self.caller, "Account": ACCOUNT}
        if operation == "GetRole":
            if not self.role_arn:
                raise CallFailure("aws iam GetRole: AccessDenied")
            return {"Role": {"Arn": self.role_arn}}
        results = [{"EvalActionName": a, "EvalResourceName": r, "EvalDecision": self.decisions.get(a, "implicitDeny"),
                    "MatchedStatements": [{"SourcePolicyId": "deny-restarts", "SourcePolicyType": "user-managed",
                                           "StartPosition": {"Line": 3, "Column": 5}}]
                    if self.decisions.get(a) == "explicitDeny" else []}
                   for a in params["ActionNames"] for r in params.get("ResourceArns", ["*"])]
        start = int(params.get("Marker", 0))
        more = start + self.page < len(results)
        return {"EvaluationResults": results[start:start + self.page], "IsTruncated": more,
                **({"Marker": str(start + self.page)} if more else {})}


def test_a_denied_change_fails_the_check_naming_the_statement_and_reads_are_warnings() -> None:
    rb = shipped("outage")
    fake = FakeIam({"ecs:DescribeServices": "allowed", "ecs:UpdateService": "explicitDeny",
                    "cloudwatch:GetMetricStatistics": "allowed", "logs:FilterLogEvents": "allowed",
                    "health:DescribeEvents": "allowed"}, page=1)  # one result a page: every Marker followed
    report = check_permissions(fake, rb, defaults(rb), region=REGION)
    assert report.principal == f"arn:aws:iam::{ACCOUNT}:role/oncall"  # the session's role
    assert not report.ok
    [denied] = report.denied_changes
    assert denied.need.step == "restart-routing-service" and denied.decision == "explicitDeny"
    assert "explicit deny by policy deny-restarts (user-managed, line 3 column 5)" in denied.line()
    assert [c.need.action for c in report.denied_reads] == ["elasticloadbalancing:DescribeTargetHealth"]
    assert report.to_json()["denied_mutating"] == 1 and report.to_json()["ok"] is False
    sims = [c for c in fake.calls if c[1] == "SimulatePrincipalPolicy"]
    assert all(len(c[2].get("ResourceArns", ["*"])) == 1 for c in sims)  # one resource per question


def test_everything_allowed_passes() -> None:
    rb = shipped("mcp-failure")
    fake = FakeIam({a: "allowed" for a in ("logs:FilterLogEvents", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                                           "ecs:UpdateService")})
    report = check_permissions(fake, rb, defaults(rb), region=REGION, role=f"arn:aws:iam::{ACCOUNT}:role/ops")
    assert report.ok and not report.denied_reads and report.principal == f"arn:aws:iam::{ACCOUNT}:role/ops"
    assert not [c for c in fake.calls if c[1] == "GetCallerIdentity"]  # --role: STS is not needed


def test_principal_of_the_caller() -> None:
    assert principal_for(f"arn:aws:sts::{ACCOUNT}:assumed-role/oncall/alice") == f"arn:aws:iam::{ACCOUNT}:role/oncall"
    with_path = FakeIam({}, role_arn=f"arn:aws:iam::{ACCOUNT}:role/team/oncall")
    assert principal_for(f"arn:aws:sts::{ACCOUNT}:assumed-role/oncall/alice", with_path) == \
        f"arn:aws:iam::{ACCOUNT}:role/team/oncall"
    assert principal_for(f"arn:aws:iam::{ACCOUNT}:user/bob") == f"arn:aws:iam::{ACCOUNT}:user/bob"
    for who in (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:sts::{ACCOUNT}:federated-user/carol", "nonsense"):
        with pytest.raises(PreflightFailed, match="--role ARN"):
            principal_for(who)


def test_a_bad_role_and_a_refused_simulation_are_one_line_errors() -> None:
    rb = shipped("mcp-failure")
    with pytest.raises(PreflightFailed, match="--role oncall: not the ARN of an IAM role"):
        check_permissions(FakeIam({}), rb, defaults(rb), region=REGION, role="oncall")

    class Refusing(FakeIam):
        def call(self, service: str, operation: str, params: dict[str, Any], **kw: Any) -> dict[str, Any]:
            if operation == "SimulatePrincipalPolicy":
                raise CallFailure("aws iam SimulatePrincipalPolicy: AccessDenied: not authorized")
            return super().call(service, operation, params, **kw)

    with pytest.raises(PreflightFailed, match="cannot check permissions: .*AccessDenied.*iam:SimulatePrincipalPolicy"):
        check_permissions(Refusing({}), rb, defaults(rb), region=REGION)


def test_an_answer_missing_a_pair_counts_as_denied() -> None:
    need = Need("s", "call", "ecs", "UpdateService", "ecs:UpdateService", ("*",), True, ())

    class Silent(FakeIam):
        def call(self, service: str, operation: str, params: dict[str, Any], **kw: Any) -> dict[str, Any]:
            return {"EvaluationResults": [], "IsTruncated": False}

    [check] = simulate(Silent({}), "arn:aws:iam::1:role/x", [need])
    assert check.decision == "implicitDeny" and check.denied


def test_a_runbook_without_aws_calls_asks_nobody(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """\
        - id: look
          title: Look
          budget: 1m
          http: {method: GET, path: /health}
        """)
    fake = FakeIam({})
    report = check_permissions(fake, rb, {}, region=REGION)
    assert report.ok and report.checks == () and fake.calls == []


class Prepared:
    """What `incident` hands the check: the loaded runbook, its settings and variables."""

    def __init__(self, rb: Runbook) -> None:
        from types import SimpleNamespace

        self.loaded = SimpleNamespace(runbook=rb)
        self.variables = defaults(rb)
        self.settings = SimpleNamespace(aws_region=SimpleNamespace(value=REGION),
                                        aws_profile=SimpleNamespace(value=None))


def test_incident_check_permissions_gate(capsys: pytest.CaptureFixture[str]) -> None:
    from hybridops.cli.preflight import check_run_permissions
    from hybridops.engine.context import RunOptions
    from hybridops.errors import UsageError

    rb = shipped("outage")
    denying = {"ecs:UpdateService": "explicitDeny", "ecs:DescribeServices": "allowed",
               "cloudwatch:GetMetricStatistics": "allowed", "logs:FilterLogEvents": "allowed",
               "health:DescribeEvents": "allowed"}
    fake = FakeIam(denying)
    with pytest.raises(PreflightFailed) as stopped:
        check_run_permissions(Prepared(rb), RunOptions(yes=True), fake)
    assert stopped.value.problems == [  # one line per denied change; a denied read is a warning
        f"error: preflight: step restart-routing-service: ecs:UpdateService on arn:aws:ecs:{REGION}:{ACCOUNT}:"
        "service/hybrid-routing-cluster/hybrid-routing-service: explicit deny by policy deny-restarts "
        f"(user-managed, line 3 column 5) (as arn:aws:iam::{ACCOUNT}:role/oncall; nothing was sent)"]
    assert "warning: preflight: step check-alb-target-health: elasticloadbalancing:DescribeTargetHealth" in \
        capsys.readouterr().err
    # --read-only sends no change: a denied one is only a warning there, and the run goes on
    assert check_run_permissions(Prepared(rb), RunOptions(read_only=True), FakeIam(denying)) is not None
    assert "(skipped by --read-only)" in capsys.readouterr().err
    dry = FakeIam(denying)
    assert check_run_permissions(Prepared(rb), RunOptions(dry_run=True), dry) is None and dry.calls == []
    with pytest.raises(UsageError, match="--skip-preflight"):
        check_run_permissions(Prepared(rb), RunOptions(skip_preflight=True), FakeIam(denying))


def test_bad_input_is_one_line(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli("preflight", "no-such-runbook")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # no AWS endpoint answers here: STS fails, one line, nothing else asked
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    code, _, err = cli("preflight", "outage", "--role", "not-an-arn", "--runbooks", str(RUNBOOKS))
    assert (code, err.strip()) == (1, "error: preflight: --role not-an-arn: not the ARN of an IAM role, user or "
                                      "group (arn:aws:iam::ACCOUNT:role/NAME)")
    code, _, err = cli("preflight", "outage", "--runbooks", str(RUNBOOKS))
    assert code == 1 and err.startswith("error: preflight: aws sts GetCallerIdentity: cannot reach the AWS endpoint")
    assert len(err.strip().splitlines()) == 1
