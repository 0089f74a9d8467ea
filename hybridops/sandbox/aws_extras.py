"""AWS operations moto lacks, answered by the sandbox behind the same endpoint.

- health DescribeEvents (JSON 1.1): an open BEDROCK issue while bedrock-down's outage lasts;
- iam SimulatePrincipalPolicy (query/XML): evaluates the role's inline policies in moto's IAM;
- bedrock-runtime InvokeModel (REST JSON): 503 ServiceUnavailableException while Bedrock is down,
  otherwise an Anthropic messages body, as the real service answers;
- logs FilterLogEvents (and TestMetricFilter) with a filter pattern, which moto does not evaluate as
  CloudWatch does (see logpattern.py), and the refusal of a pattern CloudWatch would refuse (also by
  PutMetricFilter and PutSubscriptionFilter);
- service-quotas ListServiceQuotas (Bedrock's InvokeModel quotas).
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from hybridops.sandbox import logpattern

if TYPE_CHECKING:
    from hybridops.sandbox.world import World

KNOWN_MODELS = (
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
)
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
BEDROCK_ISSUE_TEXT = ("We are investigating increased error rates for InvokeModel requests "
                      "in the EU-CENTRAL-1 Region. Requests fail with ServiceUnavailableException.")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def handle(service: str, operation: str, params: dict[str, Any], world: World, account_id: str,
           region: str = "eu-central-1") -> Answer | None:
    """The sandbox's own answer to this call, or None to let moto answer it."""
    if service == "health":
        return _health(operation, params, world)
    if service == "iam" and operation == "SimulatePrincipalPolicy":
        return _simulate(params, account_id)
    if service == "bedrock-runtime" and operation == "InvokeModel":
        return _invoke(params, world)
    if service == "servicequotas" and operation == "ListServiceQuotas":
        return _quotas(params, account_id)
    if service == "logs" and operation in PATTERN_OPERATIONS:
        return _logs_pattern(operation, params, account_id, region)
    return None


# ---- Service Quotas (the high-error-rate runbook checks Bedrock's when it sees throttling) ---------
BEDROCK_QUOTAS = (  # (code, name, value, unit)
    ("L-254CACF4", "On-demand InvokeModel requests per minute for Anthropic Claude 3 Sonnet", 500.0, "None"),
    ("L-A50569E5", "On-demand InvokeModel tokens per minute for Anthropic Claude 3 Sonnet", 1000000.0, "None"),
    ("L-F406804E", "On-demand InvokeModel requests per minute for Anthropic Claude 3 Haiku", 1000.0, "None"),
)


def _quotas(params: dict[str, Any], account_id: str) -> Answer:
    code = params.get("ServiceCode", "")
    quotas = [] if code != "bedrock" else [
        {"ServiceCode": "bedrock", "ServiceName": "Amazon Bedrock",
         "QuotaArn": f"arn:aws:servicequotas:eu-central-1:{account_id}:bedrock/{q}", "QuotaCode": q,
         "QuotaName": name, "Value": value, "Unit": unit, "Adjustable": True, "GlobalQuota": False}
        for q, name, value, unit in BEDROCK_QUOTAS]
    return _json(200, {"Quotas": quotas})


# ---- CloudWatch Logs filter patterns (moto matches them its own way, see logpattern.py) ---------------
PATTERN_OPERATIONS = {"FilterLogEvents": "filterPattern", "TestMetricFilter": "filterPattern",
                      "PutMetricFilter": "filterPattern", "PutSubscriptionFilter": "filterPattern"}


def _logs_pattern(operation: str, params: dict[str, Any], account_id: str, region: str) -> Answer | None:
    pattern = params.get(PATTERN_OPERATIONS[operation])
    try:
        matches = logpattern.compile_pattern(pattern if isinstance(pattern, str) else "")
    except ValueError as exc:
        return _json_error(400, "InvalidParameterException", f"Invalid filter pattern: {exc}")
    if operation == "TestMetricFilter":
        messages = [m for m in params.get("logEventMessages") or [] if isinstance(m, str)]
        return _json(200, {"matches": [{"eventNumber": i, "eventMessage": m, "extractedValues": {}}
                                       for i, m in enumerate(messages, 1) if matches(m)]})
    if operation != "FilterLogEvents" or not pattern or not pattern.strip():
        return None  # a valid pattern to store, or none to apply: moto's own answer
    return _filter_events(params, matches, account_id, region)


