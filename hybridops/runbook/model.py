"""The runbook format: one pydantic model per concept, one class per step kind.

A step is a mapping with common fields (id, title, budget, on_failure...) and exactly one kind key
(`aws`, `http`, `manual`, ...) whose value holds that kind's settings. `hybridops schema` prints the
JSON Schema generated from these classes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)

from hybridops.durations import duration_pattern, limit_text, parse_duration
from hybridops.runbook.expr import ExpressionError, check_syntax

SEVERITIES = ("P0", "P1", "P2", "P3")
READ_PREFIXES = ("Describe", "Get", "List", "Filter", "Simulate")
END = "end"  # the go-to target that ends the run


# The bounds of each kind of duration (seconds). A runbook is run when things are already broken: a
# typo such as `budget: 1e308s` or `every: 0s` must stop at `validate`, not hang or flood an API.
DAY, HOUR = 86400.0, 3600.0
MAX_STEP_TIME = DAY  # a step's budget, a wait, a poll's timeout
MAX_CALL_TIME = HOUR  # one call's timeout, a retry's backoff
POLL_FLOOR = 1.0  # the shortest interval between a poll's calls (in world time: a drill scales it)
MIN_CALL_TIMEOUT = 1.0  # shorter, and a change that was sent times out before its answer: outcome unknown
MAX_LOOK_BACK = 30 * DAY  # how far back a log query reads
MAX_RESPONSE_TIME = 7 * DAY


def _duration_in(minimum: float, maximum: float) -> Any:
    def check(v: Any) -> float:
        return parse_duration(v, minimum=minimum, maximum=maximum)

    return BeforeValidator(check)


def _duration_schema(minimum: float, maximum: float) -> WithJsonSchema:
    span = f"from {limit_text(minimum)} " if minimum else ""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": duration_pattern(minimum, maximum)},
                # whole seconds: JSON Schema has no test that rejects NaN, but NaN is no integer
                {"type": "integer", "minimum": minimum, "maximum": maximum},
            ],
            "description": f"a duration {span}up to {limit_text(maximum)}: 30s, 2m, 1h30m "
                           "(a bare number is whole seconds)",
        }
    )


Duration = Annotated[float, _duration_in(0.0, MAX_STEP_TIME), _duration_schema(0.0, MAX_STEP_TIME)]
CallDuration = Annotated[float, _duration_in(0.0, MAX_CALL_TIME), _duration_schema(0.0, MAX_CALL_TIME)]
CallTimeout = Annotated[float, _duration_in(MIN_CALL_TIMEOUT, MAX_CALL_TIME),
                        _duration_schema(MIN_CALL_TIMEOUT, MAX_CALL_TIME)]
PollInterval = Annotated[float, _duration_in(POLL_FLOOR, MAX_CALL_TIME), _duration_schema(POLL_FLOOR, MAX_CALL_TIME)]
LookBack = Annotated[float, _duration_in(0.0, MAX_LOOK_BACK), _duration_schema(0.0, MAX_LOOK_BACK)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Target = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$"),
    Field(description="a step id to go to, or `end` to finish the run"),
]


def _jmespath(expr: str) -> str:
    shown = repr(expr) if len(expr) <= 200 else repr(expr[:200]) + "..."
    try:
        jmespath.compile(expr)
    except JMESPathError as exc:
        raise ValueError(f"bad JMESPath {shown}: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise ValueError(f"bad JMESPath {shown}: nested too deeply") from None
    if _jmespath_depth(jmespath.compile(expr).parsed) > _JMESPATH_DEPTH:  # searching it would recurse as deep
        raise ValueError(f"bad JMESPath {shown}: nested deeper than {_JMESPATH_DEPTH} levels")
    return expr


_JMESPATH_DEPTH = 64


def _jmespath_depth(tree: Any) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((kid, depth + 1) for kid in node.get("children", ()) if isinstance(kid, dict))
    return deepest


def _condition(expr: str) -> str:
    try:
        check_syntax(expr, condition=True)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return expr


# `pattern: \S`: the one syntax error a schema can see, an empty or blank query or condition
def _regex(pattern: str) -> str:
    # compiled when the step runs, after its query was sent: a typo must stop at `validate`
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return pattern


JMESPath = Annotated[str, AfterValidator(_jmespath),
                     Field(description="a JMESPath query, as `aws --query`", json_schema_extra={"pattern": r"\S"})]
Condition = Annotated[
    str,
    AfterValidator(_condition),
    Field(description="a Jinja2 expression over variables and captures, e.g. `error_rate > 5`",
          json_schema_extra={"pattern": r"\S"}),
]
Captures = dict[Identifier, JMESPath]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- calls ------------------------------------------------------------------------------------------


class AwsCall(_Model):
    """One AWS API call in botocore's names (`ecs`, `UpdateService`, `forceNewDeployment`)."""

    service: str = Field(description="botocore service name, e.g. ecs, elbv2, bedrock-runtime")
    operation: str = Field(description="operation name as in the API reference, e.g. DescribeServices")
    region: str | None = Field(None, description="defaults to the configured region")
    params: dict[str, Any] = Field(default_factory=dict)
    capture: Captures = Field(default_factory=dict, description="name: JMESPath over the response")

    @property
    def mutating(self) -> bool:
        return not self.operation.startswith(READ_PREFIXES)

    @property
    def changes_state(self) -> bool:
        """Mutating by the API's own definition: no `mutating: false` makes it a read."""
        from hybridops.runbook.mutation import aws_changes_state

        return aws_changes_state(self.service, self.operation)


