"""What `list` and `show` print, as data: the CLI renders it, tests pin it.

No rich, no typer: lines of plain text and JSON-ready dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hybridops.runbook.model import AwsCall, GoTo, HttpCall, Runbook, Step

SECRET_MASK = "***"


def short_duration(seconds: float) -> str:
    """A duration as runbooks write it: 2m, 1m30s, 1h, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds else "0s"
    total = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


@dataclass(frozen=True)
class RunbookRow:
    """One line of `hybridops list`."""

    id: str
    title: str
    severity: str
    response_time: str
    steps: int

    @classmethod
    def of(cls, runbook: Runbook) -> RunbookRow:
        return cls(runbook.id, runbook.title, runbook.severity, runbook.response_time, len(runbook.step_ids()))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity,
                "response_time": self.response_time, "steps": self.steps}


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ") if isinstance(value, dict) else (",", ":"))


def call_summary(call: AwsCall | HttpCall) -> str:
    """`aws ecs UpdateService cluster=... forceNewDeployment=true` / `POST /admin/routing/force-mcp {...}`."""
    if isinstance(call, AwsCall):
        params = " ".join(f"{k}={_compact(v)}" for k, v in call.params.items())
        region = f" (region {call.region})" if call.region else ""
        return f"aws {call.service} {call.operation}{' ' + params if params else ''}{region}"
    body = f" {json.dumps(call.body, ensure_ascii=False)}" if call.body is not None else ""
    return f"{call.method} {call.path}{body}"


def _captures(names: list[str]) -> str:
    return f"captures {', '.join(names)}"


def step_details(step: Step) -> list[str]:
    """What a step does, one line each: its call, question, checklist, branches, failure handling."""
    lines: list[str] = []
    if step.when:
        lines.append(f"only when: {step.when}")
    if step.aws or step.http:
        call = step.aws or step.http
        assert call is not None
        lines.append(call_summary(call))
        names = list(call.capture) + ([step.http.capture_status] if step.http and step.http.capture_status else [])
        if names:
            lines.append(_captures(names))
    elif step.poll:
        poll = step.poll
        condition = f"until {poll.until}" if poll.until else f"while {poll.while_}"
        lines.append(f"every {short_duration(poll.every)} for up to {short_duration(poll.timeout)}, {condition}:")
        lines.append(f"  {call_summary(poll.call)}")
        if poll.show:
            lines.append(f"  shows: {poll.show}")
    elif step.manual:
        if step.manual.instructions:
            lines.extend(step.manual.instructions.strip().splitlines())
        lines.extend(f"[ ] {item}" for item in step.manual.checklist)
    elif step.choice:
        choice = step.choice
        lines.append(f"? {choice.question}")
        for option in choice.options:
            label = f" {option.label}" if option.label else ""
            target = f" -> {option.goto}" if option.goto else ""
            default = " (default)" if option.value == choice.default else ""
            lines.append(f"  - {option.value}:{label}{target}{default}")
    elif step.confirm:
        confirm = step.confirm
        default = "" if confirm.default is None else f" (default: {'yes' if confirm.default else 'no'})"
        lines.append(f"? {confirm.question} [yes/no]{default}")
        if confirm.if_yes:
            lines.append(f"  yes -> {confirm.if_yes}")
        if confirm.if_no:
            lines.append(f"  no -> {confirm.if_no}")
    elif step.wait:
        reason = f": {step.wait.reason}" if step.wait.reason else ""
        lines.append(f"wait {short_duration(step.wait.duration)}{reason}")
    elif step.notify:
        notify = step.notify
        where = f" {notify.channel}" if notify.channel else ""
        extra = f" {notify.action} {notify.severity}" if notify.via == "pagerduty" else ""
        lines.append(f"notify {notify.via}{where}{extra}: {notify.text}")
    elif step.check:
        check = step.check
        lines.append(f"check {check.condition}" + (f": {check.message}" if check.message else ""))
        if check.if_true:
            lines.append(f"  true -> {check.if_true}")
        if check.if_false:
            lines.append(f"  false -> {check.if_false}")
    elif step.log_errors or step.log_json:
        query = step.log_errors or step.log_json
        assert query is not None
        pattern = f" matching {query.filter_pattern!r}" if query.filter_pattern else ""
        if step.log_errors:
            lines.append(f"errors by type in {query.log_group}{pattern} over the last {short_duration(query.since)}")
        else:
            assert step.log_json is not None
            fields = ", ".join(step.log_json.fields)
            lines.append(f"JSON events in {query.log_group}{pattern} over the last {short_duration(query.since)}, "
                         f"as {fields}")
        lines.append(_captures([query.capture]))
    if step.undo:
        lines.append(f"undo: {call_summary(step.undo.call)}")
    if step.retries:
        lines.append(f"retries: {step.retries.attempts}, backoff {short_duration(step.retries.backoff)}")
    if isinstance(step.on_failure, GoTo):
        lines.append(f"on failure: go to {step.on_failure.goto}")
    elif step.on_failure == "continue":
        lines.append("on failure: continue")
    if step.next:
        lines.append(f"then: {step.next}")
    return lines


def _variable(var: Any) -> dict[str, Any]:
    default = var.default
    if var.secret and default is not None:
        default = SECRET_MASK
    return {"name": var.name, "description": var.description, "default": default,
            "required": var.required, "secret": var.secret}


def runbook_json(runbook: Runbook) -> dict[str, Any]:
    """`show --format json`: the model's dump, variables as {name, description, default, required,
    secret} (secret defaults masked), and each step's `kind` and `mutating`."""
    data = runbook.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["variables"] = [_variable(v) for v in runbook.variables]
    for phase_data, phase in zip(data["phases"], runbook.phases, strict=True):
        for step_data, step in zip(phase_data["steps"], phase.steps, strict=True):
            step_data["kind"] = step.kind
            step_data["mutating"] = step.is_mutating
    return data
