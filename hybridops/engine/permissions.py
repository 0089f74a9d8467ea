"""Can this identity run this runbook? Every IAM action a run may call, asked of IAM's policy simulator.

`collect` walks every step of a runbook (every branch: a run may reach any of them), its undo and the
calls behind its kind (a log step's FilterLogEvents, a poll's repeated call), and names each call the
way IAM does: the service's signing name (botocore's model) and the operation, a few known exceptions
aside (`monitoring` signs CloudWatch, whose actions are `cloudwatch:*`). The resources are ARNs built
from the call's parameters when the runbook alone decides them (its variables, never a capture), and
`*` otherwise: IAM then answers for "any resource".

`simulate` asks SimulatePrincipalPolicy about each (action, resource) for one principal: the caller
from STS (an assumed role's session mapped to its role) or a given role or user ARN.

No typer or rich here: the CLI renders the report (`hybridops preflight`, `incident --check-permissions`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridops.errors import PreflightFailed
from hybridops.runbook.model import AwsCall, LogErrorsStep, LogJsonStep, PathKey, Runbook

# IAM's service prefix where it is not botocore's signing name (or endpoint prefix).
_PREFIXES = {"monitoring": "cloudwatch", "email": "ses", "iotdata": "iot", "data.iot": "iot"}
# Operations whose IAM action has another name than the operation (the Service Authorization Reference).
_ACTIONS = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
}
DECISIONS = ("allowed", "implicitDeny", "explicitDeny")
SHOWN = {"allowed": "allowed", "implicitDeny": "implicit deny", "explicitDeny": "explicit deny"}


def iam_action(service: str, operation: str) -> str:
    """`ecs:UpdateService`, `elasticloadbalancing:DescribeTargetHealth`, `bedrock:InvokeModel` (for
    bedrock-runtime), `cloudwatch:GetMetricStatistics`: the action IAM evaluates for this call."""
    if (service, operation) in _ACTIONS:
        return _ACTIONS[(service, operation)]
    from hybridops.runbook.botocore_check import service_model

    model = service_model(service)
    prefix = service
    if model is not None:
        prefix = model.metadata.get("signingName") or model.metadata.get("endpointPrefix") or service
    return f"{_PREFIXES.get(prefix, prefix)}:{operation}"


@dataclass(frozen=True)
class Need:
    """One IAM action a step may call, on these resources."""

    step: str
    via: str  # "call", "poll", "undo" or "log": where in the step the call is
    service: str
    operation: str
    action: str
    resources: tuple[str, ...]
    mutating: bool
    loc: PathKey  # the call's place in the runbook file (for annotations)


def known_names(runbook: Runbook, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables whose values a run knows before it starts: a name some step captures may be
    replaced during the run (a `role_arn` looked up when empty), so it is not known."""
    captured: set[str] = set()
    for _, step in runbook.steps():
        captured |= set(step.captures())
    return {k: v for k, v in variables.items() if k not in captured and v is not None}


def resolve(value: Any, known: Mapping[str, Any]) -> Any:
    """`value` with its templates rendered from `known`, or None when any of it depends on something
    else (a capture, a missing variable, the clock) or renders to nothing."""
    from hybridops.runbook.expr import ExpressionError, is_template, references, render, walk_strings

    for text in walk_strings(value):
        if is_template(text):
            try:
                if not references(text) <= set(known):
                    return None
            except ExpressionError:
                return None
    try:
        out = render(value, dict(known))
    except ExpressionError:
        return None
    if out in ("", None, []):
        return None
    return out


