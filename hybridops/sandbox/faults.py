"""Injected misbehaviour: 503 bursts and slow answers of the admin API, AWS throttling, components
going down, now or at a later moment of the simulation.

Each fault is one JSON object, as `POST /_sandbox/fault` takes it and a drill's `--faults` plan holds:

    {"kind": "http-503", "count": 2}                     the next 2 admin answers are 503
    {"kind": "slow", "seconds": 40}                      the next admin answer comes 40 s late
    {"kind": "aws-throttle", "count": 1}                 the next AWS call is throttled
    {"kind": "hold", "count": 1}                         the next admin answer waits for POST /_sandbox/release
    {"kind": "component-down", "component": "mcp-router", "for_s": 120}
    {"kind": "component-up", "component": "direct-bedrock"}
    {"kind": "iam-deny", "action": "ecs:UpdateService"}  an explicit Deny of the action for the operator's
                                                         role (or "role": NAME), "resource": "*" by default

Any of them may say when: `"at_s": 300` (simulated seconds since the scenario started) or
`"on_request": 4` (the 4th request to the API the fault is about, counted since the scenario started;
not for component faults). Every fault that takes effect is written to the world's fault log.

An `iam-deny` is a customer-managed policy in moto's IAM (`hybridops-sandbox-deny-N`, one Deny
statement) attached to the role: IAM's own reads (GetRole, ListAttachedRolePolicies) see it, and
SimulatePrincipalPolicy names it. On the operator's role with resource `*`, the caller's calls of the
action are refused too (AccessDenied), as AWS would. A scenario change (`/_sandbox/reset`,
`set_scenario`) removes it.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape

from hybridops.sandbox.aws_extras import wildcard_match
from hybridops.sandbox.scenarios import OPERATOR_ROLE
from hybridops.sandbox.world import COMPONENTS, World

if TYPE_CHECKING:
    from hybridops.engine.clock import SimClock

FAULT_KINDS = ("http-503", "slow", "hold", "aws-throttle", "component-down", "component-up", "iam-deny")
REQUEST_FAULTS = {"http-503": "admin", "slow": "admin", "hold": "admin", "aws-throttle": "aws"}
MAX_SLOW_S = 600.0
# A request's signing service (as the sandbox records it) -> IAM's prefix, where they differ.
_IAM_PREFIXES = {"monitoring": "cloudwatch", "bedrock-runtime": "bedrock", "email": "ses"}


@dataclass(frozen=True)
class AwsFailure:
    """An error answer (throttling, no endpoint) in the wire format of the request's protocol."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def check_fault(fault: Any) -> dict[str, Any]:
    """The fault, normalised; ValueError with a message when it makes no sense."""
    if not isinstance(fault, dict):
        raise ValueError("a fault is a JSON object")
    kind = fault.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    out: dict[str, Any] = {"kind": kind}
    if kind in REQUEST_FAULTS:
        out["count"] = fault.get("count", 1)
        if not _is_int(out["count"]) or out["count"] < 1:
            raise ValueError("count must be a positive integer")
    if kind == "slow":
        seconds = fault.get("seconds", 1)
        if not _is_number(seconds) or not 0 <= seconds <= MAX_SLOW_S:
            raise ValueError(f"seconds must be a number from 0 to {MAX_SLOW_S:g}")
        out["seconds"] = float(seconds)
    if kind.startswith("component-"):
        if fault.get("component") not in COMPONENTS:
            raise ValueError(f"component must be one of {', '.join(COMPONENTS)}")
        out["component"] = fault["component"]
        if "for_s" in fault:
            if kind != "component-down" or not _is_number(fault["for_s"]) or not fault["for_s"] > 0:
                raise ValueError("for_s must be a positive number of seconds (component-down only)")
            out["for_s"] = float(fault["for_s"])
    if kind == "iam-deny":
        action, role, resource = fault.get("action"), fault.get("role", OPERATOR_ROLE), fault.get("resource", "*")
        if not isinstance(action, str) or not re.fullmatch(r"[\w-]+:[\w*?]+", action):
            raise ValueError("action must be an IAM action, service:Action (e.g. ecs:UpdateService)")
        if not isinstance(role, str) or not re.fullmatch(r"[\w+=,.@-]{1,64}", role):
            raise ValueError("role must be the name of an IAM role")
        if not isinstance(resource, str) or not resource:
            raise ValueError("resource must be an ARN or *")
        out.update(action=action, role=role, resource=resource)
    if "at_s" in fault and "on_request" in fault:
        raise ValueError("give at_s or on_request, not both")
    if "at_s" in fault:
        if not _is_number(fault["at_s"]) or fault["at_s"] < 0:
            raise ValueError("at_s must be a number of seconds, 0 or more")
        out["at_s"] = float(fault["at_s"])
    if "on_request" in fault:
        if kind not in REQUEST_FAULTS or not _is_int(fault["on_request"]) or fault["on_request"] < 1:
            raise ValueError("on_request must be a positive integer (request faults only)")
        out["on_request"] = fault["on_request"]
    return out


