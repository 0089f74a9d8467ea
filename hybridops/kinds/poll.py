"""`poll` steps: a call repeated `every` interval until a condition holds, or while it holds."""

from __future__ import annotations

from typing import Any

from hybridops.engine.retry import CallFailure
from hybridops.events import Polled, PollTick, StepStatus
from hybridops.kinds.base import Kind, Outcome, StepRun, short_duration, summarize
from hybridops.kinds.calls import call_summary
from hybridops.runbook.expr import evaluate
from hybridops.runbook.model import POLL_FLOOR, PollStep

_SLACK = 1e-6  # seconds: a clock's rounding, below which a gap is no reason to sleep again (or forever)


class PollKind(Kind):
    name = "poll"

    def execute(self, run: StepRun, step: PollStep) -> Outcome:
        poll, clock = step.poll, run.ctx.clock
        call, send = run.prepare_call(poll.call, step.timeout)
        gated = run.gate(step, call)
        if gated is not None:
            return gated
        deadline = clock.monotonic() + run.scaled(poll.timeout)
        # the floor holds in the runbook's (world) time: only a drill's --time-scale brings it below 1 s
        every, floor = run.scaled(max(poll.every, POLL_FLOOR)), run.scaled(POLL_FLOOR)
        cond = poll.until if poll.until is not None else poll.while_
        assert cond is not None  # the model holds exactly one of them
        watching = poll.while_ is not None
        captured: dict[str, Any] = {}
        attempts = 0
        last_call: float | None = None
        while True:
            # Enter at the terminal wakes a sleep ("check again now"): still never two calls within the floor
            while last_call is not None and (gap := floor - (clock.monotonic() - last_call)) > _SLACK:
                clock.sleep(gap)
            last_call = clock.monotonic()
            attempts += 1
            call, send = run.prepare_call(poll.call, step.timeout)
            try:
                # a throttled or failed read is no observation: it is retried like any read first
                status, payload = run.send(step, call, send, retries=not step.is_mutating)
                captured = run.call_captures(poll.call, status, payload)
                run.captured.update(captured)
                holds = bool(evaluate(cond, run.template_context()))
                latest = run.render(poll.show) if poll.show else summarize(payload)
            except CallFailure as exc:
                holds, latest = False, str(exc)
            run.emit(PollTick(step_id=step.id, attempt=attempts, holds=holds, latest=latest,
                              remaining_s=round(max(0.0, deadline - clock.monotonic()), 1)))
            if holds and not watching:
                return Outcome(StepStatus.OK, captures=captured, result=Polled(attempts=attempts, latest=latest))
            if watching and not holds:
                return Outcome(StepStatus.FAILED, captures=captured,
                               error=f"stopped holding: {cond} (latest: {latest})")
            now = clock.monotonic()
            if now >= deadline:
                if watching:
                    return Outcome(StepStatus.OK, captures=captured, result=Polled(attempts=attempts, latest=latest))
                error = f"not met within {short_duration(poll.timeout)}: {cond} (latest: {latest})"
                steer = run.timed_out(step, error, wait_s=poll.timeout)
                if steer is None or steer[0] == "fail":
                    return Outcome(StepStatus.FAILED, captures=captured, error=error)
                if steer[0] == "skip":
                    return Outcome(StepStatus.SKIPPED, captures=captured,
                                   reason=f"skipped by the operator (timed out: {error})")
                deadline = clock.monotonic() + steer[1]  # "wait": keep polling, every interval as before
            if run.check_budget() == "skip":
                return Outcome(StepStatus.SKIPPED, captures=captured, reason="skipped by the operator (over budget)")
            clock.sleep(min(every, max(0.0, deadline - now), run.tick()))

    def describe(self, step: PollStep) -> list[str]:
        poll = step.poll
        condition = f"until {poll.until}" if poll.until else f"while {poll.while_}"
        lines = [f"every {short_duration(poll.every)} for up to {short_duration(poll.timeout)}, {condition}:",
                 f"  {call_summary(poll.call)}"]
        if poll.show:
            lines.append(f"  shows: {poll.show}")
        return lines


KINDS = (PollKind(),)