def collect(runbook: Runbook, variables: Mapping[str, Any], *, region: str, account: str,
            partition: str | None = None) -> list[Need]:
    """Every IAM action a run of `runbook` may call, step by step, in the runbook's order."""
    from hybridops.runbook.botocore_check import _effective_region

    known = known_names(runbook, variables)
    needs: list[Need] = []
    for pi, phase in enumerate(runbook.phases):
        for si, step in enumerate(phase.steps):
            base: PathKey = ("phases", pi, "steps", si)
            calls: list[tuple[str, PathKey, str, str, str | None, dict[str, Any], bool]] = []
            for loc, call in step.calls():
                if not isinstance(call, AwsCall):
                    continue
                is_undo = loc[0] == "undo"
                via = "undo" if is_undo else ("poll" if step.kind == "poll" else "call")
                # an undo reverses a change: it is one too, whatever its verb
                mutating = True if is_undo else step.is_mutating
                calls.append((via, (*base, *loc), call.service, call.operation, call.region, call.params, mutating))
            if isinstance(step, LogErrorsStep | LogJsonStep):
                body = step.body
                calls.append(("log", (*base, step.kind), "logs", "FilterLogEvents", body.region,
                              {"logGroupName": body.log_group}, False))
            for via, loc, service, operation, call_region, params, mutating in calls:
                where = _effective_region(call_region, dict(known), region) or region
                action = iam_action(service, operation)
                arns = resource_arns(service, operation, params, known, region=where, account=account,
                                     partition=partition or partition_of(where))
                needs.append(Need(step.id, via, service, operation, action, arns, mutating, loc))
    return needs


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _name(value: Any) -> str | None:
    """The last part of a name-or-ARN (`arn:...:cluster/mcp-cluster` -> `mcp-cluster`)."""
    if not isinstance(value, str) or not value:
        return None
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def resource_arns(service: str, operation: str, params: Mapping[str, Any], known: Mapping[str, Any], *,
                  region: str, account: str, partition: str = "aws") -> tuple[str, ...]:
    """The ARNs IAM evaluates the call against, where the action takes a resource and the runbook's
    variables decide it; ("*",) otherwise."""
    def get(key: str) -> Any:
        return resolve(params[key], known) if key in params else None

    head = f"arn:{partition}"
    found: list[str] | None = None
    if service == "ecs":
        found = _ecs(operation, get, head, region, account)
    elif service == "logs":
        group = get("logGroupName") or get("logGroupIdentifier")
        if isinstance(group, str) and operation not in ("DescribeLogGroups",):
            group = group.split(":log-group:", 1)[1].removesuffix(":*") if ":log-group:" in group else group
            found = [f"{head}:logs:{region}:{account}:log-group:{group}"]
    elif service == "sqs":
        url, name = get("QueueUrl"), get("QueueName")
        if isinstance(url, str) and url.count("/") >= 4:
            owner, queue = url.rstrip("/").rsplit("/", 2)[-2:]
            host = re.search(r"//sqs\.([a-z0-9-]+)\.amazonaws", url)  # a queue's URL names its region
            found = [f"{head}:sqs:{host.group(1) if host else region}:{owner}:{queue}"]
        elif isinstance(name, str):
            found = [f"{head}:sqs:{region}:{account}:{name}"]
    elif service == "bedrock-runtime":
        model = get("modelId")
        if isinstance(model, str):
            found = [model if model.startswith("arn:") else f"{head}:bedrock:{region}::foundation-model/{model}"]
    elif service == "elbv2" and not operation.startswith("Describe"):
        arn = get("TargetGroupArn") or get("LoadBalancerArn") or get("ListenerArn")
        found = [arn] if isinstance(arn, str) else None
    elif service == "iam":
        source = get("PolicySourceArn")
        if isinstance(source, str):
            found = [source]
        elif isinstance(get("RoleName"), str):
            found = [f"{head}:iam::{account}:role/{get('RoleName')}"]
        elif isinstance(get("UserName"), str):
            found = [f"{head}:iam::{account}:user/{get('UserName')}"]
    elif service == "dynamodb":
        table = _name(get("TableName"))
        found = [f"{head}:dynamodb:{region}:{account}:table/{table}"] if table else None
    elif service == "lambda":
        fn = get("FunctionName")
        if isinstance(fn, str):
            found = [fn if fn.startswith("arn:") else f"{head}:lambda:{region}:{account}:function:{fn}"]
    elif service == "sns":
        topic = get("TopicArn")
        found = [topic] if isinstance(topic, str) else None
    elif service == "s3":
        bucket, key = get("Bucket"), get("Key")
        if isinstance(bucket, str):
            found = [f"{head}:s3:::{bucket}" + (f"/{key}" if isinstance(key, str) else "")]
    return tuple(found) if found else ("*",)


