"""`hybridops export ssm`: a runbook as an SSM Automation document (schemaVersion 0.3).

How each part maps (what has no SSM form is a `Gap`, listed with its step; nothing is guessed):

- `aws` -> `aws:executeAwsApi` (Service is botocore's and boto3's client name, Api the operation's);
  captures -> `outputs` with a JSONPath `Selector` (`selector.py`) typed from botocore's output shape.
  A runbook `region` has no input there (the step calls the execution's Region): a gap.
- `poll` over an AWS call whose `until` is `capture == 'x'` or `capture in [...]` ->
  `aws:waitForAwsResourceProperty` (PropertySelector, DesiredValues); any other poll -> `aws:executeScript`
  looping as hybridops does (`every`, `timeout`, `until` / `while`, the condition as Python).
- `http` and `notify` -> `aws:executeScript` (python3.11) calling the admin API, Slack or PagerDuty with
  urllib; the admin token, the webhook URL and the routing key are read from SecureString parameters
  whose NAMES are document parameters (`AdminTokenParameter`...): no secret is ever in the document.
- `log_errors` / `log_json` -> `aws:executeScript`: FilterLogEvents, grouped by hybridops' own code.
- `manual` and `confirm` -> `aws:approve` (the checklist in the Message; `Approvers` is a document
  parameter). A rejection fails the step, so `onFailure` takes a confirm's "no" path.
- `check` -> `aws:branch`; a condition with no branch form becomes an approval asking the approvers
  whether it holds (a gap). `when` -> an `aws:branch` (or that approval) in front of its step.
- `choice` -> a document parameter (its options as allowedValues, its default as default) and an
  `aws:branch` on it: the answer is given when the execution starts, as `--answer` does.
- `wait` -> `aws:sleep`; `budget` -> `timeoutSeconds`; `retries` -> `maxAttempts`; `on_failure` ->
  `onFailure` (`Abort`, `Continue` with `isCritical: false`, `step:NAME`); `next: end` -> `isEnd`; a
  go-to `end` from a branch -> a last step `End`.
- variables -> document parameters (String, Integer or Boolean from the default; SSM has no
  floating-point type, so a fraction is a String); `AutomationAssumeRole` -> `assumeRole`.

Step names are the runbook's ids with `-` as `_` (SSM's `step:NAME` takes word characters only).
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hybridops.export import ssm_runtime
from hybridops.export.conditions import (
    PY_HELPERS,
    RUN_ID,
    Ref,
    branch_choices,
    python_condition,
    ssm_text,
    ssm_value,
)
from hybridops.export.selector import NotExpressible, Selection, jsonpath, output_type, to_selector
from hybridops.runbook.model import (
    END,
    AnyStep,
    AwsCall,
    AwsStep,
    CheckStep,
    ChoiceStep,
    ConfirmStep,
    GoTo,
    HttpCall,
    HttpStep,
    LogErrorsStep,
    LogJsonStep,
    ManualStep,
    NotifyStep,
    PollStep,
    Runbook,
    WaitStep,
)

RUNTIME = "python3.11"  # listed by AWS's current aws:executeScript reference (the 2020 schema knows 3.6/3.7)
END_STEP = "End"
NOT_EXPORTED = "[not exported: see the runbook]"
ADMIN_TOKEN_PARAMETER = "/hybridops/admin-token"
SLACK_PARAMETER = "/hybridops/slack-webhook-url"
PAGERDUTY_PARAMETER = "/hybridops/pagerduty-routing-key"
MAX_DOCUMENT_BYTES = 64 * 1024  # CreateDocument's limit (MaxDocumentSizeExceeded)
KEY_ORDER = ("name", "action", "description", "timeoutSeconds", "maxAttempts", "onFailure", "isCritical",
             "nextStep", "isEnd", "inputs", "outputs")


@dataclass(frozen=True)
class Gap:
    """Something of the runbook the document does not express, and where."""

    step: str  # the runbook step id ("" for the document)
    message: str

    def __str__(self) -> str:
        return f"{self.step}: {self.message}" if self.step else self.message


@dataclass(frozen=True)
class Export:
    document: dict[str, Any]
    gaps: list[Gap]


def ssm_name(step_id: str) -> str:
    return step_id.replace("-", "_")


@dataclass
class _Builder:
    runbook: Runbook
    admin_url: str
    pagerduty_url: str
    gaps: list[Gap] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    scope: dict[str, Ref] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    needs_end: bool = False
    guards: dict[str, str] = field(default_factory=dict)  # step id -> the name of its `when` branch
    own: dict[str, str] = field(default_factory=dict)  # the document's own parameters, as named
    current: str = ""

    # --- names and flow ---

    def gap(self, message: str) -> None:
        self.gaps.append(Gap(self.current, message))

    def entry(self, step_id: str) -> str:
        """The SSM step a go-to to `step_id` lands on (its `when` guard, when it has one)."""
        if step_id == END:
            self.needs_end = True
            return END_STEP
        return self.guards.get(step_id) or ssm_name(step_id)

    def after(self, index: int) -> str:
        ids = self.runbook.step_ids()
        return self.entry(ids[index + 1]) if index + 1 < len(ids) else self.entry(END)

    def target(self, step_id: str | None, index: int) -> str:
        return self.after(index) if step_id is None else self.entry(step_id)

    def text(self, value: str) -> str:
        def problem(message: str) -> str:
            self.gap(f"{message}; left out of the text")
            return NOT_EXPORTED

        return ssm_text(value, self.scope, incident=self.runbook.id, on_problem=problem)

    def parameter(self, name: str, spec: dict[str, Any], ref_type: str) -> str:
        """A parameter of the document's own (AdminUrl, Approvers...), under another name when the runbook
        has a variable or a choice of that name."""
        if name in self.own:
            return self.own[name]
        actual = name
        while actual in self.params:
            actual += "_"
        self.own[name] = actual
        self.params[actual] = spec
        return actual

    def output(self, step: AnyStep, name: str, kind: str) -> None:
        """Later steps read capture `name` as this step's output."""
        before = self.scope.get(name)
        if before is not None and before.parameter and step.when:
            self.gap(f"capture {name}: later steps read {ssm_name(step.id)}.{name}, which is unset when this "
                     f"step is skipped (the parameter {before.ref} is not read in its place)")
        self.scope[name] = Ref(f"{ssm_name(step.id)}.{name}", kind)

    # --- the document ---

    def build(self) -> dict[str, Any]:
        rb = self.runbook
        for var in rb.variables:
            self._variable(var.name, var.default, var.description, var.secret)
        role = self.parameter("AutomationAssumeRole", {
            "type": "String", "default": "",
            "description": "(Optional) The ARN of the role Automation assumes to run this document's AWS "
                           "calls (empty: the caller's own permissions)."}, "String")
        taken = {ssm_name(i) for i in rb.step_ids()} | {END_STEP}
        for _, step in rb.steps():
            if step.when:
                guard = f"{ssm_name(step.id)}_when"
                while guard in taken:
                    guard += "_"
                taken.add(guard)
                self.guards[step.id] = guard
        for index, (_, step) in enumerate(rb.steps()):
            self.current = step.id
            self._step(index, step)
        self.current = ""
        if self.needs_end:
            last = self.steps[-1]
            if last["action"] != "aws:branch" and "nextStep" not in last:
                last["isEnd"] = True
            self.steps.append({"name": END_STEP, "action": "aws:sleep",
                               "description": "The end of the runbook (a go-to `end`).",
                               "inputs": {"Duration": "PT0S"}, "isEnd": True})
        return {
            "schemaVersion": "0.3",
            "description": _plain(f"{rb.title} ({rb.severity}, response time {rb.response_time}): {rb.impact}. "
                                  f"Exported by hybridops from the runbook {rb.id} {rb.version}."),
            "assumeRole": "{{ " + role + " }}",
            "parameters": {role: self.params[role], **{k: v for k, v in self.params.items() if k != role}},
            "mainSteps": [{k: s[k] for k in KEY_ORDER if k in s} for s in self.steps],
        }

    def _variable(self, name: str, default: Any, description: str, secret: bool) -> None:
        spec: dict[str, Any] = {"type": "String", "description": description or name}
        ref_type = "String"
        if secret:
            self.gap(f"variable {name} is secret: SSM parameters show their values in the execution's history; "
                     "pass the name of a SecureString parameter instead")
            spec["description"] = (description or name) + " (secret: no default exported)"
        elif isinstance(default, bool):
            spec.update(type="Boolean", default=default)
            ref_type = "Boolean"
        elif isinstance(default, int):
            spec.update(type="Integer", default=default)
            ref_type = "Integer"
        elif default is not None:
            spec["default"] = str(default)  # a fraction too: SSM has no floating-point type
        self.params[name] = spec
        self.scope[name] = Ref(name, ref_type, parameter=True)

    # --- steps ---

    def _step(self, index: int, step: AnyStep) -> None:
        name = ssm_name(step.id)
        if step.when:
            self._decision(self.guards[step.id], step.when, name, self.after(index), step, natural=name,
                           question=f"Run the step {step.id!r} ({_plain(step.title)})? It runs only when: "
                                    f"{' '.join(step.when.split())}. Approve to run it, reject to skip it.")
        if step.undo is not None:
            self.gap("its undo is not exported (a run's changes are undone with `hybridops undo`)")
        if step.outcome == "unresolved":
            self.gap("outcome: unresolved has no SSM form: an execution that reaches it still ends Success")
        emit: dict[type, Callable[[int, Any], list[dict[str, Any]]]] = {
            AwsStep: self._aws, HttpStep: self._http, PollStep: self._poll, ManualStep: self._manual,
            ConfirmStep: self._confirm, ChoiceStep: self._choice, CheckStep: self._check, WaitStep: self._wait,
            NotifyStep: self._notify, LogErrorsStep: self._log, LogJsonStep: self._log,
        }
        made = emit[type(step)](index, step)
        main = made[0]
        main.setdefault("name", name)
        main.setdefault("description", _plain(step.title + (f": {' '.join(step.description.split())}"
                                                            if step.description else "")))
        main.setdefault("timeoutSeconds", max(1, math.ceil(step.budget)))
        if step.retries is not None:
            main["maxAttempts"] = step.retries.attempts + 1
        if "onFailure" not in main:
            if step.on_failure == "continue":
                main["onFailure"], main["isCritical"] = "Continue", False
            elif isinstance(step.on_failure, GoTo):
                main["onFailure"], main["isCritical"] = f"step:{self.entry(step.on_failure.goto)}", False
            else:
                main["onFailure"] = "Abort"
        if main["action"] != "aws:branch" and "nextStep" not in main:
            if step.next == END:
                main["isEnd"] = True
            elif step.next:
                main["nextStep"] = self.entry(step.next)
        self.steps.extend(made)

    def _decision(self, name: str, condition: str, if_true: str, if_false: str, step: AnyStep, *,
                  natural: str, question: str) -> dict[str, Any]:
        """An aws:branch when the condition has that form, otherwise an approval that asks it."""
        try:
            choices = branch_choices(condition, self.scope)
        except NotExpressible as exc:
            self.gap(f"{exc}: an approver decides instead")
            made: dict[str, Any] = {
                "name": name, "action": "aws:approve", "description": question,
                "timeoutSeconds": max(1, math.ceil(step.budget)),
                "onFailure": f"step:{if_false}", "isCritical": False,
                "inputs": self._approval(question)}
            if if_true != natural:  # the step listed next runs anyway
                made["nextStep"] = if_true
            self.steps.append(made)
            return made
        made = {"name": name, "action": "aws:branch", "description": f"Only when: {' '.join(condition.split())}",
                "inputs": {"Choices": [{"NextStep": if_true, **c} for c in choices], "Default": if_false}}
        self.steps.append(made)
        return made

    def _approval(self, message: str) -> dict[str, Any]:
        approvers = self.parameter("Approvers", {
            "type": "StringList",
            "description": "IAM users, roles or ARNs who answer the approval steps (confirmations, checklists)."},
            "StringList")
        return {"Approvers": "{{ " + approvers + " }}", "MinRequiredApprovals": 1, "Message": message[:4096]}

    def _aws(self, index: int, step: AwsStep) -> list[dict[str, Any]]:
        inputs = self._aws_inputs(step.aws)
        made: dict[str, Any] = {"action": "aws:executeAwsApi", "inputs": inputs}
        outputs = self._aws_outputs(step, step.aws)
        if outputs:
            made["outputs"] = outputs
        return [made]

    def _aws_inputs(self, call: AwsCall) -> dict[str, Any]:
        if call.region:
            self.gap(f"region {call.region!r}: aws:executeAwsApi calls the execution's own Region")
        return {"Service": call.service, "Api": call.operation} | self._aws_params(call)

    def _aws_outputs(self, step: AnyStep, call: AwsCall) -> list[dict[str, Any]]:
        from hybridops.runbook.botocore_check import operation_model

        op = operation_model(call.service, call.operation)
        shape = op.output_shape if op is not None else None
        outputs = []
        for name, query in call.capture.items():
            try:
                selection = to_selector(query)
                kind = output_type(shape, selection.path)
            except NotExpressible as exc:
                self.gap(f"capture {name}: {exc}; not an output")
                continue
            outputs.append({"Name": name, "Selector": selection.selector, "Type": kind})
            self.output(step, name, kind)
        return outputs

    def _script(self, functions: list[Callable[..., Any]], call: str, payload: dict[str, Any],
                extra: str = "") -> dict[str, Any]:
        body = "\n\n".join(_compact(f) for f in functions) + extra
        imports = [f"import {m}" for m in ("json", "re", "time", "urllib.error", "urllib.request")
                   if f"{m}." in body]
        if "Counter(" in body:
            imports.append("from collections import Counter")
        if "MAX_BODY" in body:
            imports.append(f"MAX_BODY = {ssm_runtime.MAX_BODY}")
        script = "\n".join(imports) + f"\n\n{body}\n\ndef handler(events, context):\n return {call}\n"
        return {"Runtime": RUNTIME, "Handler": "handler", "Script": script, "InputPayload": payload}

    def _admin_payload(self, step: AnyStep, call: HttpCall, *, computed: set[str]) -> dict[str, Any]:
        """The InputPayload of an admin request; the script computes the captures in `computed` (the
        others are selected from the answer's body by the step's outputs)."""
        url = self.parameter("AdminUrl", {"type": "String", "default": self.admin_url,
                                          "description": "Base URL of the routing admin API."}, "String")
        token = self.parameter("AdminTokenParameter", {
            "type": "String", "default": ADMIN_TOKEN_PARAMETER,
            "description": "Name of the SecureString parameter that holds the admin API token (the token "
                           "itself is never part of this document)."}, "String")
        payload: dict[str, Any] = {"AdminUrl": "{{ " + url + " }}", "TokenParameter": "{{ " + token + " }}",
                                   "Method": call.method, "Path": self.text(call.path), "Expect": call.expect,
                                   "Timeout": step.timeout or 30}
        if call.body is not None:
            try:
                payload["Body"] = ssm_value(call.body, self.scope, incident=self.runbook.id)
            except NotExpressible as exc:
                self.gap(f"body: {exc}; the request is sent without it")
            else:
                coerce = dict(_numbers(call.body, self.scope))
                if coerce:
                    payload["Coerce"] = coerce
        if computed:
            payload["Captures"] = {n: q for n, q in call.capture.items() if n in computed}
            payload["Types"] = {n: self._http_type(call, q) for n, q in call.capture.items() if n in computed}
        return payload

    def _admin_functions(self, payload: dict[str, Any]) -> list[Callable[..., Any]]:
        rt = ssm_runtime
        computing = [rt.typed, rt.captured] if payload.get("Captures") else []
        return [rt.secret, *computing, rt.post_json, rt.admin_request, *([rt.coerced] if payload.get("Coerce") else [])]

    @staticmethod
    def _events(payload: dict[str, Any]) -> str:
        """What the handler passes on: the events, their Body's numbers restored when it has some."""
        return "coerced(events)" if payload.get("Coerce") else "events"

    def _admin_outputs(self, step: AnyStep, call: HttpCall, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Outputs of an admin step: a capture JSONPath can take from the body is selected there
        (`$.Payload.body...`), one it cannot is the script's (`$.Payload.captures.NAME`)."""
        computed = payload.get("Types", {})
        outputs = []
        for name, query in call.capture.items():
            if name in computed:
                selector, kind = jsonpath(("Payload", "captures", name)), computed[name]
            else:
                selector = jsonpath(("Payload", "body", *to_selector(query).path))
                kind = self._http_type(call, query)
            outputs.append({"Name": name, "Selector": selector, "Type": kind})
        if call.capture_status:
            outputs.append({"Name": call.capture_status, "Selector": "$.Payload.status", "Type": "Integer"})
        for output in outputs:
            self.output(step, output["Name"], output["Type"])
        return outputs

    def _http_type(self, call: HttpCall, query: str) -> str:
        from hybridops.runbook.capture_check import SchemaView, http_response

        view = http_response(call.method, call.path, call.expect)
        try:
            path = to_selector(query).path
        except NotExpressible:
            return "Integer" if query.startswith("length(") else "String"
        schema = view.schema if isinstance(view, SchemaView) else None
        many = False
        for seg in path:
            if schema is None:
                break
            if isinstance(seg, int) or seg == "*":
                many = many or seg == "*"
                schema = schema.get("items") if schema.get("type") == "array" else None
            else:
                props = schema.get("properties") or {}
                extra = schema.get("additionalProperties")
                schema = props.get(seg) or (extra if isinstance(extra, dict) else None)
        kind = (schema or {}).get("type")
        if many:
            return "MapList" if kind == "object" else "StringList"
        if kind == "array":
            items = (schema or {}).get("items") or {}
            return "MapList" if items.get("type") == "object" else "StringList"
        return {"integer": "Integer", "boolean": "Boolean", "object": "StringMap"}.get(str(kind), "String")

    def _script_outputs(self, step: AnyStep, types: dict[str, str], *under: str) -> list[dict[str, Any]]:
        outputs = []
        for name, kind in types.items():
            outputs.append({"Name": name, "Selector": jsonpath(("Payload", *under, name)), "Type": kind})
        for name, kind in types.items():
            self.output(step, name, kind)
        return outputs

    def _http(self, index: int, step: HttpStep) -> list[dict[str, Any]]:
        call = step.http
        computed = {n for n, q in call.capture.items() if not _selectable(q)}
        payload = self._admin_payload(step, call, computed=computed)
        functions, events = self._admin_functions(payload), self._events(payload)
        made: dict[str, Any] = {"action": "aws:executeScript",
                                "inputs": self._script(functions, f"admin_request({events})", payload)}
        outputs = self._admin_outputs(step, call, payload)
        if outputs:
            made["outputs"] = outputs
        return [made]

    def _poll(self, index: int, step: PollStep) -> list[dict[str, Any]]:
        poll = step.poll
        if poll.aws is not None and poll.until is not None:
            waited = self._wait_for(step, poll.aws, poll.until)
            if waited is not None:
                return [waited]
        rt = ssm_runtime
        if poll.aws is not None:
            if poll.aws.region:
                region: Any = self._value(poll.aws.region, "region")
            else:
                region = ""
            payload: dict[str, Any] = {"Service": poll.aws.service, "Api": poll.aws.operation, "Region": region,
                                       "Params": {k: v for k, v in self._aws_params(poll.aws).items()}}
            computed = {n for n, q in poll.aws.capture.items() if not _selectable(q)}
            if computed:
                types = self._aws_types(poll.aws)
                payload["Captures"] = {n: q for n, q in poll.aws.capture.items() if n in computed}
                payload["Types"] = {n: types[n] for n in computed}
            functions: list[Callable[..., Any]] = [
                *([rt.typed, rt.captured] if computed else []), rt.aws_request]
            request = "aws_request"
        else:
            assert poll.http is not None
            payload = self._admin_payload(step, poll.http,
                                          computed={n for n, q in poll.http.capture.items() if not _selectable(q)})
            functions = self._admin_functions(payload)
            request = "admin_request"
            if poll.http.capture_status:
                payload["StatusName"] = poll.http.capture_status
        mode, condition = ("until", poll.until) if poll.until is not None else ("while", poll.while_ or "true")
        captured = set(poll.call.capture) | ({poll.http.capture_status} if poll.http and poll.http.capture_status
                                            else set())
        try:
            expr, names = python_condition(condition)
            values = {}
            for name in sorted(names - captured):
                ref = self.scope.get(name)
                if ref is None:
                    raise NotExpressible(f"{' '.join(condition.split())!r}: no document parameter or step output "
                                         f"holds {name!r}")
                values[name] = "{{ " + ref.ref + " }}"
        except NotExpressible as exc:
            self.gap(f"{mode}: {exc}; the call is made once, not repeated")
            made: dict[str, Any] = {"action": "aws:executeScript", "inputs": self._script(
                functions, f"{request}({self._events(payload)})", payload)}
        else:
            payload.update(Mode=mode, Every=poll.every, Timeout=poll.timeout, Values=values,
                           Watch=dict(poll.call.capture))
            helpers = PY_HELPERS if "_int(" in expr or "_float(" in expr else ""
            extra = helpers + f"\n\ndef condition(v):\n return {expr}\n"
            made = {"action": "aws:executeScript", "inputs": self._script(
                [*functions, rt.poll], f"poll({self._events(payload)}, {request}, condition)", payload, extra)}
        if poll.http is not None:
            outputs = self._admin_outputs(step, poll.http, payload)
        else:
            outputs = self._aws_script_outputs(step, poll.aws, payload)
        if outputs:
            made["outputs"] = outputs
        return [made]

    def _aws_script_outputs(self, step: AnyStep, call: AwsCall | None, payload: dict[str, Any]
                            ) -> list[dict[str, Any]]:
        assert call is not None
        computed = payload.get("Types", {})
        types = self._aws_types(call)
        outputs = []
        for name, query in call.capture.items():
            if name in computed:
                outputs.append({"Name": name, "Selector": jsonpath(("Payload", "captures", name)),
                                "Type": computed[name]})
            else:
                outputs.append({"Name": name, "Selector": jsonpath(("Payload", "body", *to_selector(query).path)),
                                "Type": types[name]})
        for output in outputs:
            self.output(step, output["Name"], output["Type"])
        return outputs

    def _value(self, value: str, what: str) -> Any:
        try:
            return ssm_value(value, self.scope, incident=self.runbook.id)
        except NotExpressible as exc:
            self.gap(f"{what}: {exc}; left out")
            return ""

    def _aws_params(self, call: AwsCall) -> dict[str, Any]:
        """The call's parameters as SSM values; each one without an SSM form is reported and left out."""
        out: dict[str, Any] = {}
        for key, value in call.params.items():
            try:
                out[key] = ssm_value(value, self.scope, incident=self.runbook.id)
            except NotExpressible as exc:
                self.gap(f"parameter {key}: {exc}; left out")
        return out

    def _aws_types(self, call: AwsCall) -> dict[str, str]:
        from hybridops.runbook.botocore_check import operation_model

        op = operation_model(call.service, call.operation)
        shape = op.output_shape if op is not None else None
        types = {}
        for name, query in call.capture.items():
            try:
                types[name] = output_type(shape, to_selector(query).path)
            except NotExpressible:
                types[name] = "String"  # jmespath evaluates it in the script; its type is not known here
        return types

    def _wait_for(self, step: PollStep, call: AwsCall, until: str) -> dict[str, Any] | None:
        """The poll as aws:waitForAwsResourceProperty, when its condition is one capture equal to one of
        some strings; None when it does not fit."""
        from jinja2 import nodes

        from hybridops.export.conditions import _expression

        try:
            expr = _expression(until)
        except Exception:  # noqa: BLE001 (validated: a condition Jinja refuses does not fit)
            return None
        if not isinstance(expr, nodes.Compare) or len(expr.ops) != 1 or not isinstance(expr.expr, nodes.Name):
            return None
        op, right = expr.ops[0].op, expr.ops[0].expr
        if op == "eq" and isinstance(right, nodes.Const) and isinstance(right.value, str):
            desired = [right.value]
        elif op == "in" and isinstance(right, nodes.List | nodes.Tuple) and right.items and all(
                isinstance(i, nodes.Const) and isinstance(i.value, str) for i in right.items):
            desired = [i.value for i in right.items]  # type: ignore[attr-defined]
        else:
            return None
        query = call.capture.get(expr.expr.name)
        if query is None:
            return None
        try:
            selection: Selection = to_selector(query)
        except NotExpressible:
            return None
        if selection.many:
            return None
        others = set(call.capture) - {expr.expr.name}
        for name in sorted(others):
            self.gap(f"capture {name}: aws:waitForAwsResourceProperty has no outputs; not an output")
        inputs = self._aws_inputs(call)
        inputs.update(PropertySelector=selection.selector, DesiredValues=desired)
        return {"action": "aws:waitForAwsResourceProperty", "inputs": inputs}

    def _manual(self, index: int, step: ManualStep) -> list[dict[str, Any]]:
        lines = [_plain(step.title)]
        if step.manual.instructions:
            lines.append(self.text(" ".join(step.manual.instructions.split())))
        lines += [f"- [ ] {self.text(item)}" for item in step.manual.checklist]
        lines.append("Approve when every item is done; reject to stop.")
        return [{"action": "aws:approve", "inputs": self._approval("\n".join(lines))}]

    def _confirm(self, index: int, step: ConfirmStep) -> list[dict[str, Any]]:
        c = step.confirm
        question = self.text(" ".join(c.question.split()))
        made: dict[str, Any] = {"action": "aws:approve", "inputs": self._approval(
            f"{question}\nApprove: yes. Reject: no.")}
        no = self.target(c.if_no, index)
        made["onFailure"], made["isCritical"] = f"step:{no}", False
        if c.if_yes == END:
            made["isEnd"] = True
        elif c.if_yes is not None:
            made["nextStep"] = self.entry(c.if_yes)
        if c.capture:
            self.gap(f"capture {c.capture}: an approval has no output (the answer is not kept)")
        if step.on_failure != "abort":
            self.gap("on_failure: a rejection (no) already takes the step's failure path")
        return [made]

    def _choice(self, index: int, step: ChoiceStep) -> list[dict[str, Any]]:
        c = step.choice
        name = c.capture or f"{ssm_name(step.id)}_answer"
        if name in self.params:
            name = f"{ssm_name(step.id)}_answer"
        labels = "; ".join(f"{o.value}: {o.label}" if o.label else o.value for o in c.options)
        spec: dict[str, Any] = {"type": "String", "allowedValues": [o.value for o in c.options],
                                "description": f"{' '.join(c.question.split())} ({labels})"}
        spec["description"] = self.text(spec["description"])[:1000]
        if c.default is not None:
            spec["default"] = c.default
        self.params[name] = spec
        self.scope[name] = Ref(name, "String", parameter=True)
        if c.capture:
            self.scope[c.capture] = Ref(name, "String", parameter=True)
        default = next((o for o in c.options if o.value == c.default), None)
        return [{"action": "aws:branch", "description": _plain(f"{step.title} (the answer is the parameter {name})"),
                 "inputs": {
                     "Choices": [{"NextStep": self.target(o.goto, index), "Variable": "{{ " + name + " }}",
                                  "StringEquals": o.value} for o in c.options],
                     "Default": self.target(default.goto if default else None, index)}}]

    def _check(self, index: int, step: CheckStep) -> list[dict[str, Any]]:
        c = step.check
        if c.capture:
            self.gap(f"capture {c.capture}: aws:branch has no output (the result is not kept)")
        if_true, if_false = self.target(c.if_true, index), self.target(c.if_false, index)
        question = (f"Does this hold: {' '.join(c.condition.split())}? {self.text(c.message)} "
                    "Approve: it holds. Reject: it does not.")
        name = ssm_name(step.id)
        made = self._decision(name, c.condition, if_true, if_false, step, natural=self.after(index),
                              question=question)
        self.steps.pop()  # _step lists it, with the keys every step has
        if made["action"] == "aws:branch":
            made["description"] = _plain(f"{step.title}: {' '.join(c.condition.split())}")
        return [made]

    def _wait(self, index: int, step: WaitStep) -> list[dict[str, Any]]:
        return [{"action": "aws:sleep", "inputs": {"Duration": iso_duration(step.wait.duration)}}]

    def _notify(self, index: int, step: NotifyStep) -> list[dict[str, Any]]:
        n = step.notify
        payload: dict[str, Any] = {"Via": n.via, "Text": self.text(n.text)}
        if n.via == "slack":
            ref = self.parameter("SlackWebhookParameter", {
                "type": "String", "default": SLACK_PARAMETER,
                "description": "Name of the SecureString parameter that holds the Slack incoming-webhook URL."},
                "String")
            payload.update(Channel=n.channel or "", SlackWebhookParameter="{{ " + ref + " }}")
        else:
            ref = self.parameter("PagerDutyKeyParameter", {
                "type": "String", "default": PAGERDUTY_PARAMETER,
                "description": "Name of the SecureString parameter that holds the PagerDuty Events API v2 "
                               "routing key."}, "String")
            url = self.parameter("PagerDutyUrl", {"type": "String", "default": self.pagerduty_url,
                                                  "description": "PagerDuty Events API v2 endpoint."}, "String")
            payload.update(Action=n.action, Severity=n.severity, DedupKey="{{ " + RUN_ID + " }}",
                           Source=f"hybridops {self.runbook.id}", PagerDutyKeyParameter="{{ " + ref + " }}",
                           PagerDutyUrl="{{ " + url + " }}")
        rt = ssm_runtime
        return [{"action": "aws:executeScript",
                 "inputs": self._script([rt.secret, rt.post_json, rt.notify], "notify(events)", payload)}]

    def _log(self, index: int, step: LogErrorsStep | LogJsonStep) -> list[dict[str, Any]]:
        rt = ssm_runtime
        query = step.log_errors if isinstance(step, LogErrorsStep) else step.log_json
        payload: dict[str, Any] = {"LogGroup": self._value(query.log_group, "log_group"),
                                   "FilterPattern": self._value(query.filter_pattern, "filter_pattern"),
                                   "Since": query.since, "Limit": query.limit, "Capture": query.capture,
                                   "Region": self._value(query.region, "region") if query.region else ""}
        if isinstance(step, LogErrorsStep):
            payload["TypePattern"] = step.log_errors.type_pattern
            functions: list[Callable[..., Any]] = [rt.fetch, rt.log_messages, rt.group_errors, rt.log_errors_step]
            call = "log_errors_step(events)"
        else:
            payload.update(Fields=step.log_json.fields, GroupBy=step.log_json.group_by)
            functions = [rt.fetch, rt.log_messages, rt.group_json, rt.log_json_step]
            call = "log_json_step(events)"
        return [{"action": "aws:executeScript", "inputs": self._script(functions, call, payload),
                 "outputs": self._script_outputs(step, {query.capture: "StringMap"})}]


_NUMBER_TEMPLATE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*((?:\|\s*\w+\s*)+)\}\}$")


