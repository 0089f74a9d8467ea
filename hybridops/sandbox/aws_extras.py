"""AWS operations moto lacks, answered by the sandbox behind the same endpoint.

- health DescribeEvents (JSON 1.1): an open BEDROCK issue while bedrock-down's outage lasts;
- iam SimulatePrincipalPolicy (query/XML): evaluates, as IAM does, the inline and managed policies
  of a role, a user (with its groups') or a group in moto's IAM: Action/NotAction, Resource/NotResource
  with wildcards, explicit denies first, MatchedStatements with IAM's SourcePolicyType values and
  each statement's position, pages (MaxItems/Marker);
- sts GetCallerIdentity: the caller is a session of the seeded operator role (hybridops-oncall), as
  an on-call engineer who assumed it;
- bedrock-runtime InvokeModel (REST JSON): 503 ServiceUnavailableException while Bedrock is down,
  otherwise an Anthropic messages body, as the real service answers;
- logs FilterLogEvents (and TestMetricFilter) with a filter pattern, which moto does not evaluate as
  CloudWatch does (see logpattern.py), and the refusal of a pattern CloudWatch would refuse (also by
  PutMetricFilter and PutSubscriptionFilter);
- service-quotas ListServiceQuotas (Bedrock's InvokeModel quotas).
"""

from __future__ import annotations

import json
import re
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
    from hybridops.sandbox.faults import faults_of

    faults = faults_of(world)
    if faults is not None:  # injected IAM faults (a deny on the operator's role) are moto's policies
        faults.sync_iam(account_id)
    if service == "sts" and operation == "GetCallerIdentity":
        return _caller(account_id)
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
    # every event of the time window from moto (an empty pattern matches all), then the pattern; moto
    # reads a bound of 0 as none, as it does the None its own API passes for a missing one
    events, _, searched = group.filter_log_events(group_name, params.get("logStreamNames") or [],
                                                  params.get("startTime") or 0, params.get("endTime") or 0,
                                                  10**9, None, "", True)
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
# IAM evaluates every policy of the principal: a matching Deny wins, then a matching Allow, otherwise
# the request is implicitly denied. What the sandbox reads, from moto's IAM backend: a role's inline
# and attached (managed) policies; a user's, and those of each group it belongs to; a group's; and the
# request's PolicyInputList. Conditions are not evaluated: a statement with one does not match, and
# its keys are listed as MissingContextValues, as IAM lists the context it was not given.
SIMULATE_PAGE = 100  # IAM's default MaxItems


@dataclass(frozen=True)
class PolicyStatement:
    statement: dict[str, Any]
    policy_id: str
    policy_type: str  # IAM's values: user, group, role, aws-managed, user-managed, resource, none
    start: tuple[int, int] | None = None  # (line, column) in the policy document, 1-based
    end: tuple[int, int] | None = None


def _simulate(params: dict[str, Any], account_id: str) -> Answer:
    arn = params.get("PolicySourceArn", "")
    actions = _members(params, "ActionNames")
    resources = _members(params, "ResourceArns") or ["*"]
    if not actions:
        return _iam_error(400, "ValidationError", "ActionNames must not be empty")
    bad = [a for a in actions if not re.fullmatch(r"[\w-]+:[\w*?]+", a)]
    if bad:
        return _iam_error(400, "InvalidInput", f"Invalid action name: {bad[0]} (service:Action)")
    statements = principal_statements(arn, account_id)
    if isinstance(statements, Answer):
        return statements
    for i, doc in enumerate(_members(params, "PolicyInputList"), 1):
        statements += policy_statements(doc, f"PolicyInputList.{i}", "none")
    if params.get("ResourcePolicy"):  # same account: its Allow for this principal counts as the identity's
        statements += [ps for ps in policy_statements(params["ResourcePolicy"], "ResourcePolicy", "resource")
                       if _names_principal(ps.statement.get("Principal"), arn, account_id)]
    boundary = _boundary(arn, account_id)
    for i, doc in enumerate(_members(params, "PermissionsBoundaryPolicyInputList"), 1):
        boundary = (boundary or []) + policy_statements(doc, f"PermissionsBoundaryPolicyInputList.{i}", "none")
    results = [bounded(evaluate(action, resource, statements), boundary)
               for action in actions for resource in resources]
    try:
        start = int(params.get("Marker") or 0)
        page_size = int(params.get("MaxItems") or SIMULATE_PAGE)
    except ValueError:
        return _iam_error(400, "InvalidInput", "Marker and MaxItems must come from an earlier answer")
    page = results[start:start + page_size]
    truncated = start + page_size < len(results)
    more = f"<Marker>{start + page_size}</Marker>" if truncated else ""
    xml = (f'<SimulatePrincipalPolicyResponse xmlns="{IAM_NS}"><SimulatePrincipalPolicyResult>'
           f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{more}"
           f"<EvaluationResults>{''.join(_result_xml(r) for r in page)}</EvaluationResults>"
           f"</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
           f"</ResponseMetadata></SimulatePrincipalPolicyResponse>")
    return Answer(200, [("Content-Type", "text/xml")], xml.encode())