def describe_fault(fault: dict[str, Any]) -> str:
    kind = fault["kind"]
    if kind == "http-503":
        return f"{fault['count']} admin answer(s) 503"
    if kind == "slow":
        return f"{fault['count']} admin answer(s) {fault['seconds']:g}s late"
    if kind == "aws-throttle":
        return f"{fault['count']} AWS call(s) throttled"
    if kind == "hold":
        return f"{fault['count']} admin answer(s) held until released"
    if kind == "iam-deny":
        return f"explicit deny of {fault['action']} on {fault['resource']} for role {fault['role']}"
    what = f"{fault['component']} {kind.split('-')[1]}"
    return what + (f" for {fault['for_s']:g}s" if "for_s" in fault else "")


@dataclass
class Faults:
    """The faults of one sandbox: armed ones are consumed request by request, pending ones wait for
    their moment. With a simulated `clock` a slow answer takes its time on it, at once."""

    world: World
    clock: SimClock | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)  # cuts slow answers short on stop
    unavailable: int = 0  # the next N admin answers are 503
    slow: list[float] = field(default_factory=list)  # the next admin answers each wait this many seconds
    throttled: int = 0  # the next N AWS calls are throttled
    held: int = 0  # the next N admin answers wait until release()
    _holding: list[threading.Event] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=lambda: {"admin": 0, "aws": 0})
    iam_denies: list[dict[str, Any]] = field(default_factory=list)  # iam-deny faults in force
    _iam_applied: dict[str, tuple[str, str]] = field(default_factory=dict)  # policy ARN -> (role, fault json)

    def __post_init__(self) -> None:
        _BY_WORLD[self.world] = self

    def add(self, fault: Any) -> str:
        """Apply (or schedule) one fault; ValueError when it makes no sense."""
        fault = check_fault(fault)
        if fault["kind"].startswith("component-") and "at_s" in fault:
            # at its exact moment, as the world's own timed events are, not at the next request
            self.world.schedule_component(fault["kind"], fault["component"], fault["at_s"], fault.get("for_s"))
            return f"scheduled: {describe_fault(fault)} at {fault['at_s']:g}s"
        if "at_s" in fault or "on_request" in fault:
            with self.lock:
                self.pending.append(fault)
            self._arm_due()
            return f"scheduled: {describe_fault(fault)}"
        self._apply(fault)
        return describe_fault(fault)

    def _apply(self, fault: dict[str, Any], hit: str | None = None) -> None:
        kind = fault["kind"]
        world = self.world
        if kind == "iam-deny":
            with self.lock:
                self.iam_denies.append(fault)
            world.note_fault(kind, describe_fault(fault), hit)
            return
        if kind.startswith("component-"):
            if kind == "component-down":
                world.component_down(fault["component"], fault.get("for_s"))
            else:
                world.component_up(fault["component"])
            world.note_fault(kind, describe_fault(fault), hit)
            return
        with self.lock:
            if kind == "http-503":
                self.unavailable += fault["count"]
            elif kind == "slow":
                self.slow += [fault["seconds"]] * fault["count"]
            elif kind == "hold":
                self.held += fault["count"]
            else:
                self.throttled += fault["count"]

    def _arm_due(self, api: str | None = None) -> None:
        """Apply the scheduled faults whose moment has come; `api`: a request to it is being served."""
        now = self.world.advance()
        with self.lock:
            if api is not None:
                self.requests[api] += 1
            due = [f for f in self.pending
                   if f.get("at_s", float("inf")) <= now
                   or ("on_request" in f and REQUEST_FAULTS[f["kind"]] == api
                       and self.requests[api] >= f["on_request"])]
            self.pending = [f for f in self.pending if f not in due]
        for fault in due:
            self._apply(fault)

    def take_admin(self, what: str) -> tuple[float, bool]:
        """(seconds to wait, answer 503?) for the admin request `what` being served now; a held
        answer first waits here for `release()` (a hung server: an explicit event for tests)."""
        self._arm_due("admin")
        gate = None
        with self.lock:
            delay = self.slow.pop(0) if self.slow else 0.0
            unavailable = self.unavailable > 0
            if unavailable:
                self.unavailable -= 1
            if self.held > 0:
                self.held -= 1
                gate = threading.Event()
                self._holding.append(gate)
        if gate is not None:
            self.world.note_fault("hold", "answer held", what)
            while not gate.wait(0.05) and not self.stopping.is_set():
                pass
        if delay:
            self.world.note_fault("slow", f"answer {delay:g}s late", what)
        if unavailable:
            self.world.note_fault("http-503", "answered 503", what)
        return delay, unavailable

    def take_aws(self, what: str, content_type: str, service: str) -> AwsFailure | None:
        """A throttling answer for the AWS call `what`, if one is armed, or AWS's AccessDenied when an
        iam-deny fault takes its action away from the caller (the operator's role)."""
        self._arm_due("aws")
        action = f"{_IAM_PREFIXES.get(service, service)}:{what.rsplit(' ', 1)[-1]}"
        with self.lock:
            denied = next((f for f in self.iam_denies if f["role"] == OPERATOR_ROLE and f["resource"] == "*"
                           and wildcard_match(f["action"], action, ignore_case=True)), None)
        if denied is not None and action != "sts:GetCallerIdentity":  # which IAM never refuses
            self.world.note_fault("iam-deny", f"{action} denied", what)
            code, status = (("AccessDenied", 403) if "x-www-form-urlencoded" in content_type
                            else ("AccessDeniedException", 400))
            return protocol_error(content_type, service, status, "UnauthorizedOperation" if service == "ec2" else code,
                                  f"User: the sandbox's operator session (role {OPERATOR_ROLE}) is not authorized to "
                                  f"perform: {action} with an explicit deny in an identity-based policy")
        with self.lock:
            if self.throttled <= 0:
                return None
            self.throttled -= 1
        self.world.note_fault("aws-throttle", "throttled", what)
        return throttling_answer(content_type, service)

    def wait(self, seconds: float) -> None:
        """A slow answer's delay, outside every lock: other requests keep being served."""
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            self.stopping.wait(seconds)

    def release(self) -> int:
        """Let every held answer go; how many there were."""
        with self.lock:
            gates, self._holding = self._holding, []
        for gate in gates:
            gate.set()
        return len(gates)

    def clear(self) -> None:
        self.release()
        with self.lock:
            self.unavailable = self.throttled = self.held = 0
            self.slow.clear()
            self.pending.clear()
            self.requests = {"admin": 0, "aws": 0}
            self.iam_denies.clear()  # taken out of moto's IAM at the next AWS request (sync_iam)

    def sync_iam(self, account_id: str) -> None:
        """Make moto's IAM in `account_id` hold exactly the iam-deny faults in force (called before each
        AWS request is answered, under the world's lock)."""
        with self.lock:
            wanted = [json.dumps(f, sort_keys=True) for f in self.iam_denies]
            if sorted(wanted) == sorted(v for _, v in self._iam_applied.values()):
                return
            from moto.iam.models import iam_backends

            iam = iam_backends[account_id]["global"]
            for arn, (role, key) in list(self._iam_applied.items()):
                if key in wanted:
                    wanted.remove(key)
                    continue
                with contextlib.suppress(Exception):  # the role went away with its account: nothing to detach
                    iam.detach_role_policy(arn, role)
                iam.managed_policies.pop(arn, None)
                del self._iam_applied[arn]
            for key in wanted:
                fault = json.loads(key)
                n = 1
                while f"arn:aws:iam::{account_id}:policy/hybridops-sandbox-deny-{n}" in iam.managed_policies:
                    n += 1
                document = json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Sid": "SandboxFaultDeny", "Effect": "Deny", "Action": fault["action"],
                    "Resource": fault["resource"]}]}, indent=2)
                policy = iam.create_policy("injected by the sandbox (iam-deny fault)", "/", document,
                                           f"hybridops-sandbox-deny-{n}", [])
                try:
                    iam.attach_role_policy(policy.arn, fault["role"])
                except Exception:  # noqa: BLE001 - moto's NoSuchEntity: the fault names no role of the account
                    iam.managed_policies.pop(policy.arn, None)
                    self.iam_denies = [f for f in self.iam_denies if json.dumps(f, sort_keys=True) != key]
                    self.world.note_fault("iam-deny", f"no role {fault['role']}: nothing denied", None)
                    continue
                self._iam_applied[policy.arn] = (fault["role"], key)


