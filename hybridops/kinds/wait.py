"""`wait` steps: a fixed wait ("monitor for 10 minutes"), which the operator can cut short."""

from __future__ import annotations

from hybridops.events import Prompt, StepStatus, Waited, WaitTick, WouldWait
from hybridops.kinds.base import Kind, Outcome, StepRun, short_duration
from hybridops.runbook.model import WaitStep


class WaitKind(Kind):
    name = "wait"

    def execute(self, run: StepRun, step: WaitStep) -> Outcome:
        spec, clock = step.wait, run.ctx.clock
        seconds = run.scaled(spec.duration)
        if run.opt.dry_run:
            return Outcome(StepStatus.DRY_RUN, reason=f"would wait {spec.duration:g}s",
                           result=WouldWait(wait_s=seconds))
        end = clock.monotonic() + seconds
        while True:
            remaining = end - clock.monotonic()
            if remaining <= 0:
                return Outcome(StepStatus.OK, result=Waited(waited_s=round(seconds, 3)))
            run.emit(WaitTick(step_id=step.id, remaining_s=round(remaining, 1)))
            if run.check_budget() == "skip":
                return Outcome(StepStatus.SKIPPED, reason="skipped by the operator (over budget)")
            if clock.sleep(min(run.tick(), remaining)):
                run.emit(Prompt(step_id=step.id, question="wait", answer="cut short", source="operator"))
                return Outcome(StepStatus.OK, reason="cut short by the operator",
                               result=Waited(waited_s=round(seconds - max(0.0, remaining), 3)))

    def describe(self, step: WaitStep) -> list[str]:
        reason = f": {step.wait.reason}" if step.wait.reason else ""
        return [f"wait {short_duration(step.wait.duration)}{reason}"]


KINDS = (WaitKind(),)