def _ecs(operation: str, get: Any, head: str, region: str, account: str) -> list[str] | None:
    cluster = _name(get("cluster")) or "default"
    prefix = f"{head}:ecs:{region}:{account}"
    if operation in ("UpdateService", "DeleteService", "CreateService", "DescribeServices"):
        names = [get("service")] if get("service") is not None else (get("services") or [])
        if names and all(isinstance(n, str) for n in names):
            return [n if n.startswith("arn:") else f"{prefix}:service/{cluster}/{n}" for n in names]
        return None
    if operation in ("DescribeClusters",):
        clusters = get("clusters")
        if isinstance(clusters, list) and all(isinstance(c, str) for c in clusters):
            return [f"{prefix}:cluster/{_name(c)}" for c in clusters]
        return None
    if operation in ("ListServices", "ListTasks", "UpdateCluster", "DeleteCluster", "ListContainerInstances"):
        return [f"{prefix}:cluster/{cluster}"]
    return None


# ---- the simulation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Matched:
    """A policy statement IAM matched: the policy's id, its type (IAM's documented values: user, group,
    role, aws-managed, user-managed, resource, none) and where the statement is in the document."""

    policy: str
    type: str
    line: int | None = None
    column: int | None = None

    def describe(self) -> str:
        where = f", line {self.line} column {self.column}" if self.line else ""
        return f"policy {self.policy} ({self.type}{where})"


@dataclass(frozen=True)
class Check:
    need: Need
    resource: str
    decision: str  # allowed, implicitDeny or explicitDeny
    matched: tuple[Matched, ...] = ()
    missing_context: tuple[str, ...] = ()

    @property
    def denied(self) -> bool:
        return self.decision != "allowed"

    def line(self) -> str:
        """One line saying why (for an error or a warning)."""
        n = self.need
        what = f"step {n.step}{'' if n.via in ('call', 'poll') else ' (' + n.via + ')'}: {n.action} on {self.resource}"
        if self.decision == "explicitDeny":
            why = "explicit deny by " + "; ".join(m.describe() for m in self.matched)
        elif self.decision == "implicitDeny":
            why = "implicit deny (no statement allows it"
            why += f"; the policies need context {', '.join(self.missing_context)})" if self.missing_context else ")"
        else:
            why = "allowed by " + "; ".join(m.describe() for m in self.matched)
        return f"{what}: {why}"


@dataclass(frozen=True)
class PermissionReport:
    incident: str
    principal: str  # the role or user ARN simulated
    caller: str | None  # the STS caller, when the principal is the caller
    account: str
    region: str
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def denied_changes(self) -> list[Check]:
        return [c for c in self.checks if c.denied and c.need.mutating]

    @property
    def denied_reads(self) -> list[Check]:
        return [c for c in self.checks if c.denied and not c.need.mutating]

    @property
    def ok(self) -> bool:
        return not self.denied_changes

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "incident": self.incident,
            "principal": self.principal,
            "caller": self.caller,
            "account": self.account,
            "region": self.region,
            "ok": self.ok,
            "denied_mutating": len(self.denied_changes),
            "denied_reads": len(self.denied_reads),
            "checks": [{
                "step": c.need.step, "via": c.need.via, "service": c.need.service, "operation": c.need.operation,
                "action": c.need.action, "resource": c.resource, "mutating": c.need.mutating,
                "decision": c.decision,
                "matched_statements": [{"policy": m.policy, "type": m.type, "line": m.line, "column": m.column}
                                       for m in c.matched],
                "missing_context": list(c.missing_context),
            } for c in self.checks],
        }


def principal_for(caller_arn: str, aws: Any = None) -> str:
    """The IAM entity SimulatePrincipalPolicy takes for an STS caller: an assumed role's session is its
    role (with its path, when IAM GetRole may be asked), a user is itself."""
    m = re.fullmatch(r"arn:([\w-]+):(sts|iam)::(\d{12}):(assumed-role|role|user|root|federated-user)(?:/(.*))?",
                     caller_arn)
    if m is None:
        raise PreflightFailed(f"preflight: cannot tell which IAM role or user {caller_arn} is: pass --role ARN")
    partition, _, account, kind, rest = m.groups()
    if kind in ("root", "federated-user"):
        raise PreflightFailed(f"preflight: IAM cannot simulate {caller_arn} (the account's root user or a "
                              "federated user): pass --role ARN")
    if kind == "assumed-role":
        role = (rest or "").split("/", 1)[0]
        arn = f"arn:{partition}:iam::{account}:role/{role}"
        if aws is not None:
            from hybridops.engine.retry import CallFailure

            try:  # a role with a path (/service-role/...) is known to IAM by its full ARN only
                found = aws.call("iam", "GetRole", {"RoleName": role})
                arn = str(found.get("Role", {}).get("Arn") or arn)
            except CallFailure:
                pass
        return arn
    return f"arn:{partition}:iam::{account}:{kind}/{rest}"