class HttpCall(_Model):
    """One request to the routing admin API, relative to its base URL."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: Annotated[str, StringConstraints(pattern=r"^/")]
    body: Any = None
    expect: list[StrictInt] = Field(default_factory=lambda: [200], description="statuses that count as success")
    capture: Captures = Field(default_factory=dict, description="name: JMESPath over the JSON body")
    capture_status: Identifier | None = Field(None, description="name to hold the HTTP status code")

    @property
    def mutating(self) -> bool:
        return self.method != "GET"

    @property
    def changes_state(self) -> bool:
        """Mutating by the API's own definition (not GET, no probe in the spec): no `mutating: false`
        makes it a read."""
        from hybridops.runbook.mutation import http_changes_state

        return http_changes_state(self.method, self.path)


class Call(_Model):
    """Exactly one of an AWS call or an admin API request (poll bodies and undo)."""

    aws: AwsCall | None = None
    http: HttpCall | None = None

    @model_validator(mode="after")
    def _one(self) -> Call:
        if (self.aws is None) == (self.http is None):
            raise ValueError("needs exactly one of `aws` or `http`")
        return self

    @property
    def call(self) -> AwsCall | HttpCall:
        return self.aws or self.http  # type: ignore[return-value]


# --- step kinds -------------------------------------------------------------------------------------


class Manual(_Model):
    """Something only a person can do; the operator ticks each checklist item."""

    instructions: str = ""
    checklist: list[str] = Field(default_factory=list)


class ChoiceOption(_Model):
    value: Annotated[str, StringConstraints(min_length=1)]
    label: str = ""
    goto: Target | None = None


class Choice(_Model):
    """A question whose answer selects the next step."""

    question: str
    options: Annotated[list[ChoiceOption], Field(min_length=2)]
    default: str | None = Field(None, description="answer taken in non-interactive runs")
    capture: Identifier | None = None

    @model_validator(mode="after")
    def _default_is_an_option(self) -> Choice:
        values = [o.value for o in self.options]
        if len(set(values)) != len(values):
            raise ValueError("option values must be unique")
        if self.default is not None and self.default not in values:
            raise ValueError(f"default {self.default!r} is not one of the options {values}")
        return self


class Confirm(_Model):
    """A yes/no question; `if_yes` / `if_no` pick the next step (default: carry on)."""

    question: str
    default: bool | None = Field(None, description="answer taken in non-interactive runs")
    if_yes: Target | None = None
    if_no: Target | None = None
    capture: Identifier | None = None


class Wait(_Model):
    """A fixed wait, e.g. monitoring for 10 minutes; the operator can cut it short."""

    duration: Duration = Field(description="how long, up to 24h")
    reason: str = ""


class Poll(Call):
    """Repeat a call every `every` until `until` holds, or for as long as `while` holds.

    `until`: succeeds as soon as the condition is true, fails at `timeout`.
    `while`: watches for `timeout`; succeeds if the condition stayed true, fails the moment it is not.
    """

    every: PollInterval = Field(description="the interval between calls, from 1s up to 1h")
    timeout: Duration = Field(description="how long to poll, up to 24h")
    until: Condition | None = None
    while_: Condition | None = Field(None, alias="while")
    show: str | None = Field(None, description="template shown as the latest value, e.g. `{{ status }}`")

    @model_validator(mode="after")
    def _one_condition(self) -> Poll:
        if (self.until is None) == (self.while_ is None):
            raise ValueError("needs exactly one of `until` or `while`")
        return self


class Notify(_Model):
    """A Slack incoming-webhook message or a PagerDuty Events API v2 event."""

    via: Literal["slack", "pagerduty"]
    text: str = Field(description="the Slack message, or the PagerDuty summary")
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    severity: Literal["critical", "error", "warning", "info"] = "critical"
    channel: str | None = Field(None, description="Slack channel, for the message text only")


class Check(_Model):
    """A condition over captured values; true/false may pick the next step."""

    condition: Condition
    message: str = ""
    if_true: Target | None = None
    if_false: Target | None = None
    capture: Identifier | None = None


class _LogQuery(_Model):
    log_group: str
    filter_pattern: str = ""
    since: LookBack = Field(description="how far back to look, up to 30d")
    region: str | None = None
    limit: StrictInt = Field(10_000, ge=1, le=100_000, description="at most this many events are read, up to "
                             "100000 (what a run holds in memory)")
    capture: Identifier = Field(description="name that holds the result table")


class LogErrors(_LogQuery):
    """Errors grouped by type and counted, most frequent first (`filter-log-events | sort | uniq -c`).

    The capture holds `{total, top, top_share, by_type: [{type, count}]}`.
    """

    filter_pattern: str = "ERROR"
    type_pattern: Annotated[str, AfterValidator(_regex)] = Field(
        r"ERROR\s+(?P<type>[A-Za-z_][A-Za-z0-9_.]*)",
        description="regex whose `type` group (or first group) names the error type",
    )


class LogJson(_LogQuery):
    """JSON log messages projected to `fields` and counted by `group_by` (the routing-decision view).

    The capture holds `{total, rows: [{<group_by fields>, count, share}]}`.
    """

    fields: Annotated[list[str], Field(min_length=1)]
    group_by: list[str] = Field(default_factory=list, description="defaults to all of `fields`")


class GoTo(_Model):
    goto: Target


OnFailure = Literal["abort", "continue"] | GoTo


class Retries(_Model):
    attempts: StrictInt = Field(3, ge=0, le=20, description="retries after the first try, up to 20")
    backoff: CallDuration = Field(1.0, description="first delay, up to 1h; doubles each retry, with jitter")
    max_backoff: CallDuration = Field(30.0, description="the longest delay, up to 1h")


PathKey = tuple[str | int, ...]


class _StepBase(_Model):
    """What every step has; each kind adds its one key (`aws`, `http`, `manual`...)."""

    KIND: ClassVar[str] = ""

    id: StepId
    title: str
    budget: Duration = Field(description="time budget, e.g. 2m, up to 24h")
    description: str = ""
    when: Condition | None = Field(None, description="run the step only when this holds")
    on_failure: OnFailure = "abort"
    retries: Retries | None = None
    timeout: CallTimeout | None = Field(None, description="per-call timeout, from 1s up to 1h")
    mutating: bool | None = Field(None, description="inferred from the call when absent; `false` only for "
                                  "probes (a call that changes state by its API's definition is mutating)")
    idempotent: bool = Field(False, description="sending the request twice is harmless: when its outcome is "
                                                "unknown (a timeout after sending) it is sent again unasked")
    mitigation: bool | None = Field(None, description="counts for time to mitigation (default: mutating)")
    undo: Call | None = Field(None, description="how to reverse a mutating step")
    next: Target | None = Field(None, description="where to go after the step succeeds")
    outcome: Literal["unresolved"] | None = Field(
        None, description="`unresolved`: reaching this step (a roll-back or escalation) means the run ends "
                          "unresolved, whatever comes after")

    @model_validator(mode="after")
    def _undo_only_for_mutations(self) -> _StepBase:
        if self.undo is not None and not self.is_mutating:
            raise ValueError("`undo` is only for mutating steps")
        return self

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def body(self) -> Any:
        """The kind's own settings (what is under its key)."""
        return getattr(self, self.KIND)

    @property
    def call(self) -> AwsCall | HttpCall | None:
        """The API call this step makes, if any (polls: the repeated call)."""
        return None

    def calls(self) -> Iterator[tuple[PathKey, AwsCall | HttpCall]]:
        """Every call the step may make (its undo's too), with its location in the step."""
        if self.call is not None:
            yield self._call_loc(), self.call
        if self.undo is not None:
            yield ("undo", "aws" if self.undo.aws else "http"), self.undo.call

    def _call_loc(self) -> PathKey:
        return (self.KIND,)

    def targets(self) -> Iterator[tuple[PathKey, str]]:
        """Every go-to target the step names, with its location."""
        if self.next:
            yield ("next",), self.next
        if isinstance(self.on_failure, GoTo):
            yield ("on_failure", "goto"), self.on_failure.goto

    def captures(self) -> dict[str, PathKey]:
        """The names the step captures, each with its location in the step (undo's are not kept)."""
        found: dict[str, PathKey] = {}
        call = self.call
        if call is not None:
            base = self._call_loc()
            for name in call.capture:
                found.setdefault(name, (*base, "capture", name))
            if isinstance(call, HttpCall) and call.capture_status:
                found.setdefault(call.capture_status, (*base, "capture_status"))
        capture = getattr(self.body, "capture", None)
        if isinstance(capture, str):
            found.setdefault(capture, (self.KIND, "capture"))
        return found

    @property
    def is_mutating(self) -> bool:
        call = self.call
        if call is not None and call.changes_state:
            return True  # whatever `mutating:` says: --read-only and --dry-run must never send it
        if self.mutating is not None:
            return self.mutating
        return bool(call and call.mutating)

    @property
    def is_mitigation(self) -> bool:
        return self.is_mutating if self.mitigation is None else self.mitigation


