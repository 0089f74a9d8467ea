"""`aws` and `http` steps: one AWS API call, or one request to the routing admin API."""

from __future__ import annotations

import json
from typing import Any

from hybridops.events import Answer, StepStatus
from hybridops.kinds.base import Kind, Outcome, StepRun, captures_line, summarize
from hybridops.runbook.model import AwsCall, AwsStep, HttpCall, HttpStep


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ") if isinstance(value, dict) else (",", ":"))


def call_summary(call: AwsCall | HttpCall) -> str:
    """`aws ecs UpdateService cluster=... forceNewDeployment=true` / `POST /admin/routing/force-mcp {...}`,
    as the runbook writes it (templates unrendered)."""
    if isinstance(call, AwsCall):
        params = " ".join(f"{k}={_compact(v)}" for k, v in call.params.items())
        region = f" (region {call.region})" if call.region else ""
        return f"aws {call.service} {call.operation}{' ' + params if params else ''}{region}"
    body = f" {json.dumps(call.body, ensure_ascii=False)}" if call.body is not None else ""
    return f"{call.method} {call.path}{body}"


class _CallKind(Kind):
    def execute(self, run: StepRun, step: AwsStep | HttpStep) -> Outcome:
        call, send = run.prepare_call(step.call, step.timeout)
        gated = run.gate(step, call)
        if gated is not None:
            return gated
        status, payload = run.send(step, call, send)
        return Outcome(StepStatus.OK, captures=run.call_captures(step.call, status, payload),
                       result=Answer(summary=summarize(payload)))

    def describe(self, step: AwsStep | HttpStep) -> list[str]:
        lines = [call_summary(step.call)]
        names = list(step.captures())
        if names:
            lines.append(captures_line(names))
        return lines


class AwsKind(_CallKind):
    name = "aws"


class HttpKind(_CallKind):
    name = "http"


KINDS = (AwsKind(), HttpKind())
