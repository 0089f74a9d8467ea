"""What `list` and `show` print, as data: the CLI renders it, tests pin it.

No rich, no typer: lines of plain text and JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridops.kinds.base import short_duration
from hybridops.runbook.model import AnyStep, GoTo, Runbook
from hybridops.scrub import MASK as SECRET_MASK

__all__ = ["SECRET_MASK", "RunbookRow", "runbook_json", "short_duration", "step_details"]


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


def step_details(step: AnyStep) -> list[str]:
    """What a step does, one line each: its condition, what its kind does (the kind's own words), its
    undo, retries, failure handling and where it goes next."""
    from hybridops.kinds import kind
    from hybridops.kinds.calls import call_summary

    lines: list[str] = []
    if step.when:
        lines.append(f"only when: {step.when}")
    lines += kind(step.kind).describe(step)
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