def simulate(aws: Any, principal: str, needs: list[Need]) -> list[Check]:
    """IAM's answer for each (action, resource) of `needs`, as `principal`. One SimulatePrincipalPolicy
    call (with its pages) per resource: each answer is then for exactly the pair asked about."""
    from hybridops.engine.retry import CallFailure

    by_resource: dict[str, list[str]] = {}
    for need in needs:
        for resource in need.resources:
            actions = by_resource.setdefault(resource, [])
            if need.action not in actions:
                actions.append(need.action)
    answers: dict[tuple[str, str], dict[str, Any]] = {}
    for resource, actions in by_resource.items():
        params: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": actions}
        if resource != "*":
            params["ResourceArns"] = [resource]
        marker = None
        while True:
            try:
                page = aws.call("iam", "SimulatePrincipalPolicy", {**params, **({"Marker": marker} if marker else {})})
            except CallFailure as exc:
                raise PreflightFailed(f"preflight: cannot check permissions: {exc} (the caller needs "
                                      "iam:SimulatePrincipalPolicy on the principal)") from None
            for result in page.get("EvaluationResults", []):
                answers[(str(result.get("EvalActionName", "")).lower(), resource)] = result
            marker = page.get("Marker") if page.get("IsTruncated") else None
            if not marker:
                break
    checks = []
    for need in needs:
        for resource in need.resources:
            result = answers.get((need.action.lower(), resource))
            if result is None:
                checks.append(Check(need, resource, "implicitDeny"))
                continue
            matched = tuple(Matched(str(s.get("SourcePolicyId", "?")), str(s.get("SourcePolicyType", "?")),
                                    (s.get("StartPosition") or {}).get("Line"),
                                    (s.get("StartPosition") or {}).get("Column"))
                            for s in result.get("MatchedStatements") or [])
            checks.append(Check(need, resource, str(result.get("EvalDecision")), matched,
                                tuple(result.get("MissingContextValues") or ())))
    return checks


def check_permissions(aws: Any, runbook: Runbook, variables: Mapping[str, Any], *, region: str,
                      role: str | None = None, caller: Mapping[str, Any] | None = None) -> PermissionReport:
    """The whole check: the caller from STS (unless `caller`, its GetCallerIdentity answer, is known
    already, or `role` names the principal), the runbook's needs, IAM's answers."""
    from hybridops.engine.incident import calls_aws
    from hybridops.engine.retry import CallFailure

    caller_arn: str | None = None
    if not calls_aws(runbook):  # nothing to ask IAM about, and no reason to need credentials
        return PermissionReport(runbook.id, role or "", None, "", region, ())
    if role:
        m = re.fullmatch(r"arn:[\w-]+:iam::(\d{12}):(role|user|group)/.+", role)
        if m is None:
            raise PreflightFailed(f"preflight: --role {role}: not the ARN of an IAM role, user or group "
                                  "(arn:aws:iam::ACCOUNT:role/NAME)")
        principal, account = role, m.group(1)
    else:
        if caller is None:
            try:
                caller = aws.call("sts", "GetCallerIdentity", {})
            except CallFailure as exc:
                raise PreflightFailed(f"preflight: {exc} (nothing was sent)") from None
        caller_arn = str(caller.get("Arn") or "")
        account = str(caller.get("Account") or "")
        principal = principal_for(caller_arn, aws)
    needs = collect(runbook, variables, region=region, account=account)
    checks = simulate(aws, principal, needs) if needs else []
    return PermissionReport(runbook.id, principal, caller_arn, account, region, tuple(checks))


def iter_problem_lines(report: PermissionReport) -> Iterator[str]:
    """One line per mutating action IAM would deny (what stops a run)."""
    for check in report.denied_changes:
        yield f"error: preflight: {check.line()} (as {report.principal}; nothing was sent)"
