"""`log_errors` and `log_json` steps: CloudWatch Logs FilterLogEvents, read page by page, then errors
counted by type (`| sort | uniq -c | sort -rn`) or JSON messages counted by their fields."""

from __future__ import annotations

from typing import Any

from hybridops.engine.steps import logs as logsteps
from hybridops.events import Call, ErrorCount, ErrorTable, JsonGroups, Result, StepStatus
from hybridops.kinds.base import Display, Kind, Outcome, StepRun, Table, captures_line, short_duration
from hybridops.runbook.model import LogErrorsStep, LogJsonStep


def _messages(run: StepRun, step: LogErrorsStep | LogJsonStep) -> list[str] | Outcome:
    spec = step.body
    params = run.render(logsteps.filter_params(spec, int((run.ctx.clock.now() - spec.since) * 1000)))
    region = run.render(spec.region) if spec.region else run.ctx.aws_region
    call = Call(target="aws", service="logs", operation="FilterLogEvents", region=region, params=params)
    gated = run.gate(step, call)
    if gated is not None:
        return gated

    def page(p: dict[str, Any]) -> dict[str, Any]:
        holder: dict[str, Any] = {}

        def once() -> tuple[Any, Any]:
            holder["r"] = run.ctx.aws.call("logs", "FilterLogEvents", p, region=region)
            return "ok", {"events": len(holder["r"].get("events", []))}

        run.send(step, Call(target="aws", service="logs", operation="FilterLogEvents", region=region, params=p),
                 once)
        return holder["r"]

    return logsteps.fetch(page, params, spec.limit)


def _where(step: LogErrorsStep | LogJsonStep) -> str:
    query = step.body
    pattern = f" matching {query.filter_pattern!r}" if query.filter_pattern else ""
    return f"in {query.log_group}{pattern} over the last {short_duration(query.since)}"


class LogErrorsKind(Kind):
    name = "log_errors"

    def execute(self, run: StepRun, step: LogErrorsStep) -> Outcome:
        messages = _messages(run, step)
        if isinstance(messages, Outcome):
            return messages
        table = logsteps.group_errors(messages, step.log_errors.type_pattern)
        return Outcome(StepStatus.OK, captures={step.log_errors.capture: table}, result=ErrorTable(
            total=table["total"], top=table["top"], top_share=table["top_share"],
            by_type=tuple(ErrorCount(type=r["type"], count=r["count"]) for r in table["by_type"])))

    def describe(self, step: LogErrorsStep) -> list[str]:
        return [f"errors by type {_where(step)}", captures_line([step.log_errors.capture])]

    def display(self, result: Result) -> Display | None:
        if not isinstance(result, ErrorTable):
            return super().display(result)
        return Table(f"errors by type ({result.total} in all)", ("count", "error type"),
                     tuple((r.count, r.type) for r in result.by_type))


class LogJsonKind(Kind):
    name = "log_json"

    def execute(self, run: StepRun, step: LogJsonStep) -> Outcome:
        messages = _messages(run, step)
        if isinstance(messages, Outcome):
            return messages
        spec = step.log_json
        table = logsteps.group_json(messages, spec.fields, spec.group_by)
        return Outcome(StepStatus.OK, captures={spec.capture: table}, result=JsonGroups(
            total=table["total"], skipped=table["skipped"], rows=tuple(table["rows"])))

    def describe(self, step: LogJsonStep) -> list[str]:
        return [f"JSON events {_where(step)}, as {', '.join(step.log_json.fields)}",
                captures_line([step.log_json.capture])]

    def display(self, result: Result) -> Display | None:
        if not isinstance(result, JsonGroups):
            return super().display(result)
        cols = [k for k in (result.rows[0] if result.rows else {}) if k not in ("count", "share")]
        return Table(f"{result.total} records", ("count", "share", *cols),
                     tuple((r["count"], f"{r['share']:.0%}", *[r[c] for c in cols]) for r in result.rows))


KINDS = (LogErrorsKind(), LogJsonKind())