def _filter_events(params: dict[str, Any], matches: logpattern.Matcher, account_id: str, region: str) -> Answer:
    from moto.logs.models import logs_backends

    group_name = params.get("logGroupName") or ""
    identifier = params.get("logGroupIdentifier") or ""
    if not group_name and identifier:  # a name, or an ARN arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]
        group_name = identifier.split(":log-group:", 1)[1].removesuffix(":*") if ":log-group:" in identifier \
            else identifier
    group = logs_backends[account_id][region].groups.get(group_name)
    if group is None:
        return _json_error(400, "ResourceNotFoundException", "The specified log group does not exist.")
    # every event of the time window from moto (an empty pattern matches all), then the pattern
    events, _, searched = group.filter_log_events(group_name, params.get("logStreamNames") or [],
                                                  params.get("startTime"), params.get("endTime"), 10**9,
                                                  None, "", True)
    events = [e for e in events if matches(e["message"])]
    start = 0
    token = params.get("nextToken")
    if token:
        start = next((i + 1 for i, e in enumerate(events)
                      if f"{group_name}@{e['logStreamName']}@{e['eventId']}" == token), len(events))
    limit = int(params.get("limit") or 10000)
    page = events[start:start + limit]
    body: dict[str, Any] = {"events": page, "searchedLogStreams": searched}
    if page and start + limit < len(events):
        body["nextToken"] = f"{group_name}@{page[-1]['logStreamName']}@{page[-1]['eventId']}"
    return _json(200, body)


# ---- AWS Health -----------------------------------------------------------------------------------
def bedrock_events(world: World) -> list[dict[str, Any]]:
    """The Health events of this world: bedrock-down's operational issue, open until Bedrock answers."""
    if world.scenario != "bedrock-down":
        return []
    start = world.wall0 - 180  # AWS posted the issue three minutes before the scenario's alarms
    world.advance()
    open_ = world.bedrock_down
    event: dict[str, Any] = {
        "arn": f"arn:aws:health:eu-central-1::event/BEDROCK/AWS_BEDROCK_OPERATIONAL_ISSUE/"
               f"AWS_BEDROCK_OPERATIONAL_ISSUE_{int(start)}",
        "service": "BEDROCK",
        "eventTypeCode": "AWS_BEDROCK_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue",
        "region": "eu-central-1",
        "startTime": start,
        "lastUpdatedTime": world.wall_now(),
        "statusCode": "open" if open_ else "closed",
        "eventScopeCode": "PUBLIC",
    }
    if not open_ and world.bedrock_back_wall is not None:
        event["endTime"] = world.bedrock_back_wall
    return [event]


def _health(operation: str, params: dict[str, Any], world: World) -> Answer:
    if operation == "DescribeEventDetails":
        known = {e["arn"]: e for e in bedrock_events(world)}
        found = [{"event": known[a], "eventDescription": {"latestDescription": BEDROCK_ISSUE_TEXT}}
                 for a in params.get("eventArns", []) if a in known]
        failed = [{"eventArn": a, "errorName": "NotFound", "errorMessage": "no such event"}
                  for a in params.get("eventArns", []) if a not in known]
        return _json(200, {"successfulSet": found, "failedSet": failed})
    if operation != "DescribeEvents":
        return _json_error(400, "UnsupportedOperation",
                           f"the sandbox serves DescribeEvents and DescribeEventDetails, not {operation}")
    flt = params.get("filter") or {}
    events = []
    for e in bedrock_events(world):
        if flt.get("services") and e["service"] not in flt["services"]:
            continue
        if flt.get("eventStatusCodes") and e["statusCode"] not in flt["eventStatusCodes"]:
            continue
        if flt.get("regions") and e["region"] not in flt["regions"]:
            continue
        if flt.get("eventTypeCategories") and e["eventTypeCategory"] not in flt["eventTypeCategories"]:
            continue
        events.append(e)
    return _json(200, {"events": events})