class AwsStep(_StepBase):
    KIND: ClassVar[str] = "aws"
    aws: AwsCall

    @property
    def call(self) -> AwsCall:
        return self.aws


class HttpStep(_StepBase):
    KIND: ClassVar[str] = "http"
    http: HttpCall

    @property
    def call(self) -> HttpCall:
        return self.http


class PollStep(_StepBase):
    KIND: ClassVar[str] = "poll"
    poll: Poll

    @property
    def call(self) -> AwsCall | HttpCall:
        return self.poll.call

    def _call_loc(self) -> PathKey:
        return ("poll", "aws" if self.poll.aws else "http")


class ManualStep(_StepBase):
    KIND: ClassVar[str] = "manual"
    manual: Manual


class ChoiceStep(_StepBase):
    KIND: ClassVar[str] = "choice"
    choice: Choice

    def targets(self) -> Iterator[tuple[PathKey, str]]:
        yield from super().targets()
        for i, option in enumerate(self.choice.options):
            if option.goto:
                yield ("choice", "options", i, "goto"), option.goto


class ConfirmStep(_StepBase):
    KIND: ClassVar[str] = "confirm"
    confirm: Confirm

    def targets(self) -> Iterator[tuple[PathKey, str]]:
        yield from super().targets()
        for key in ("if_yes", "if_no"):
            if target := getattr(self.confirm, key):
                yield ("confirm", key), target