def principal_statements(arn: str, account_id: str) -> list[PolicyStatement] | Answer:
    """Every statement of the policies that apply to the role, user or group `arn` (moto's IAM), or
    IAM's error answer when there is no such entity."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["global"]
    kind = _entity_kind(arn)
    found: Any = None
    if kind == "role":
        found = next((r for r in iam.roles.values() if r.arn == arn), None)
    elif kind == "user":
        found = next((u for u in iam.users.values() if u.arn == arn), None)
    elif kind == "group":
        found = next((g for g in iam.groups.values() if g.arn == arn), None)
    else:
        return _iam_error(400, "InvalidInput", f"Invalid ARN {arn}: PolicySourceArn must be an IAM user, group "
                                               "or role (not an assumed-role session)")
    if found is None:
        return _iam_error(404, "NoSuchEntity", f"The {kind} with ARN {arn} cannot be found.")
    statements = _entity_statements(found, kind)
    if kind == "user":
        for group in iam.get_groups_for_user(found.name):
            statements += _entity_statements(group, "group")
    return statements


def _boundary(arn: str, account_id: str) -> list[PolicyStatement] | None:
    """The statements of a role's permissions boundary, or None when it has none."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["global"]
    role = next((r for r in iam.roles.values() if r.arn == arn), None)
    boundary_arn = getattr(role, "permissions_boundary_arn", None)
    policy = iam.managed_policies.get(boundary_arn) if boundary_arn else None
    if policy is None:
        return None
    version = next((v for v in policy.versions if v.is_default), None)
    return policy_statements(version.document if version else "{}", policy.name, "user-managed")


def bounded(result: Evaluation, boundary: list[PolicyStatement] | None) -> Evaluation:
    """An allowed action stays allowed only if the permissions boundary allows it too."""
    if boundary is None or result.decision != "allowed":
        return result
    limit = evaluate(result.action, result.resource, boundary)
    if limit.decision == "allowed":
        return result
    return Evaluation(result.action, result.resource, limit.decision, limit.matched, result.missing + limit.missing)


def _names_principal(principal: Any, arn: str, account_id: str) -> bool:
    if principal == "*":
        return True
    names = _as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(n in ("*", arn, account_id, f"arn:aws:iam::{account_id}:root") for n in names)


def _entity_kind(arn: str) -> str | None:
    m = re.fullmatch(r"arn:[\w-]+:iam::\d{12}:(role|user|group)/.+", arn)
    return m.group(1) if m else None


def _entity_statements(entity: Any, kind: str) -> list[PolicyStatement]:
    out: list[PolicyStatement] = []
    for name, doc in entity.policies.items():
        out += policy_statements(doc, name, kind)
    for policy_arn, policy in entity.managed_policies.items():
        version = next((v for v in policy.versions if v.is_default), None)
        doc = version.document if version is not None else getattr(policy, "document", "{}")
        out += policy_statements(doc, policy.name, "aws-managed" if ":aws:policy/" in policy_arn else "user-managed")
    return out


def policy_statements(doc: Any, policy_id: str, policy_type: str) -> list[PolicyStatement]:
    """The statements of one policy document, each with where it is in the document's text."""
    text = doc if isinstance(doc, str) else json.dumps(doc)
    try:
        policy = json.loads(unquote(text) if text.startswith("%7B") else text)
    except ValueError:
        return []
    stmts = policy.get("Statement", []) if isinstance(policy, dict) else []
    stmts = stmts if isinstance(stmts, list) else [stmts]
    spans = statement_spans(text)
    if len(spans) != len(stmts):
        spans = [(None, None)] * len(stmts)
    return [PolicyStatement(st, policy_id, policy_type, a, b) for st, (a, b) in zip(stmts, spans, strict=True)
            if isinstance(st, dict)]


@dataclass(frozen=True)
class Evaluation:
    action: str
    resource: str
    decision: str
    matched: tuple[PolicyStatement, ...]
    missing: tuple[str, ...]


def evaluate(action: str, resource: str, statements: list[PolicyStatement]) -> Evaluation:
    """IAM's decision for one action on one resource: explicit deny wins over allow."""
    allows: list[PolicyStatement] = []
    denies: list[PolicyStatement] = []
    missing: list[str] = []
    for ps in statements:
        st = ps.statement
        if not _matches_action(st, action) or not _matches_resource(st, resource):
            continue
        condition = st.get("Condition")
        if condition:
            keys = [k for block in condition.values() if isinstance(block, dict) for k in block]
            missing += [k for k in keys if k not in missing]
            continue
        (denies if st.get("Effect") == "Deny" else allows).append(ps)
    if denies:
        return Evaluation(action, resource, "explicitDeny", tuple(denies), tuple(missing))
    if allows:
        return Evaluation(action, resource, "allowed", tuple(allows), tuple(missing))
    return Evaluation(action, resource, "implicitDeny", (), tuple(missing))


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def wildcard_match(pattern: str, text: str, *, ignore_case: bool) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _matches_action(st: dict[str, Any], action: str) -> bool:
    if "NotAction" in st:
        return not any(wildcard_match(a, action, ignore_case=True) for a in _as_list(st["NotAction"]))
    return any(wildcard_match(a, action, ignore_case=True) for a in _as_list(st.get("Action")))


