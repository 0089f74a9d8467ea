"""`check` steps: a condition over captured values, whose truth may pick the next step."""

from __future__ import annotations

from hybridops.events import Checked, Result, StepStatus
from hybridops.kinds.base import Display, Kind, Line, Outcome, StepRun
from hybridops.runbook.model import CheckStep


class CheckKind(Kind):
    name = "check"

    def execute(self, run: StepRun, step: CheckStep) -> Outcome:
        spec = step.check
        value = run.condition(spec.condition, dry_default=None)
        message = run.render(spec.message) if spec.message else spec.condition
        if value is None:  # dry run, unknown values: follow no branch
            return Outcome(StepStatus.DRY_RUN, result=Checked(condition=spec.condition, message=message),
                           reason="condition not known in a dry run")
        return Outcome(StepStatus.OK, captures={spec.capture: value} if spec.capture else {},
                       goto=spec.if_true if value else spec.if_false,
                       result=Checked(condition=spec.condition, value=value, message=message))

    def describe(self, step: CheckStep) -> list[str]:
        check = step.check
        lines = [f"check {check.condition}" + (f": {check.message}" if check.message else "")]
        if check.if_true:
            lines.append(f"  true -> {check.if_true}")
        if check.if_false:
            lines.append(f"  false -> {check.if_false}")
        return lines

    def display(self, result: Result) -> Display | None:
        if isinstance(result, Checked) and result.value is not None:
            return Line(f"check {result.condition} → {result.value}: {result.message}")
        return None


KINDS = (CheckKind(),)