class WaitStep(_StepBase):
    KIND: ClassVar[str] = "wait"
    wait: Wait


class NotifyStep(_StepBase):
    KIND: ClassVar[str] = "notify"
    notify: Notify


class CheckStep(_StepBase):
    KIND: ClassVar[str] = "check"
    check: Check

    def targets(self) -> Iterator[tuple[PathKey, str]]:
        yield from super().targets()
        for key in ("if_true", "if_false"):
            if target := getattr(self.check, key):
                yield ("check", key), target


class LogErrorsStep(_StepBase):
    KIND: ClassVar[str] = "log_errors"
    log_errors: LogErrors


class LogJsonStep(_StepBase):
    KIND: ClassVar[str] = "log_json"
    log_json: LogJson


STEP_CLASSES: tuple[type[_StepBase], ...] = (AwsStep, HttpStep, ManualStep, ChoiceStep, ConfirmStep, WaitStep,
                                             PollStep, NotifyStep, CheckStep, LogErrorsStep, LogJsonStep)
KINDS = tuple(c.KIND for c in STEP_CLASSES)
_NO_KIND = "no-kind"  # the tag of a step with no kind key, or several: its own error, below
STEP_TAGS = frozenset({*(k + "-step" for k in KINDS), _NO_KIND})  # in error locations, never in the data