def _matches_resource(st: dict[str, Any], resource: str) -> bool:
    if "NotResource" in st:
        return not any(wildcard_match(r, resource, ignore_case=False) for r in _as_list(st["NotResource"]))
    return any(wildcard_match(r, resource, ignore_case=False) for r in _as_list(st.get("Resource")))


def _result_xml(r: Evaluation) -> str:
    def position(tag: str, at: tuple[int, int] | None) -> str:
        return "" if at is None else f"<{tag}><Line>{at[0]}</Line><Column>{at[1]}</Column></{tag}>"

    stmts = "".join(f"<member><SourcePolicyId>{escape(s.policy_id)}</SourcePolicyId>"
                    f"<SourcePolicyType>{s.policy_type}</SourcePolicyType>"
                    f"{position('StartPosition', s.start)}{position('EndPosition', s.end)}</member>"
                    for s in r.matched)
    missing = "".join(f"<member>{escape(k)}</member>" for k in r.missing)
    return (f"<member><EvalActionName>{escape(r.action)}</EvalActionName>"
            f"<EvalResourceName>{escape(r.resource)}</EvalResourceName>"
            f"<EvalDecision>{r.decision}</EvalDecision><MatchedStatements>{stmts}</MatchedStatements>"
            f"<MissingContextValues>{missing}</MissingContextValues></member>")


def statement_spans(text: str) -> list[tuple[tuple[int, int] | None, tuple[int, int] | None]]:
    """(start, end) of each statement of a policy document's text, as IAM's StartPosition and
    EndPosition give them: line and column (1-based) of the statement's opening and closing brace."""
    try:
        return [(_line_col(text, a), _line_col(text, b - 1)) for a, b in _statement_offsets(text)]
    except (IndexError, ValueError):
        return []


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _statement_offsets(text: str) -> list[tuple[int, int]]:
    i = _ws(text, 0)
    if text[i] != "{":
        return []
    i += 1
    while True:
        i = _ws(text, i)
        if text[i] == "}":
            return []
        key_end = _skip(text, i)
        key = json.loads(text[i:key_end])
        i = _ws(text, _ws(text, key_end) + 1)  # past the colon
        if key == "Statement":
            if text[i] != "[":
                return [(i, _skip(text, i))]
            spans: list[tuple[int, int]] = []
            i += 1
            while True:
                i = _ws(text, i)
                if text[i] == "]":
                    return spans
                end = _skip(text, i)
                spans.append((i, end))
                i = _ws(text, end)
                if text[i] == ",":
                    i += 1
        i = _ws(text, _skip(text, i))
        if text[i] == ",":
            i += 1


def _ws(text: str, i: int) -> int:
    while text[i] in " \t\r\n":
        i += 1
    return i


def _skip(text: str, i: int) -> int:
    """The offset just past the JSON value that starts at `i`."""
    if text[i] == '"':
        j = i + 1
        while text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        return j + 1
    if text[i] in "{[":
        depth, j = 0, i
        while True:
            c = text[j]
            if c == '"':
                j = _skip(text, j)
                continue
            depth += c in "{["
            depth -= c in "}]"
            j += 1
            if depth == 0:
                return j
    j = i
    while j < len(text) and text[j] not in ",}] \t\r\n":
        j += 1
    if j == i:
        raise ValueError("no value")
    return j


# ---- STS: the sandbox's caller is an on-call engineer in the seeded operator role ------------------
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SESSION_NAME = "sandbox"


def _caller(account_id: str) -> Answer | None:
    from moto.iam.models import iam_backends

    from hybridops.sandbox.scenarios import OPERATOR_ROLE

    role = next((r for r in iam_backends[account_id]["global"].roles.values() if r.name == OPERATOR_ROLE), None)
    if role is None:
        return None  # not a seeded account: moto's own answer
    arn = f"arn:aws:sts::{account_id}:assumed-role/{OPERATOR_ROLE}/{SESSION_NAME}"
    xml = (f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult><Arn>{arn}</Arn>'
           f"<UserId>{role.id}:{SESSION_NAME}</UserId><Account>{account_id}</Account></GetCallerIdentityResult>"
           f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
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
    input_tokens = max(1, len(prompt) // 4)
    body = {
        "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-sonnet-20240229",
        "content": [{"type": "text", "text": " ".join(out)}],
        "stop_reason": "end_turn" if len(out) == len(words) else "max_tokens",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": len(out)},
    }
    latency = "8600" if world.scenario == "error-spike" else "640"
    return Answer(200, [
        ("Content-Type", "application/json"),
        ("X-Amzn-Bedrock-Input-Token-Count", str(input_tokens)),
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