def _numbers(body: Any, scope: dict[str, Ref], path: str = "") -> Iterator[tuple[str, str]]:
    """The body's values that are `{{ name | int }}` or `| float` of a value SSM passes as text: the
    script turns them back into numbers (dotted paths of mapping keys)."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield from _numbers(value, scope, f"{path}.{key}" if path else str(key))
    elif isinstance(body, str) and path:
        m = _NUMBER_TEMPLATE.match(body.strip())
        if m:
            filters = [f.strip() for f in m.group(2).split("|") if f.strip()]
            ref = scope.get(m.group(1))
            kind = next((f for f in reversed(filters) if f in ("int", "float")), None)
            if kind and (ref is None or ref.type != "Integer" or kind == "float"):
                yield path, kind


def _plain(text: str) -> str:
    """Text hybridops shows as written (titles, descriptions): SSM would read a `{{` in it as a
    reference, so the braces are kept apart."""
    return text.replace("{{", "{ {").replace("}}", "} }")


def _selectable(query: str) -> bool:
    try:
        to_selector(query)
    except NotExpressible:
        return False
    return True


def _compact(function: Callable[..., Any]) -> str:
    """A function's source without its docstring, comments and annotations: the document carries one
    copy per script step, and documents have a size limit."""
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.Lambda):
            if isinstance(node, ast.FunctionDef):
                node.returns = None
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
            for arg in (*node.args.args, *node.args.kwonlyargs):
                arg.annotation = None
    tree = _Unannotate().visit(tree)
    # one space a level: valid Python, and a quarter of the size of each script line's indentation
    return "\n".join(re.sub(r"^(?:    )+", lambda m: " " * (len(m.group(0)) // 4), line)
                     for line in ast.unparse(tree).splitlines())


class _Unannotate(ast.NodeTransformer):
    """`x: T = v` as `x = v` (a local's annotation is never evaluated; it only takes room)."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.Pass()
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno), node)


def iso_duration(seconds: float) -> str:
    """`PT1H30M`: aws:sleep's Duration (whole seconds, rounded up)."""
    total = max(0, math.ceil(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    out = "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s or not (h or m) else "")
    return out


def export_ssm(runbook: Runbook, *, admin_url: str, pagerduty_url: str) -> Export:
    builder = _Builder(runbook, admin_url, pagerduty_url)
    document = builder.build()
    return Export(document, builder.gaps)


def size_gap(text: str) -> Gap | None:
    """A gap when the document is larger than CreateDocument accepts (each script step carries its own
    copy of the code it runs, so a runbook of many admin calls and polls can outgrow it)."""
    size = len(text.encode("utf-8"))
    if size <= MAX_DOCUMENT_BYTES:
        return None
    return Gap("", f"the document is {size:,} bytes: CreateDocument refuses more than {MAX_DOCUMENT_BYTES:,} "
                   "(MaxDocumentSizeExceeded); split the runbook, or export fewer steps")


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        # one space a level: the documents of the bigger runbooks stay within CreateDocument's 64 KB
        return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return str(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))