# ---- IAM policy simulation ------------------------------------------------------------------------
def _simulate(params: dict[str, Any], account_id: str) -> Answer:
    from moto.iam.models import iam_backends

    arn = params.get("PolicySourceArn", "")
    actions = _members(params, "ActionNames")
    resources = _members(params, "ResourceArns") or ["*"]
    if not actions:
        return _iam_error(400, "ValidationError", "ActionNames must not be empty")
    try:
        role = iam_backends[account_id]["global"].get_role_by_arn(arn)
    except Exception:  # moto's NotFoundException; any lookup failure means the entity is unknown to IAM
        return _iam_error(404, "NoSuchEntity", f"The role with ARN {arn} cannot be found.")
    statements = []
    for name, doc in role.policies.items():
        policy = json.loads(doc) if isinstance(doc, str) else doc
        stmts = policy.get("Statement", [])
        statements += [(name, st) for st in (stmts if isinstance(stmts, list) else [stmts])]
    results = []
    for action in actions:
        for resource in resources:
            decision, matched = "implicitDeny", []
            for name, st in statements:
                acts = st.get("Action", [])
                acts = [acts] if isinstance(acts, str) else acts
                if any(fnmatch.fnmatch(action.lower(), a.lower()) for a in acts):
                    if st.get("Effect") == "Deny":
                        decision, matched = "explicitDeny", [name]
                        break
                    decision, matched = "allowed", [name]
            stmts_xml = "".join(
                f"<member><SourcePolicyId>{escape(n)}</SourcePolicyId><SourcePolicyType>IAM Policy"
                f"</SourcePolicyType></member>" for n in matched)
            results.append(
                f"<member><EvalActionName>{escape(action)}</EvalActionName>"
                f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
                f"<EvalDecision>{decision}</EvalDecision><MatchedStatements>{stmts_xml}</MatchedStatements>"
                f"<MissingContextValues/></member>")
    xml = (f'<SimulatePrincipalPolicyResponse xmlns="{IAM_NS}"><SimulatePrincipalPolicyResult>'
           f"<IsTruncated>false</IsTruncated><EvaluationResults>{''.join(results)}</EvaluationResults>"
           f"</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
           f"</ResponseMetadata></SimulatePrincipalPolicyResponse>")
    return Answer(200, [("Content-Type", "text/xml")], xml.encode())


def _members(params: dict[str, Any], name: str) -> list[str]:
    """`Name.member.1`, `Name.member.2`... of a query-protocol request, in order."""
    prefix = f"{name}.member."
    keyed = [(int(k[len(prefix):]), v) for k, v in params.items() if k.startswith(prefix)]
    return [v for _, v in sorted(keyed)]


def _iam_error(status: int, code: str, message: str) -> Answer:
    xml = (f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
           f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return Answer(status, [("Content-Type", "text/xml")], xml.encode())


# ---- Bedrock runtime ------------------------------------------------------------------------------
def _invoke(params: dict[str, Any], world: World) -> Answer:
    model = unquote(params.get("modelId", ""))
    if model not in KNOWN_MODELS:
        return _json_error(400, "ValidationException", "The provided model identifier is invalid.", rest=True)
    if not world.bedrock_available():
        return _json_error(503, "ServiceUnavailableException",
                           "Bedrock is unable to process your request.", rest=True)
    req = params.get("body")
    if not isinstance(req, dict) or "messages" not in req or "max_tokens" not in req \
            or "anthropic_version" not in req:
        return _json_error(400, "ValidationException",
                           "Malformed input request: required keys: anthropic_version, max_tokens, messages",
                           rest=True)
    text = "Hello! The hybrid routing sandbox's Bedrock is answering normally."
    words = text.split()
    max_tokens = int(req.get("max_tokens") or 1)
    out = words[:max_tokens]
    prompt = json.dumps(req.get("messages"))
    body = {
        "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-sonnet-20240229",
        "content": [{"type": "text", "text": " ".join(out)}],
        "stop_reason": "end_turn" if len(out) == len(words) else "max_tokens",
        "stop_sequence": None,
        "usage": {"input_tokens": max(1, len(prompt) // 4), "output_tokens": len(out)},
    }
    latency = "8600" if world.scenario == "error-spike" else "640"
    return Answer(200, [
        ("Content-Type", "application/json"),
        ("X-Amzn-Bedrock-Input-Token-Count", str(body["usage"]["input_tokens"])),
        ("X-Amzn-Bedrock-Output-Token-Count", str(len(out))),
        ("X-Amzn-Bedrock-Invocation-Latency", latency),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ], json.dumps(body).encode())


# ---- wire helpers ---------------------------------------------------------------------------------
def _json(status: int, body: dict[str, Any]) -> Answer:
    return Answer(status, [("Content-Type", "application/x-amz-json-1.1"),
                           ("x-amzn-RequestId", str(uuid.uuid4()))], json.dumps(body).encode())


def _json_error(status: int, code: str, message: str, *, rest: bool = False) -> Answer:
    ctype = "application/json" if rest else "application/x-amz-json-1.1"
    return Answer(status, [("Content-Type", ctype), ("x-amzn-ErrorType", code),
                           ("x-amzn-RequestId", str(uuid.uuid4()))],
                  json.dumps({"__type": code, "message": message}).encode())
