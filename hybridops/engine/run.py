"""The step loop: render, gate, execute, record, branch.

Every action is announced to the audit log (write-ahead) before it is taken and its outcome recorded
after. Time comes from the context's clock: the wall clock (divided by `--time-scale` against a
wall-clock sandbox), or a drill's simulated clock, on which a 10-minute wait passes at once.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jmespath
import jmespath.exceptions

from hybridops.engine.context import Context
from hybridops.engine.retry import DEFAULT_CALL_TIMEOUT_S, CallFailure, backoff_delay, one_line, retries_for
from hybridops.engine.steps import logs as logsteps
from hybridops.engine.steps import notify as notifier
from hybridops.errors import Interrupted, NeedsAnswer, OperatorAborted, StepFailed
from hybridops.runbook.expr import ExpressionError, builtins, evaluate, references, render
from hybridops.runbook.model import END, AwsCall, HttpCall, Phase, Runbook, Step

_STEP_REF = re.compile(r"""steps\[\s*['"]([^'"]+)['"]\s*\]""")  # steps['id'] in a condition
MAX_STEP_VISITS = 500  # go-to loops end here instead of running forever
NOTIFY_TIMEOUT_S = 10.0
TICK = 1.0
# A watch that lasts exactly its budget (monitor 10 minutes, budget 10 minutes) ends a few
# milliseconds past it; that is clock granularity, not an overrun worth flagging.
OVER_BUDGET_TOLERANCE = 1.02  # seconds between live updates of waits and polls (real seconds)


class _Placeholder(str):
    """Stands for a value only a real run would know (dry runs): renders as <name>."""

    __slots__ = ()


@dataclass
class StepOutcome:
    status: str  # ok | failed | skipped | dry_run | declined | aborted | interrupted
    captures: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    goto: str | None = None
    reason: str | None = None


@dataclass
class RunState:
    """Everything needed to continue a run: restored from the audit log by `resume`."""

    position: int = 0
    variables: dict[str, Any] = field(default_factory=dict)
    captures: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    mitigated_after_s: float | None = None
    elapsed_before_s: float = 0.0  # run time already spent before a resume
    visits: int = 0
    # A mutating step whose request was sent but whose outcome was never recorded (a killed run):
    # it is re-run only once the operator confirms (or --yes), never silently.
    confirm_first: str | None = None


@dataclass(frozen=True)
class StepReport:
    step_id: str
    phase: str
    title: str
    status: str
    duration_s: float
    budget_s: float
    over_budget: bool
    mutating: bool
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # completed | failed | interrupted
    steps: list[StepReport]
    duration_s: float
    time_to_mitigation_s: float | None
    time_scale: float
    error: str | None = None


class _Abort(Exception):
    def __init__(self, error: Exception) -> None:
        self.error = error


class Runner:
    def __init__(self, runbook: Runbook, ctx: Context, state: RunState) -> None:
        self.rb = runbook
        self.ctx = ctx
        self.opt = ctx.options
        self.emit = ctx.emit
        self.clock = ctx.clock
        self.state = state
        self.order: list[tuple[Phase, Step]] = list(runbook.steps())
        self.index = {s.id: i for i, (_, s) in enumerate(self.order)}
        self.reports: list[StepReport] = []
        self.scale = max(self.opt.time_scale, 1e-9)
        # Backoff jitter: seeded in a drill, so the same seed gives the same run.
        self.rng = random.Random(self.opt.seed) if self.opt.seed is not None else random.Random()
        self.run_start = self.clock.monotonic()
        if self.opt.dry_run:
            self._seed_placeholders()

    # --- helpers ------------------------------------------------------------------------------------

    def scaled(self, seconds: float) -> float:
        return seconds / self.scale

    def _seed_placeholders(self) -> None:
        for _, step in self.order:
            for name in _capture_names(step):
                if name not in self.state.variables or self.state.variables.get(name) in ("", None):
                    self.state.captures.setdefault(name, _Placeholder(f"<{name}>"))

    def template_context(self) -> dict[str, Any]:
        return {
            **self.state.variables,
            **self.state.captures,
            **builtins(self.clock.now()),
            "steps": self.state.outcomes,
            "run_id": self.ctx.run_id,
            "incident": self.rb.id,
        }

    def render(self, value: Any) -> Any:
        try:
            return render(value, self.template_context())
        except ExpressionError as exc:
            if self.opt.dry_run:
                return f"<{exc}>"
            raise

    def condition(self, text: str, *, dry_default: bool | None) -> bool | None:
        """Evaluate a condition; in a dry run, a condition over unknown values yields `dry_default`."""
        context = self.template_context()
        if self.opt.dry_run and (any(isinstance(context.get(n), _Placeholder)
                                     for n in references(text, condition=True))
                                 or any(self.state.outcomes.get(s, {}).get("status") == "dry_run"
                                        for s in _STEP_REF.findall(text))):
            # A step that only showed its request has no real status: `steps[...]` over it is unknown too.
            return dry_default
        try:
            return bool(evaluate(text, context))
        except ExpressionError:
            if self.opt.dry_run:
                return dry_default
            raise

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> RunResult:
        start = self.run_start
        status, error = "completed", None
        try:
            while self.state.position < len(self.order):
                self.state.visits += 1
                if self.state.visits > MAX_STEP_VISITS:
                    raise StepFailed(f"more than {MAX_STEP_VISITS} steps run: the runbook's go-tos loop")
                phase, step = self.order[self.state.position]
                outcome = self.run_step(phase, step, start)
                target = self.next_target(step, outcome)
                if outcome.status == "failed" and target is None and _policy(step) == "abort":
                    raise StepFailed(f"step {step.id} failed: {outcome.error}")
                if target == END:
                    self.state.position = len(self.order)
                elif target is not None:
                    self.state.position = self.index[target]
                else:
                    self.state.position += 1
        except _Abort as exc:
            exc.error.result = self._finish(start, "failed", str(exc.error))  # type: ignore[attr-defined]
            raise exc.error from None
        except (StepFailed, NeedsAnswer, OperatorAborted) as exc:
            # the run's record goes with the error: a drill still reports on a run that stopped
            exc.result = self._finish(start, "failed", str(exc))  # type: ignore[attr-defined]
            raise
        except (KeyboardInterrupt, Interrupted):
            self._finish(start, "interrupted", "interrupted by the operator (Ctrl-C or SIGTERM)")
            raise Interrupted(
                f"run interrupted; resume with: hybridops resume {self.ctx.run_id}"
            ) from None
        result = self._finish(start, status, error)
        return result

    def _finish(self, start: float, status: str, error: str | None) -> RunResult:
        duration = self.state.elapsed_before_s + (self.clock.monotonic() - start)
        self.emit("run_finished", status=status, duration_s=round(duration, 3),
                  time_to_mitigation_s=_round(self.state.mitigated_after_s), error=error,
                  steps_run=len(self.reports))
        return RunResult(self.ctx.run_id, status, list(self.reports), duration, self.state.mitigated_after_s,
                         self.scale, error)

    def next_target(self, step: Step, outcome: StepOutcome) -> str | None:
        if outcome.goto is not None:
            return outcome.goto
        if outcome.status == "failed":
            policy = step.on_failure
            if policy == "continue":
                return None
            if policy == "abort":
                return None
            return policy.goto  # type: ignore[union-attr]
        return step.next

    # --- one step ---------------------------------------------------------------------------------------

    def run_step(self, phase: Phase, step: Step, run_start: float) -> StepOutcome:
        budget = self.scaled(step.budget)
        t0 = self.clock.monotonic()
        self.emit("step_started", step_id=step.id, phase=phase.id, title=step.title, kind=step.kind,
                  budget_s=round(budget, 3), budget_world_s=step.budget, mutating=step.is_mutating,
                  at_s=self.at(t0))
        self._budget = (step, t0, budget)
        self._warned = False
        try:
            outcome = self.execute(step)
        except (KeyboardInterrupt, Interrupted):
            self._record(phase, step, StepOutcome("interrupted", error="interrupted"), t0, budget)
            raise
        except (NeedsAnswer, OperatorAborted) as exc:
            self._record(phase, step, StepOutcome("aborted", error=str(exc)), t0, budget)
            raise _Abort(exc) from None
        except ExpressionError as exc:
            outcome = StepOutcome("failed", error=str(exc))
        except CallFailure as exc:
            outcome = StepOutcome("failed", error=str(exc))
        self._record(phase, step, outcome, t0, budget)
        if (outcome.status == "ok" and step.is_mitigation and not self.opt.dry_run
                and self.state.mitigated_after_s is None):
            self.state.mitigated_after_s = self.state.elapsed_before_s + (self.clock.monotonic() - run_start)
        return outcome

    def _record(self, phase: Phase, step: Step, outcome: StepOutcome, t0: float, budget: float) -> None:
        duration = self.clock.monotonic() - t0
        over = duration > budget * OVER_BUDGET_TOLERANCE
        self.state.captures.update(outcome.captures)
        self.state.outcomes[step.id] = {"status": outcome.status, "error": outcome.error}
        target = self.next_target(step, outcome)
        if outcome.status == "failed" and target is None and _policy(step) == "abort":
            target = "abort"
        self.emit("step_finished", step_id=step.id, phase=phase.id, title=step.title, status=outcome.status,
                  at_s=self.at(t0 + duration), duration_s=round(duration, 3), budget_s=round(budget, 3),
                  budget_world_s=step.budget,
                  over_budget=over, mitigation=step.is_mitigation and outcome.status == "ok",
                  mutating=step.is_mutating, captures=_plain(outcome.captures),
                  result=_plain(outcome.result), error=outcome.error, reason=outcome.reason,
                  next=target)
        self.reports.append(StepReport(step.id, phase.id, step.title, outcome.status, duration, budget, over,
                                       step.is_mutating, outcome.error))

    def tick(self) -> float:
        """How long a wait or a poll may sleep before it looks at its budget again. On a real clock a
        wait ticks every second (the live countdown) and a poll looks between its checks; on a
        simulated one a sleep jumps at most to the budget's next mark (its 80 % warning, its end)."""
        if not self.clock.simulated:
            return TICK if self.order[self.state.position][1].kind == "wait" else float("inf")
        step, t0, budget = self._budget
        elapsed = self.clock.monotonic() - t0
        marks = [m for m in (0.8 * budget, budget) if m > elapsed]
        return marks[0] - elapsed + 1e-3 if marks else float("inf")

    def at(self, monotonic: float) -> float:
        """Seconds into the run (on its clock, earlier sessions of a resumed run included)."""
        return round(self.state.elapsed_before_s + monotonic - self.run_start, 3)

    def check_budget(self) -> str | None:
        """During long steps: warn at 80 % of the budget; past it, ask (interactive) or flag."""
        step, t0, budget = self._budget
        elapsed = self.clock.monotonic() - t0
        if not self._warned and elapsed >= 0.8 * budget:
            # One warning per budget: "80 % used" or, when the first look comes late, "over budget".
            self._warned = True
            self.emit("budget_warning", audit=False, step_id=step.id, elapsed_s=round(elapsed, 3),
                      budget_s=round(budget, 3), over=elapsed > budget)
        if elapsed > budget and self.opt.interactive and not self.opt.yes:
            choice = self.ctx.prompter.over_budget(step.title, budget, elapsed)
            self.emit("prompt", step_id=step.id, question=f"{step.title} is over budget: extend, skip or abort?",
                      answer=choice, source="operator")
            if choice == "extend":
                self._budget = (step, t0, budget + self.scaled(step.budget))
                self._warned = False
            elif choice == "abort":
                raise OperatorAborted(f"operator aborted at step {step.id} (over budget)")
            return choice
        return None

    def execute(self, step: Step) -> StepOutcome:
        if self.state.confirm_first == step.id:
            self.state.confirm_first = None
            if not self.opt.dry_run and not self._confirm_unknown(step):
                return StepOutcome("declined", reason="outcome unknown after an interruption; not re-sent")
        if step.when is not None and not self.condition(step.when, dry_default=True):
            return StepOutcome("skipped", reason=f"condition not met: {step.when}")
        kind = step.kind
        handler: Callable[[Step], StepOutcome] = getattr(self, f"_do_{kind}")
        return handler(step)

    def _confirm_unknown(self, step: Step) -> bool:
        question = (f"Step {step.id} was interrupted after its request was sent; the outcome is unknown. "
                    "Send it again?")
        if self.opt.yes:
            self.emit("prompt", step_id=step.id, question=question, answer="yes", source="--yes")
            return True
        if not self.opt.interactive:
            raise NeedsAnswer(f"step {step.id} may already have been applied: confirm in a terminal or pass --yes")
        ok = self.ctx.prompter.confirm(question, default=False)
        self.emit("prompt", step_id=step.id, question=question, answer="yes" if ok else "no", source="operator")
        return ok

    # --- gate for mutations -------------------------------------------------------------------------

    def gate(self, step: Step, shown: dict[str, Any]) -> StepOutcome | None:
        """None when the step may send; otherwise the outcome that replaces sending."""
        if self.opt.dry_run:
            self.emit("request", step_id=step.id, dry_run=True, mutating=step.is_mutating, attempt=1, **shown)
            return StepOutcome("dry_run", reason="dry run: nothing sent")
        if not step.is_mutating:
            return None
        if self.opt.read_only:
            return StepOutcome("skipped", reason="--read-only: mutating step not run", result={"would_send": shown})
        if self.opt.yes:
            self.emit("prompt", step_id=step.id, question=f"Run mutating step {step.id}?", answer="yes",
                      source="--yes")
            return None
        if not self.opt.interactive:
            raise NeedsAnswer(f"step {step.id} is mutating and needs confirmation: run it in a terminal, "
                              "or pass --yes")
        self.emit("confirm_request", audit=False, step_id=step.id, **shown)
        ok = self.ctx.prompter.confirm(f"Run {step.title}?", default=False)
        self.emit("prompt", step_id=step.id, question=f"Run mutating step {step.id}?",
                  answer="yes" if ok else "no", source="operator")
        if not ok:
            return StepOutcome("declined", reason="the operator declined")
        return None

    # --- calls ---------------------------------------------------------------------------------------

    def shown_call(self, call: AwsCall | HttpCall, timeout: float | None = None
                   ) -> tuple[dict[str, Any], Callable[[], tuple[bool, Any, Any]]]:
        """The rendered request (for display and audit) and a function that sends it, giving up after
        `timeout` seconds (the step's per-call timeout; None: the runner's default)."""
        if isinstance(call, AwsCall):
            params = self.render(call.params)
            region = self.render(call.region) if call.region else self.ctx.aws_region
            shown = {"target": "aws", "service": call.service, "operation": call.operation, "region": region,
                     "params": params}

            def send_aws() -> tuple[bool, Any, Any]:
                resp = self.ctx.aws.call(call.service, call.operation, params, region=region, timeout=timeout)
                return True, "ok", resp

            return shown, send_aws
        path = self.render(call.path)
        body = self.render(call.body)
        url = self.ctx.http.url(path) if self.ctx.http else path
        shown = {"target": "http", "method": call.method, "url": url, "path": path, "body": body}

        def send_http() -> tuple[bool, Any, Any]:
            status, payload = self.ctx.http.admin(call.method, path, body, timeout=timeout)
            if status in call.expect:
                return True, status, payload
            retryable = status >= 500 or status == 429
            detail = payload.get("error") if isinstance(payload, dict) else None
            raise CallFailure(f"{call.method} {path}: HTTP {status}" + (f": {detail}" if detail else "")
                              + f" (expected {', '.join(map(str, call.expect))})", retryable=retryable,
                              status=status)

        return shown, send_http

    def send(self, step: Step, shown: dict[str, Any], send: Callable[[], tuple[bool, Any, Any]],
             *, retries: bool = True) -> tuple[Any, Any]:
        """Send with the step's retry policy; every attempt is announced, then its outcome recorded."""
        policy = retries_for(step)
        attempt = 0
        while True:
            attempt += 1
            self.emit("request", step_id=step.id, mutating=step.is_mutating, attempt=attempt, **shown)
            t0 = self.clock.monotonic()
            try:
                try:
                    _, status, payload = send()
                finally:
                    self.clock.sync()  # a remote sandbox's slow answer took its time there
                self._within_timeout(step, shown, self.clock.monotonic() - t0)
            except CallFailure as exc:
                self.emit("response", step_id=step.id, ok=False, status=exc.status, error=str(exc),
                          duration_s=round(self.clock.monotonic() - t0, 3), unknown_outcome=exc.unknown_outcome)
                if not (retries and exc.retryable and attempt <= policy.attempts):
                    raise
                if exc.unknown_outcome and step.is_mutating and not self.confirm_resend(step, exc):
                    raise
                self.clock.sleep(self.scaled(backoff_delay(policy, attempt, self.rng)))
                continue
            self.emit("response", step_id=step.id, ok=True, status=status, summary=_summary(payload),
                      duration_s=round(self.clock.monotonic() - t0, 3))
            return status, payload

    def _within_timeout(self, step: Step, shown: dict[str, Any], took: float) -> None:
        """On a simulated clock a slow answer takes no real time, so no client timeout fires: an answer
        that took longer than the call's timeout is treated as the timeout it would have been."""
        if not self.clock.simulated:
            return
        limit = step.timeout or (NOTIFY_TIMEOUT_S if step.kind == "notify" else DEFAULT_CALL_TIMEOUT_S)
        if took > limit:
            what = (f"aws {shown.get('service')} {shown.get('operation')}" if shown.get("target") == "aws"
                    else f"{shown.get('method', 'POST')} {shown.get('path') or shown.get('target')}")
            raise CallFailure(f"{what}: timed out after {limit:g}s (no answer within the call's timeout); "
                              "the request may have been applied", retryable=True, unknown_outcome=True)

    def confirm_resend(self, step: Step, exc: CallFailure) -> bool:
        question = f"The outcome of mutating step {step.id} is unknown ({exc}). Send it again?"
        if self.opt.yes:
            self.emit("prompt", step_id=step.id, question=question, answer="yes", source="--yes")
            return True
        if not self.opt.interactive:
            return False
        ok = self.ctx.prompter.confirm(question, default=False)
        self.emit("prompt", step_id=step.id, question=question, answer="yes" if ok else "no", source="operator")
        return ok

    def captures(self, call: AwsCall | HttpCall, status: Any, payload: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, expr in call.capture.items():
            try:
                out[name] = jmespath.search(expr, payload)
            except jmespath.exceptions.JMESPathError as exc:
                # an answer of another shape than the runbook expects (an error page, a null field)
                raise CallFailure(f"capture {name} ({expr}): {one_line(exc)}; the answer was: "
                                  f"{one_line(Exception(_summary(payload, 200)))}") from None
        if isinstance(call, HttpCall) and call.capture_status:
            out[call.capture_status] = status
        return out

    def _do_call(self, step: Step, call: AwsCall | HttpCall) -> StepOutcome:
        shown, send = self.shown_call(call, step.timeout)
        gated = self.gate(step, shown)
        if gated is not None:
            return gated
        status, payload = self.send(step, shown, send)
        return StepOutcome("ok", captures=self.captures(call, status, payload), result=_summary(payload))

    def _do_aws(self, step: Step) -> StepOutcome:
        return self._do_call(step, step.aws)  # type: ignore[arg-type]

    def _do_http(self, step: Step) -> StepOutcome:
        return self._do_call(step, step.http)  # type: ignore[arg-type]

    def _do_poll(self, step: Step) -> StepOutcome:
        poll = step.poll
        assert poll is not None
        call = poll.call
        shown, send = self.shown_call(call, step.timeout)
        gated = self.gate(step, shown)
        if gated is not None:
            return gated
        deadline = self.clock.monotonic() + self.scaled(poll.timeout)
        every = self.scaled(poll.every)
        cond = poll.until if poll.until is not None else poll.while_
        watching = poll.while_ is not None
        captured: dict[str, Any] = {}
        attempts = 0
        while True:
            attempts += 1
            shown, send = self.shown_call(call, step.timeout)
            try:
                # a throttled or failed read is no observation: it is retried like any read first
                status, payload = self.send(step, shown, send, retries=not step.is_mutating)
                captured = self.captures(call, status, payload)
                self.state.captures.update(captured)
                holds = bool(evaluate(cond, self.template_context()))  # type: ignore[arg-type]
                latest = self.render(poll.show) if poll.show else _summary(payload)
            except CallFailure as exc:
                holds, latest = False, str(exc)
                if watching and attempts == 1:
                    pass
            self.emit("poll_tick", audit=False, step_id=step.id, attempt=attempts, holds=holds,
                      latest=latest, remaining_s=round(max(0.0, deadline - self.clock.monotonic()), 1))
            if holds and not watching:
                return StepOutcome("ok", captures=captured, result={"attempts": attempts, "latest": latest})
            if watching and not holds:
                return StepOutcome("failed", captures=captured,
                                   error=f"stopped holding: {cond} (latest: {latest})")
            now = self.clock.monotonic()
            if now >= deadline:
                if watching:
                    return StepOutcome("ok", captures=captured, result={"attempts": attempts, "latest": latest})
                return StepOutcome("failed", captures=captured,
                                   error=f"not met within {poll.timeout:g}s: {cond} (latest: {latest})")
            if self.check_budget() == "skip":
                return StepOutcome("skipped", captures=captured, reason="skipped by the operator (over budget)")
            self.clock.sleep(min(every, max(0.0, deadline - now), self.tick()))

    # --- people -------------------------------------------------------------------------------------

    def answer_for(self, step: Step) -> str | None:
        return self.opt.answers.get(step.id)

    def _prompted(self, step: Step, question: str, answer: str, source: str) -> None:
        self.emit("prompt", step_id=step.id, question=question, answer=answer, source=source)

    def _do_confirm(self, step: Step) -> StepOutcome:
        spec = step.confirm
        assert spec is not None
        question = self.render(spec.question)
        given = self.answer_for(step)
        if given is not None:
            if given.lower() not in ("yes", "no", "y", "n", "true", "false"):
                raise NeedsAnswer(f"--answer {step.id}={given}: answer yes or no")
            value, source = given.lower() in ("yes", "y", "true"), "--answer"
        elif self.opt.dry_run or not self.opt.interactive or self.opt.yes:
            value = spec.default if spec.default is not None else True
            source = "--yes" if self.opt.yes else ("default" if spec.default is not None else "non-interactive")
        else:
            value, source = self.ctx.prompter.confirm(question, default=spec.default), "operator"
        self._prompted(step, question, "yes" if value else "no", source)
        captures = {spec.capture: value} if spec.capture else {}
        return StepOutcome("ok", captures=captures, goto=spec.if_yes if value else spec.if_no,
                           result={"answer": "yes" if value else "no"})

    def _do_choice(self, step: Step) -> StepOutcome:
        spec = step.choice
        assert spec is not None
        question = self.render(spec.question)
        values = [o.value for o in spec.options]
        given = self.answer_for(step)
        if given is not None:
            if given not in values:
                raise NeedsAnswer(f"--answer {step.id}={given}: choose one of {', '.join(values)}")
            value, source = given, "--answer"
        elif self.opt.interactive and not self.opt.yes and not self.opt.dry_run:
            value, source = self.ctx.prompter.choose(question, [(o.value, o.label or o.value) for o in spec.options],
                                                     default=spec.default), "operator"
        elif spec.default is not None:
            value, source = spec.default, "default"
        elif self.opt.dry_run:
            value, source = values[0], "default"
        else:
            raise NeedsAnswer(f"step {step.id} asks {question!r} and no terminal can answer: pass "
                              f"--answer {step.id}=<{'|'.join(values)}>")
        self._prompted(step, question, value, source)
        option = next(o for o in spec.options if o.value == value)
        captures = {spec.capture: value} if spec.capture else {}
        return StepOutcome("ok", captures=captures, goto=option.goto, result={"answer": value})

    def _do_manual(self, step: Step) -> StepOutcome:
        spec = step.manual
        assert spec is not None
        instructions = self.render(spec.instructions)
        items = [self.render(i) for i in spec.checklist]
        if self.opt.interactive and not self.opt.yes and not self.opt.dry_run:
            ticked = self.ctx.prompter.checklist(instructions, items)
            source = "operator"
        else:
            ticked = dict.fromkeys(items, True)
            source = "dry-run" if self.opt.dry_run else ("--yes" if self.opt.yes else "non-interactive")
        for item in items:
            self._prompted(step, item, "done" if ticked.get(item) else "not done", source)
        if not items:
            self._prompted(step, instructions, "acknowledged", source)
        missing = [i for i in items if not ticked.get(i)]
        return StepOutcome("ok", result={"done": [i for i in items if ticked.get(i)], "not_done": missing},
                           reason=f"{len(missing)} checklist item(s) not done" if missing else None)

    def _do_wait(self, step: Step) -> StepOutcome:
        spec = step.wait
        assert spec is not None
        seconds = self.scaled(spec.duration)
        if self.opt.dry_run:
            return StepOutcome("dry_run", reason=f"would wait {spec.duration:g}s", result={"wait_s": seconds})
        end = self.clock.monotonic() + seconds
        while True:
            remaining = end - self.clock.monotonic()
            if remaining <= 0:
                return StepOutcome("ok", result={"waited_s": round(seconds, 3)})
            self.emit("wait_tick", audit=False, step_id=step.id, remaining_s=round(remaining, 1))
            if self.check_budget() == "skip":
                return StepOutcome("skipped", reason="skipped by the operator (over budget)")
            if self.clock.sleep(min(self.tick(), remaining)):
                self.emit("prompt", step_id=step.id, question="wait", answer="cut short", source="operator")
                return StepOutcome("ok", reason="cut short by the operator",
                                   result={"waited_s": round(seconds - max(0.0, remaining), 3)})

    # --- evaluation ----------------------------------------------------------------------------------

    def _do_check(self, step: Step) -> StepOutcome:
        spec = step.check
        assert spec is not None
        value = self.condition(spec.condition, dry_default=None)
        message = self.render(spec.message) if spec.message else spec.condition
        if value is None:  # dry run, unknown values: follow no branch
            return StepOutcome("dry_run", result={"condition": spec.condition, "message": message},
                               reason="condition not known in a dry run")
        captures = {spec.capture: value} if spec.capture else {}
        return StepOutcome("ok", captures=captures, goto=spec.if_true if value else spec.if_false,
                           result={"condition": spec.condition, "value": value, "message": message})

    def _log_messages(self, step: Step, spec) -> list[str] | StepOutcome:
        params = self.render(logsteps.filter_params(spec, int((self.clock.now() - spec.since) * 1000)))
        region = self.render(spec.region) if spec.region else self.ctx.aws_region
        shown = {"target": "aws", "service": "logs", "operation": "FilterLogEvents", "region": region,
                 "params": params}
        gated = self.gate(step, shown)
        if gated is not None:
            return gated

        def page(p: dict[str, Any]) -> dict[str, Any]:
            holder: dict[str, Any] = {}

            def once() -> tuple[bool, Any, Any]:
                holder["r"] = self.ctx.aws.call("logs", "FilterLogEvents", p, region=region)
                return True, "ok", {"events": len(holder["r"].get("events", []))}

            self.send(step, {**shown, "params": p}, once)
            return holder["r"]

        return logsteps.fetch(page, params, spec.limit)

    def _do_log_errors(self, step: Step) -> StepOutcome:
        spec = step.log_errors
        messages = self._log_messages(step, spec)
        if isinstance(messages, StepOutcome):
            return messages
        table = logsteps.group_errors(messages, spec.type_pattern)
        return StepOutcome("ok", captures={spec.capture: table}, result={"table": "errors_by_type", **table})

    def _do_log_json(self, step: Step) -> StepOutcome:
        spec = step.log_json
        messages = self._log_messages(step, spec)
        if isinstance(messages, StepOutcome):
            return messages
        table = logsteps.group_json(messages, spec.fields, spec.group_by)
        return StepOutcome("ok", captures={spec.capture: table}, result={"table": "json_groups", **table})

    def _do_notify(self, step: Step) -> StepOutcome:
        spec = step.notify
        assert spec is not None
        text = self.render(spec.text)
        try:
            url, body, shown = notifier.build(spec.via, text=text, action=spec.action, severity=spec.severity,
                                              channel=spec.channel, dedup_key=self.ctx.run_id,
                                              source=f"hybridops {self.rb.id}", targets=self.ctx.notify_targets)
        except CallFailure as exc:
            if self.opt.dry_run:
                self.emit("request", step_id=step.id, dry_run=True, target=spec.via, body={"text": text},
                          note=str(exc), mutating=False, attempt=1)
                return StepOutcome("dry_run", reason=str(exc))
            # A missing notifier is reported, never a reason to stop the incident.
            return StepOutcome("failed", error=str(exc), goto=None, reason="notification not sent")
        if spec.via == "slack":  # a webhook URL is its own credential
            self.emit.add_secret(url)
        shown = {"target": spec.via, **shown}
        if self.opt.dry_run:
            self.emit("request", step_id=step.id, dry_run=True, mutating=False, attempt=1, **shown)
            return StepOutcome("dry_run", reason="dry run: nothing sent")
        if self.opt.read_only:
            # A read-only run changes nothing and tells no one: its messages would describe actions
            # that were skipped.
            return StepOutcome("skipped", reason="--read-only: notification not sent", result={"would_send": shown})
        try:
            status, _ = self.send(step, shown, lambda: (True, *notifier.send(self.ctx.http, spec.via, url, body,
                                                                          NOTIFY_TIMEOUT_S)))
        except CallFailure as exc:
            return StepOutcome("failed", error=str(exc), reason="notification not sent")
        return StepOutcome("ok", result={"status": status})


def _policy(step: Step) -> str:
    if step.kind == "notify":
        return "continue"
    return step.on_failure if isinstance(step.on_failure, str) else "goto"


def _capture_names(step: Step) -> list[str]:
    names: list[str] = []
    call = step.call
    if call is not None:
        names += list(call.capture)
        if isinstance(call, HttpCall) and call.capture_status:
            names.append(call.capture_status)
    body = step.body
    cap = getattr(body, "capture", None)
    if isinstance(cap, str):
        names.append(cap)
    return names


def _summary(payload: Any, limit: int = 500) -> Any:
    """A truncated view of a response for the log and the screen."""
    import json

    try:
        text = json.dumps(payload, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        text = str(payload)
    if len(text) <= limit:
        return payload
    return text[:limit] + "...(truncated)"


def _plain(value: Any) -> Any:
    if isinstance(value, _Placeholder):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
