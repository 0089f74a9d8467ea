"""The sandbox's SimulatePrincipalPolicy (issue 13 §1): IAM's evaluation over moto's IAM backend, read
in-process (the same function answers the sandbox's HTTP requests: tests/e2e/test_preflight.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

pytest.importorskip("moto")

from moto.iam.models import AWSManagedPolicy, iam_backends  # noqa: E402

from hybridops.engine.permissions import collect  # noqa: E402
from hybridops.runbook.botocore_check import service_model  # noqa: E402
from hybridops.runbook.load import load_runbook  # noqa: E402
from hybridops.sandbox import aws_extras, seed  # noqa: E402
from hybridops.sandbox.faults import Faults  # noqa: E402
from hybridops.sandbox.scenarios import OPERATOR_ROLE  # noqa: E402
from hybridops.sandbox.world import World  # noqa: E402

RUNBOOKS = Path(__file__).resolve().parents[2] / "hybridops" / "runbooks"
NS = {"i": aws_extras.IAM_NS}
SERVICE = "arn:aws:ecs:eu-central-1:{acct}:service/prod/api"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


@pytest.fixture
def account() -> Any:
    acct = str(random.SystemRandom().randrange(10**11, 10**12))
    yield acct
    iam_backends.pop(acct, None)


def iam(acct: str) -> Any:
    return iam_backends[acct]["global"]


def make_role(acct: str, name: str = "ops") -> str:
    return iam(acct).create_role(name, doc(), "/", None, "", [], None).arn


def simulate(acct: str, source: str, actions: list[str], resources: list[str] | None = None,
             **extra: str) -> tuple[int, Any]:
    params: dict[str, Any] = {"PolicySourceArn": source, **extra}
    params.update({f"ActionNames.member.{i}": a for i, a in enumerate(actions, 1)})
    params.update({f"ResourceArns.member.{i}": r for i, r in enumerate(resources or [], 1)})
    answer = aws_extras._simulate(params, acct)
    return answer.status, ElementTree.fromstring(answer.body)


def results(tree: Any) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    out = []
    for m in tree.findall(".//i:EvaluationResults/i:member", NS):
        stmts = [(s.findtext("i:SourcePolicyId", namespaces=NS), s.findtext("i:SourcePolicyType", namespaces=NS))
                 for s in m.findall("i:MatchedStatements/i:member", NS)]
        out.append((m.findtext("i:EvalActionName", namespaces=NS), m.findtext("i:EvalResourceName", namespaces=NS),
                    m.findtext("i:EvalDecision", namespaces=NS), stmts))
    return out


def test_inline_and_managed_policies_of_a_role_and_explicit_deny_wins(account: str) -> None:
    role = make_role(account)
    svc = SERVICE.format(acct=account)
    iam(account).put_role_policy("ops", "inline-restarts", doc(
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "arn:aws:ecs:*:*:service/prod/*"}))
    reads = iam(account).create_policy("", "/", doc({"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}),
                                       "reads", [])
    iam(account).attach_role_policy(reads.arn, "ops")
    status, tree = simulate(account, role, ["ecs:UpdateService", "ECS:describeservices", "ecs:DeleteService"], [svc])
    assert status == 200
    assert results(tree) == [
        ("ecs:UpdateService", svc, "allowed", [("inline-restarts", "role")]),
        ("ECS:describeservices", svc, "allowed", [("reads", "user-managed")]),  # actions ignore case
        ("ecs:DeleteService", svc, "implicitDeny", []),
    ]
    deny = iam(account).create_policy("", "/", doc({"Sid": "NoRestarts", "Effect": "Deny", "Action": "ecs:Update*",
                                                    "Resource": "*"}), "no-restarts", [])
    iam(account).attach_role_policy(deny.arn, "ops")
    _, tree = simulate(account, role, ["ecs:UpdateService"], [svc])
    assert results(tree) == [("ecs:UpdateService", svc, "explicitDeny", [("no-restarts", "user-managed")])]


def test_resource_arns_not_action_and_not_resource(account: str) -> None:
    role = make_role(account)
    iam(account).put_role_policy("ops", "p", doc(
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "arn:aws:ecs:*:*:service/prod/*"},
        {"Effect": "Allow", "NotAction": ["iam:*", "ecs:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:*", "NotResource": "arn:aws:sqs:*:*:jobs"}))
    prod, test = SERVICE.format(acct=account), SERVICE.format(acct=account).replace("/prod/", "/test/")
    _, tree = simulate(account, role, ["ecs:UpdateService", "iam:PassRole", "sqs:PurgeQueue"],
                       [prod, test, "arn:aws:sqs:eu-west-1:1:jobs"])
    decisions = {(a, r): d for a, r, d, _ in results(tree)}
    assert decisions[("ecs:UpdateService", prod)] == "allowed"
    assert decisions[("ecs:UpdateService", test)] == "implicitDeny"  # another cluster's service
    assert decisions[("iam:PassRole", prod)] == "implicitDeny"  # NotAction leaves iam out
    assert decisions[("sqs:PurgeQueue", prod)] == "explicitDeny"  # NotResource: every other resource
    assert decisions[("sqs:PurgeQueue", "arn:aws:sqs:eu-west-1:1:jobs")] == "allowed"  # by the NotAction allow
    # asked about "any resource", a statement for named resources does not answer
    _, tree = simulate(account, role, ["ecs:UpdateService"])
    assert results(tree)[0][1:3] == ("*", "implicitDeny")


def test_a_user_is_answered_as_a_user_with_its_groups(account: str) -> None:
    user = iam(account).create_user("us-east-1", "alice")
    iam(account).put_user_policy("alice", "own", doc({"Effect": "Allow", "Action": "logs:Filter*", "Resource": "*"}))
    iam(account).create_group("oncall")
    iam(account).add_user_to_group("oncall", "alice")
    iam(account).put_group_policy("oncall", "team", doc({"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}))
    _, tree = simulate(account, user.arn, ["logs:FilterLogEvents", "ecs:UpdateService", "s3:GetObject"])
    assert [(a, d, s) for a, _, d, s in results(tree)] == [
        ("logs:FilterLogEvents", "allowed", [("own", "user")]),
        ("ecs:UpdateService", "allowed", [("team", "group")]),
        ("s3:GetObject", "implicitDeny", []),
    ]
    status, tree = simulate(account, f"arn:aws:iam::{account}:role/alice", ["ecs:UpdateService"])
    assert status == 404 and tree.findtext(".//i:Code", namespaces=NS) == "NoSuchEntity"
    status, tree = simulate(account, f"arn:aws:sts::{account}:assumed-role/ops/alice", ["ecs:UpdateService"])
    assert status == 400 and tree.findtext(".//i:Code", namespaces=NS) == "InvalidInput"


def test_source_policy_types_are_iams_documented_values_and_positions_are_the_statements(account: str) -> None:
    role = make_role(account)
    text = doc({"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"},
               {"Sid": "Second", "Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"})
    iam(account).put_role_policy("ops", "inline", text)
    managed = AWSManagedPolicy("ReadOnlyish", account, "us-east-1", default_version_id="v1",
                               document=doc({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}), path="/")
    iam(account).roles[next(k for k, r in iam(account).roles.items() if r.name == "ops")].managed_policies[
        managed.arn] = managed
    extra = doc({"Effect": "Allow", "Action": "health:DescribeEvents", "Resource": "*"})
    _, tree = simulate(account, role, ["ecs:ListClusters", "ec2:DescribeVpcs", "health:DescribeEvents"],
                       **{"PolicyInputList.member.1": extra})
    documented = set(service_model("iam").shape_for("Statement").members["SourcePolicyType"].enum)
    found = [s for *_, stmts in results(tree) for s in stmts]
    assert found == [("inline", "role"), ("ReadOnlyish", "aws-managed"), ("PolicyInputList.1", "none")]
    assert {t for _, t in found} <= documented
    first = tree.find(".//i:MatchedStatements/i:member", NS)
    line = int(first.findtext("i:StartPosition/i:Line", namespaces=NS))
    column = int(first.findtext("i:StartPosition/i:Column", namespaces=NS))
    end_line = int(first.findtext("i:EndPosition/i:Line", namespaces=NS))
    lines = text.splitlines()
    assert lines[line - 1][column - 1] == "{" and '"Sid": "Second"' in "\n".join(lines[line - 1:end_line])
    assert lines[end_line - 1].strip().startswith("}")


def test_conditions_are_missing_context_and_pages_follow_markers(account: str) -> None:
    role = make_role(account)
    iam(account).put_role_policy("ops", "p", doc(
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent":
                                                                                    "true"}}}))
    _, tree = simulate(account, role, ["ecs:UpdateService"])
    assert results(tree)[0][2] == "implicitDeny"
    assert tree.findtext(".//i:MissingContextValues/i:member", namespaces=NS) == "aws:MultiFactorAuthPresent"
    _, tree = simulate(account, role, ["ecs:A", "ecs:B", "ecs:C"], MaxItems="2")
    assert tree.findtext(".//i:IsTruncated", namespaces=NS) == "true"
    marker = tree.findtext(".//i:Marker", namespaces=NS)
    assert [r[0] for r in results(tree)] == ["ecs:A", "ecs:B"]
    _, tree = simulate(account, role, ["ecs:A", "ecs:B", "ecs:C"], MaxItems="2", Marker=marker)
    assert [r[0] for r in results(tree)] == ["ecs:C"] and tree.findtext(".//i:IsTruncated", namespaces=NS) == "false"


def test_the_seeded_operator_role_may_run_all_five_runbooks(account: str) -> None:
    seed.seed_operator(account)
    statements = aws_extras.principal_statements(f"arn:aws:iam::{account}:role/{OPERATOR_ROLE}", account)
    assert isinstance(statements, list)
    for path in sorted(RUNBOOKS.glob("*.yaml")):
        rb = load_runbook(path).runbook
        for need in collect(rb, {v.name: v.default for v in rb.variables}, region="eu-central-1", account=account):
            for resource in need.resources:
                decision = aws_extras.evaluate(need.action, resource, statements).decision
                assert decision == "allowed", (rb.id, need.step, need.action, resource)


def test_an_iam_deny_fault_is_a_policy_of_the_role_until_the_scenario_changes(account: str) -> None:
    seed.seed_operator(account)
    faults = Faults(World("healthy"))
    faults.add({"kind": "iam-deny", "action": "ecs:UpdateService"})
    faults.sync_iam(account)
    operator = f"arn:aws:iam::{account}:role/{OPERATOR_ROLE}"
    svc = SERVICE.format(acct=account).replace("/prod/", "/mcp-cluster/")
    _, tree = simulate(account, operator, ["ecs:UpdateService", "ecs:DescribeServices"], [svc])
    assert [(a, d, s) for a, _, d, s in results(tree)] == [
        ("ecs:UpdateService", "explicitDeny", [("hybridops-sandbox-deny-1", "user-managed")]),
        ("ecs:DescribeServices", "allowed", [("hybridops-runbook-reads", "user-managed")]),
    ]
    faults.clear()
    faults.sync_iam(account)
    _, tree = simulate(account, operator, ["ecs:UpdateService"], [svc])
    assert results(tree)[0][2] == "allowed"
    assert f"arn:aws:iam::{account}:policy/hybridops-sandbox-deny-1" not in iam(account).managed_policies


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "iam-deny"}, "action must be an IAM action"),
    ({"kind": "iam-deny", "action": "UpdateService"}, "action must be an IAM action"),
    ({"kind": "iam-deny", "action": "ecs:UpdateService", "role": "a/b"}, "role must be the name of an IAM role"),
    ({"kind": "iam-deny", "action": "ecs:UpdateService", "on_request": 1}, "request faults only"),
])
def test_bad_iam_faults(fault: dict[str, Any], message: str) -> None:
    from hybridops.sandbox.faults import check_fault

    with pytest.raises(ValueError, match=message):
        check_fault(fault)


def test_a_permissions_boundary_limits_and_a_resource_policy_grants(account: str) -> None:
    limit = iam(account).create_policy("", "/", doc({"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}),
                                       "boundary", [])
    role = iam(account).create_role("bounded", doc(), "/", limit.arn, "", [], None).arn
    iam(account).put_role_policy("bounded", "all", doc({"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}))
    _, tree = simulate(account, role, ["ecs:DescribeServices", "ecs:UpdateService"])
    assert [(a, d) for a, _, d, _ in results(tree)] == [("ecs:DescribeServices", "allowed"),
                                                         ("ecs:UpdateService", "implicitDeny")]
    queue = "arn:aws:sqs:eu-central-1:1:jobs"
    grant = doc({"Effect": "Allow", "Principal": {"AWS": role}, "Action": "sqs:SendMessage", "Resource": queue},
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sqs:*",
                 "Resource": queue})
    plain = make_role(account, "plain")
    _, tree = simulate(account, plain, ["sqs:SendMessage"], [queue], ResourcePolicy=grant)
    assert results(tree)[0][2] == "implicitDeny"  # the grant names another principal
    _, tree = simulate(account, role, ["sqs:SendMessage", "sqs:PurgeQueue"], [queue], ResourcePolicy=grant)
    assert [(a, d, s) for a, _, d, s in results(tree)] == [
        ("sqs:SendMessage", "implicitDeny", []),  # granted, but outside the boundary
        ("sqs:PurgeQueue", "implicitDeny", [])]
    _, tree = simulate(account, plain, ["sqs:SendMessage"], [queue],
                       ResourcePolicy=grant.replace(role, plain))
    assert results(tree)[0][2:] == ("allowed", [("ResourcePolicy", "resource")])


def test_an_iam_deny_fault_on_the_task_role_and_on_a_role_that_does_not_exist(account: str) -> None:
    task_role = make_role(account, seed.ROUTING_ROLE)
    iam(account).put_role_policy(seed.ROUTING_ROLE, "runtime", doc(
        {"Effect": "Allow", "Action": list(seed.TASK_ROLE_ACTIONS), "Resource": "*"}))
    world = World("bedrock-down")
    faults = Faults(world)
    faults.add({"kind": "iam-deny", "action": "bedrock:InvokeModel", "role": seed.ROUTING_ROLE})
    faults.add({"kind": "iam-deny", "action": "ecs:UpdateService", "role": "nobody"})
    faults.sync_iam(account)
    _, tree = simulate(account, task_role, ["bedrock:InvokeModel", "sqs:SendMessage"])
    assert [(a, d) for a, _, d, _ in results(tree)] == [("bedrock:InvokeModel", "explicitDeny"),
                                                         ("sqs:SendMessage", "allowed")]
    assert [f["what"] for f in world.fault_log if f["kind"] == "iam-deny"][-1] == "no role nobody: nothing denied"
    assert [f["role"] for f in faults.iam_denies] == [seed.ROUTING_ROLE]


def test_the_operators_denied_calls_are_refused_as_aws_refuses_them() -> None:
    faults = Faults(World("healthy"))
    faults.add({"kind": "iam-deny", "action": "ecs:Update*"})
    faults.add({"kind": "iam-deny", "action": "iam:SimulatePrincipalPolicy"})
    faults.add({"kind": "iam-deny", "action": "bedrock:InvokeModel", "role": seed.ROUTING_ROLE})  # not the caller
    refused = faults.take_aws("aws ecs UpdateService", "application/x-amz-json-1.1", "ecs")
    assert refused is not None and refused.status == 400
    body = json.loads(refused.body)
    assert body["__type"] == "AccessDeniedException" and "ecs:UpdateService with an explicit deny" in body["message"]
    query = faults.take_aws("aws iam SimulatePrincipalPolicy", "application/x-www-form-urlencoded", "iam")
    assert query is not None and query.status == 403 and b"<Code>AccessDenied</Code>" in query.body
    assert faults.take_aws("aws ecs DescribeServices", "application/x-amz-json-1.1", "ecs") is None
    assert faults.take_aws("aws bedrock-runtime InvokeModel", "application/json", "bedrock-runtime") is None