def _kind_tag(value: Any) -> str:
    if isinstance(value, _StepBase):
        return value.KIND + "-step"
    if isinstance(value, dict):
        present = [k for k in KINDS if k in value]
        if len(present) == 1:
            return present[0] + "-step"  # a tag that is no key of the data: error paths skip it
    return _NO_KIND


class _KindMissing(_Model):
    """Never built: validating it explains what a step's kind must be."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _explain(cls, value: Any) -> Any:
        present = [k for k in KINDS if isinstance(value, dict) and k in value]
        found = ", ".join(present) if present else "none"
        raise ValueError(f"a step needs exactly one kind of {', '.join(KINDS)} (found: {found})")


AnyStep = AwsStep | HttpStep | ManualStep | ChoiceStep | ConfirmStep | WaitStep | PollStep | NotifyStep | \
    CheckStep | LogErrorsStep | LogJsonStep
if TYPE_CHECKING:
    Step = AnyStep
else:  # what pydantic validates a step with: its kind key picks the class
    Step = Annotated[
        Union[tuple(Annotated[c, Tag(c.KIND + "-step")] for c in STEP_CLASSES)  # noqa: UP007
              + (Annotated[_KindMissing, Tag(_NO_KIND)],)],
        Discriminator(_kind_tag),
    ]


_LARGEST = 1.7976931348623157e308


def _scalar_default(v: Any) -> Any:
    # One clear error: the union's four branches would each reject a list (and none would be shown).
    if isinstance(v, list | dict):
        raise ValueError(f"a variable's default is a string, a number or true/false, not a "
                         f"{'list' if isinstance(v, list) else 'mapping'}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"a variable's default must be a finite number, not {v}")
    return v


class Variable(_Model):
    """An input of the runbook; without a default it is required."""

    name: Identifier
    description: str = ""
    default: Annotated[
        str | int | float | bool | None,
        BeforeValidator(_scalar_default),
        # a finite number: YAML's .inf exceeds the largest float (no schema can see .nan)
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number", "minimum": -_LARGEST, "maximum": _LARGEST},
                                  {"type": "boolean"}, {"type": "null"}]}),
    ] = None
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


class Phase(_Model):
    id: StepId
    title: str
    steps: Annotated[list[Step], Field(min_length=1)]


def _response_time(v: Any) -> str:
    if v == "immediate":
        return v
    parse_duration(v, maximum=MAX_RESPONSE_TIME)
    return str(v)


class Runbook(_Model):
    """One incident: metadata, variables, and phases of steps."""

    id: StepId
    title: str
    severity: Literal["P0", "P1", "P2", "P3"]
    response_time: Annotated[
        str,
        AfterValidator(_response_time),
        WithJsonSchema({"anyOf": [{"const": "immediate"},
                                  {"type": "string", "pattern": duration_pattern(0.0, MAX_RESPONSE_TIME)}]}),
        Field(description="`immediate` or a duration such as 15m, 1h, up to 7d"),
    ]
    impact: str
    symptoms: list[str] = Field(default_factory=list)
    owner: str
    version: str
    scenario: str | None = Field(None, description="the sandbox scenario a drill of this incident uses")
    variables: list[Variable] = Field(default_factory=list)
    phases: Annotated[list[Phase], Field(min_length=1)]

    def steps(self) -> Iterator[tuple[Phase, AnyStep]]:
        for phase in self.phases:
            for step in phase.steps:
                yield phase, step

    def step_ids(self) -> list[str]:
        return [s.id for _, s in self.steps()]

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)


def json_schema() -> dict[str, Any]:
    schema = Runbook.model_json_schema(by_alias=True)
    # A step is exactly one of the kinds: the catch-all that words the validator's error is no schema's
    steps = schema["$defs"]["Phase"]["properties"]["steps"]["items"]
    steps["oneOf"] = [ref for ref in steps["oneOf"] if ref["$ref"] != "#/$defs/_KindMissing"]
    del schema["$defs"]["_KindMissing"]
    # What the model's own validators hold beyond each field's type, so that an editor rejects it too.
    defs = schema["$defs"]
    defs["Call"]["oneOf"] = _exactly_one("aws", "http")
    defs["Poll"]["allOf"] = [{"oneOf": _exactly_one("aws", "http")}, {"oneOf": _exactly_one("until", "while")}]
    _undo_rules(defs)
    _closed_maps(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hybridops runbook"
    return schema


def _exactly_one(*keys: str) -> list[dict[str, Any]]:
    """Schemas of which exactly one holds when exactly one of `keys` is present and not null."""
    return [{"required": [k], "properties": {k: {"not": {"type": "null"}}}} for k in keys]


def _undo_rules(defs: dict[str, Any]) -> None:
    """`undo` only on a mutating step, as `is_mutating` decides it: never with `mutating: false`; on a
    read (a Describe/Get/List... AWS operation, an admin GET) or a step without a call only with
    `mutating: true`."""
    declared = {"required": ["mutating"], "properties": {"mutating": {"const": True}}}
    no_undo = {"not": {"required": ["undo"]}}
    read_aws = {"type": "object", "properties": {"operation": {"pattern": "^(" + "|".join(READ_PREFIXES) + ")"}}}
    read_http = {"type": "object", "properties": {"method": {"const": "GET"}}}  # GET when absent, too
    reads: dict[str, dict[str, Any]] = {
        "aws": {"properties": {"aws": read_aws}},
        "http": {"properties": {"http": read_http}},
        "poll": {"properties": {"poll": {"anyOf": [{"required": ["aws"], "properties": {"aws": read_aws}},
                                                  {"required": ["http"], "properties": {"http": read_http}}]}}},
    }
    for cls in STEP_CLASSES:
        rules: list[dict[str, Any]] = [{"if": {"required": ["mutating"], "properties": {"mutating": {"const": False}}},
                                        "then": no_undo}]
        read = reads.get(cls.KIND, {})  # no call: a read unless declared
        rules.append({"if": {"required": ["undo"], **read}, "then": declared})
        defs[cls.__name__].setdefault("allOf", []).extend(rules)


def _closed_maps(node: Any) -> None:
    """A mapping whose keys have a pattern (captures: `dict[Identifier, ...]`) admits no other key:
    pydantic's `patternProperties` alone would let `bad-name:` through."""
    if isinstance(node, dict):
        if "patternProperties" in node and "properties" not in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _closed_maps(value)
    elif isinstance(node, list):
        for value in node:
            _closed_maps(value)