_BY_WORLD: weakref.WeakKeyDictionary[World, Faults] = weakref.WeakKeyDictionary()


def faults_of(world: World) -> Faults | None:
    """The Faults of the sandbox whose world this is (the AWS side applies IAM faults through it)."""
    return _BY_WORLD.get(world)


def throttling_answer(content_type: str, service: str) -> AwsFailure:
    """What AWS answers a throttled call, in the request's protocol (botocore parses each differently)."""
    if "x-www-form-urlencoded" in content_type and service == "ec2":
        return protocol_error(content_type, service, 503, "RequestLimitExceeded", "Request limit exceeded.")
    if "x-www-form-urlencoded" in content_type:
        return protocol_error(content_type, service, 400, "Throttling", "Rate exceeded")
    return protocol_error(content_type, service, 400, "ThrottlingException", "Rate exceeded")


def protocol_error(content_type: str, service: str, status: int, code: str, message: str) -> AwsFailure:
    """An AWS error answer in the request's protocol: EC2's XML, the query protocol's XML, or JSON
    (JSON 1.0/1.1 and REST-JSON both read `__type` and x-amzn-ErrorType)."""
    request_id = str(uuid.uuid4())
    text = xml_escape(message)
    if "x-www-form-urlencoded" in content_type:
        if service == "ec2":
            body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{text}</Message></Error></Errors>"
                    f"<RequestID>{request_id}</RequestID></Response>")
            return AwsFailure(status, [("Content-Type", "text/xml")], body.encode())
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{text}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return AwsFailure(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode())
    ctype = content_type if content_type.startswith("application/x-amz-json") else "application/json"
    return AwsFailure(status, [("Content-Type", ctype), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)],
                      json.dumps({"__type": code, "message": message}).encode())


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v and v not in (float("inf"),)
