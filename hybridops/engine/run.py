"""The step loop: render, gate, execute, record, branch.

Every action is announced to the audit log (write-ahead) before it is taken and its outcome recorded
after. Time comes from the context's clock: the wall clock (divided by `--time-scale` against a
wall-clock sandbox), or a drill's simulated clock, on which a 10-minute wait passes at once.

The loop knows no step kind by name: each kind's module in `hybridops.kinds` executes its steps,
through the services this Runner offers (`hybridops.kinds.base.StepRun`).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
import jmespath.exceptions

from hybridops.durations import format_duration
from hybridops.engine.context import Context
from hybridops.engine.retry import (
    DEFAULT_CALL_TIMEOUT_S,
    CallFailure,
    one_line,
    parse_retry_after,
    retries_for,
    retry_delay,
)
from hybridops.engine.steps.http import HttpAnswer, display_url
from hybridops.errors import Interrupted, NeedsAnswer, OperatorAborted, RunStopped, StepFailed
from hybridops.events import (
    BudgetWarning,
    Call,
    ConfirmRequest,
    Event,
    Prompt,
    Request,
    Response,
    RunFinished,
    RunStatus,
    StepFinished,
    StepStarted,
    StepStatus,
    WouldSend,
)
from hybridops.kinds import kind as kind_of
from hybridops.kinds.base import Outcome, Send, summarize
from hybridops.kinds.notify import TIMEOUT_S as NOTIFY_TIMEOUT_S
from hybridops.runbook.expr import ExpressionError, builtins, evaluate, references, render
from hybridops.runbook.model import END, AnyStep, AwsCall, GoTo, HttpCall, Phase, Runbook
from hybridops.runbook.mutation import aws_changes_state, http_changes_state
from hybridops.runbook.openapi_check import promises_json, rendered_request_problem

_STEP_REF = re.compile(r"""steps\[\s*['"]([^'"]+)['"]\s*\]""")  # steps['id'] in a condition
MAX_STEP_VISITS = 500  # steps run again (through go-tos) beyond one pass: a go-to loop ends there
TICK = 1.0  # seconds between live updates of waits on a real clock
# A watch that lasts exactly its budget (monitor 10 minutes, budget 10 minutes) ends a few
# milliseconds past it; that is clock granularity, not an overrun worth flagging.
OVER_BUDGET_TOLERANCE = 1.02


class _Placeholder(str):
    """Stands for a value only a real run would know (dry runs): renders as <name>."""

    __slots__ = ()


@dataclass
class RunState:
    """Everything needed to continue a run: restored from the audit log by `resume`."""

    position: int = 0
    variables: dict[str, Any] = field(default_factory=dict)
    captures: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # steps['id'] in templates
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
    status: StepStatus
    duration_s: float
    budget_s: float
    over_budget: bool
    mutating: bool
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: RunStatus
    steps: list[StepReport]
    duration_s: float
    time_to_mitigation_s: float | None
    time_scale: float
    error: str | None = None
    unresolved_at: str | None = None  # the step whose `outcome: unresolved` decided the verdict
    failed_steps: tuple[str, ...] = ()  # of the whole run (a resumed one's earlier sessions too)

    def verdict(self) -> str:
        """What happened, in one line: `completed with 2 failed steps (notify-ops-critical, page-pagerduty)`."""
        failed = self.failed_steps
        with_failures = (f"{len(failed)} failed step{'s' if len(failed) != 1 else ''} ({', '.join(failed)})"
                         if failed else "")
        if self.status == RunStatus.UNRESOLVED:
            return (f"ended unresolved: the runbook took its roll-back or escalation path at {self.unresolved_at}"
                    + (f"; {with_failures}" if failed else ""))
        if self.status == RunStatus.COMPLETED_WITH_FAILURES:
            return f"completed with {with_failures}"
        if self.status in (RunStatus.FAILED, RunStatus.ABORTED):
            return f"{self.status}: {self.error}"
        return str(self.status)


class _Abort(Exception):
    def __init__(self, error: RunStopped) -> None:
        self.error = error


class Runner:
    def __init__(self, runbook: Runbook, ctx: Context, state: RunState) -> None:
        self.rb = runbook
        self.incident = runbook.id
        self.ctx = ctx
        self.opt = ctx.options
        self.clock = ctx.clock
        self.state = state
        self.captured = state.captures
        self.order: list[tuple[Phase, AnyStep]] = list(runbook.steps())
        self.index = {s.id: i for i, (_, s) in enumerate(self.order)}
        self.reports: list[StepReport] = []
        self.scale = max(self.opt.time_scale, 1e-9)
        # Backoff jitter: seeded in a drill, so the same seed gives the same run.
        self.rng = random.Random(self.opt.seed) if self.opt.seed is not None else random.Random()
        self.run_start = self.clock.monotonic()
        self._budget: tuple[AnyStep, float, float] | None = None
        self._warned = False
        if self.opt.dry_run:
            self._seed_placeholders()

    # --- services for the kinds (hybridops.kinds.base.StepRun) ----------------------------------------

    def emit(self, event: Event) -> None:
        self.ctx.emit(event)

    def scaled(self, seconds: float) -> float:
        return seconds / self.scale

    def _seed_placeholders(self) -> None:
        for _, step in self.order:
            for name in step.captures():
                if name not in self.state.variables or self.state.variables.get(name) in ("", None):
                    self.state.captures.setdefault(name, _Placeholder(f"<{name}>"))

    def template_context(self) -> Mapping[str, Any]:
        # Read in place, first map first: a copy of every capture per template made a 10,000-step
        # run quadratic.
        fixed = {"steps": self.state.outcomes, "run_id": self.ctx.run_id, "incident": self.rb.id}
        return ChainMap(fixed, builtins(self.clock.now()), self.state.captures, self.state.variables)

    def render(self, value: Any) -> Any:
        """`value` with its templates rendered. A template that reads a secret variable renders to a
        secret: whatever filters, slices or concatenations made it (`|b64encode`, `|upper`, `[::-1]`,
        `~`), the rendered value is masked wherever it would be shown, and an error rendering it does
        not quote the values it failed on."""
        secret = self._secret_templates(value)
        try:
            rendered = render(value, self.template_context())
        except ExpressionError as exc:
            if secret:
                exc = type(exc)(f"cannot render a template that reads the secret variable(s) "
                                f"{', '.join(sorted(secret))} (details withheld: they may quote it)")
            if self.opt.dry_run:
                return f"<{exc}>"
            raise exc from None
        if secret:
            self._mark_secret(value, rendered)
        return rendered

    def _secret_templates(self, value: Any) -> set[str]:
        """The secret names the templates inside `value` read: secret variables, and captures whose
        value holds a secret (a server that echoed the token: its answer, captured, is secret too)."""
        from hybridops.runbook.expr import is_template, walk_strings

        names = {v.name for v in self.rb.variables if v.secret}
        masks = self.ctx.emit.scrubber.value
        found: set[str] = set()
        for text in walk_strings(value):
            if is_template(text):
                try:
                    refs = references(text)
                except ExpressionError:  # unparsable: rendering it fails on its own, quoting no value
                    continue
                found |= names & refs
                found |= {n for n in refs - names if n in self.state.captures
                          and _holds_secret(self.state.captures[n], masks)}
        return found

    def _mark_secret(self, template: Any, rendered: Any) -> None:
        """Register, leaf by leaf, what each template that reads a secret variable rendered to."""
        from hybridops.runbook.expr import is_template

        if isinstance(template, dict) and isinstance(rendered, dict):
            for k, v in template.items():
                self._mark_secret(v, rendered.get(k))
        elif isinstance(template, list) and isinstance(rendered, list):
            for t, r in zip(template, rendered, strict=False):
                self._mark_secret(t, r)
        elif is_template(template) and self._secret_templates(template):
            self.ctx.emit.add_secret_value(rendered)

    def condition(self, text: str, *, dry_default: bool | None) -> bool | None:
        """Evaluate a condition; in a dry run, a condition over unknown values yields `dry_default`."""
        context = self.template_context()
        if self.opt.dry_run and (any(isinstance(context.get(n), _Placeholder)
                                     for n in references(text, condition=True))
                                 or any(self.state.outcomes.get(s, {}).get("status") == StepStatus.DRY_RUN
                                        for s in _STEP_REF.findall(text))):
            # A step that only showed its request has no real status: `steps[...]` over it is unknown too.
            return dry_default
        try:
            return bool(evaluate(text, context))
        except ExpressionError:
            if self.opt.dry_run:
                return dry_default
            raise

    def answer_for(self, step: AnyStep) -> str | None:
        return self.opt.answers.get(step.id)

    def prompted(self, step: AnyStep, question: str, answer: str, source: str) -> None:
        self.emit(Prompt(step_id=step.id, question=question, answer=answer, source=source))

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> RunResult:
        start = self.run_start
        try:
            limit = len(self.order) + MAX_STEP_VISITS  # a long runbook is not a loop
            while self.state.position < len(self.order):
                self.state.visits += 1
                if self.state.visits > limit:
                    raise StepFailed(f"more than {limit} steps run (the runbook has {len(self.order)}): "
                                     "its go-tos loop")
                phase, step = self.order[self.state.position]
                if self.ctx.lease is not None:  # a lock lost to another run (its renewal said so): stop here
                    self.ctx.lease.check(fresh=False)
                outcome = self.run_step(phase, step, start)
                target = self.next_target(step, outcome)
                if target == "abort":
                    raise StepFailed(f"step {step.id} failed: {outcome.error}")
                if target == END:
                    self.state.position = len(self.order)
                elif target is not None:
                    self.state.position = self.index[target]
                else:
                    self.state.position += 1
        except _Abort as exc:
            exc.error.result = self._finish(start, _stopped_by(exc.error), str(exc.error))
            raise exc.error from None
        except RunStopped as exc:
            # the run's record goes with the error: a drill still reports on a run that stopped
            exc.result = self._finish(start, _stopped_by(exc), str(exc))
            raise
        except (KeyboardInterrupt, Interrupted):
            self._finish(start, RunStatus.INTERRUPTED, "interrupted by the operator (Ctrl-C or SIGTERM)")
            raise Interrupted(
                f"run interrupted; resume with: hybridops resume {self.ctx.run_id}"
            ) from None
        return self._finish(start, self._verdict(), None)

    def _verdict(self) -> RunStatus:
        """How a run that got to its end ended: on an escalation path, past failed steps, or cleanly. A
        dry run proves nothing about the system: it completed when it showed every step."""
        if self.opt.dry_run:
            return RunStatus.COMPLETED
        if self._unresolved_at() is not None:
            return RunStatus.UNRESOLVED
        if self._failed():
            return RunStatus.COMPLETED_WITH_FAILURES
        return RunStatus.COMPLETED

    def _failed(self) -> list[str]:
        """The steps whose last outcome is a failure, in the runbook's order (over the whole run: a
        resumed run's earlier sessions count too)."""
        return [s.id for _, s in self.order if self.state.outcomes.get(s.id, {}).get("status") == StepStatus.FAILED]

    def _unresolved_at(self) -> str | None:
        """The first step that says `outcome: unresolved` and ran, over the whole run."""
        return next((s.id for _, s in self.order if s.outcome == "unresolved"
                     and self.state.outcomes.get(s.id, {}).get("status") == StepStatus.OK), None)

    def _finish(self, start: float, status: RunStatus, error: str | None) -> RunResult:
        duration = self.state.elapsed_before_s + (self.clock.monotonic() - start)
        self.emit(RunFinished(status=status, duration_s=round(duration, 3),
                              time_to_mitigation_s=_round(self.state.mitigated_after_s), error=error,
                              steps_run=len(self.reports)))
        return RunResult(self.ctx.run_id, status, list(self.reports), duration, self.state.mitigated_after_s,
                         self.scale, error, self._unresolved_at(), tuple(self._failed()))

    def next_target(self, step: AnyStep, outcome: Outcome) -> str | None:
        """Where the run goes after `step`: a step id, `end`, `abort`, or None (the next in order)."""
        if outcome.goto is not None:
            return outcome.goto
        if outcome.status == StepStatus.FAILED:
            policy = step.on_failure
            if policy == "continue" or not kind_of(step.kind).stops_the_run:
                return None
            if policy == "abort":
                return "abort"
            assert isinstance(policy, GoTo)
            return policy.goto
        return step.next

    # --- one step ---------------------------------------------------------------------------------------

    def run_step(self, phase: Phase, step: AnyStep, run_start: float) -> Outcome:
        budget = self.scaled(step.budget)
        t0 = self.clock.monotonic()
        self.emit(StepStarted(step_id=step.id, phase=phase.id, title=step.title, kind=step.kind,
                              budget_s=round(budget, 3), budget_world_s=step.budget, mutating=step.is_mutating,
                              at_s=self.at(t0)))
        self._budget = (step, t0, budget)
        self._warned = False
        try:
            outcome = self.execute(step)
        except (KeyboardInterrupt, Interrupted):
            self._record(phase, step, Outcome(StepStatus.INTERRUPTED, error="interrupted"), t0, budget)
            raise
        except (NeedsAnswer, OperatorAborted) as exc:
            self._record(phase, step, Outcome(StepStatus.ABORTED, error=str(exc)), t0, budget)
            raise _Abort(exc) from None
        except (ExpressionError, CallFailure) as exc:
            outcome = Outcome(StepStatus.FAILED, error=str(exc))
        self._record(phase, step, outcome, t0, budget)
        if (outcome.status == StepStatus.OK and step.is_mitigation and not self.opt.dry_run
                and self.state.mitigated_after_s is None):
            self.state.mitigated_after_s = self.state.elapsed_before_s + (self.clock.monotonic() - run_start)
        return outcome

    def _record(self, phase: Phase, step: AnyStep, outcome: Outcome, t0: float, budget: float) -> None:
        duration = self.clock.monotonic() - t0
        over = duration > budget * OVER_BUDGET_TOLERANCE
        self.state.captures.update(outcome.captures)
        self.state.outcomes[step.id] = {"status": outcome.status, "error": outcome.error}
        self.emit(StepFinished(
            step_id=step.id, phase=phase.id, title=step.title, status=outcome.status, at_s=self.at(t0 + duration),
            duration_s=round(duration, 3), budget_s=round(budget, 3), budget_world_s=step.budget,
            over_budget=over, mitigation=step.is_mitigation and outcome.status == StepStatus.OK,
            mutating=step.is_mutating, captures=_plain(outcome.captures), result=outcome.result,
            error=outcome.error, reason=outcome.reason, next=self.next_target(step, outcome)))
        self.reports.append(StepReport(step.id, phase.id, step.title, outcome.status, duration, budget, over,
                                       step.is_mutating, outcome.error))

    def tick(self) -> float:
        """How long a wait or a poll may sleep before it looks at its budget again. On a real clock a
        wait ticks every second (the live countdown) and a poll looks between its checks; on a
        simulated one a sleep jumps at most to the budget's next mark (its 80 % warning, its end)."""
        assert self._budget is not None
        step, t0, budget = self._budget
        if not self.clock.simulated:
            return TICK if step.kind == "wait" else float("inf")
        elapsed = self.clock.monotonic() - t0
        marks = [m for m in (0.8 * budget, budget) if m > elapsed]
        return marks[0] - elapsed + 1e-3 if marks else float("inf")

    def at(self, monotonic: float) -> float:
        """Seconds into the run (on its clock, earlier sessions of a resumed run included)."""
        return round(self.state.elapsed_before_s + monotonic - self.run_start, 3)

    def check_budget(self) -> str | None:
        """During long steps: warn at 80 % of the budget; past it, ask (interactive) or flag."""
        assert self._budget is not None
        step, t0, budget = self._budget
        elapsed = self.clock.monotonic() - t0
        if not self._warned and elapsed >= 0.8 * budget:
            # One warning per budget: "80 % used" or, when the first look comes late, "over budget".
            self._warned = True
            self.emit(BudgetWarning(step_id=step.id, elapsed_s=round(elapsed, 3), budget_s=round(budget, 3),
                                    over=elapsed > budget))
        if elapsed > budget and self.opt.interactive and not self.opt.yes:
            extend_s = self.scaled(step.budget)
            choice = self.ctx.prompter.over_budget(step.title, budget, elapsed, extend_s=extend_s)
            self.prompted(step, f"{step.title} is over budget: extend, skip or abort?", choice, "operator")
            if choice == "extend":
                self._budget = (step, t0, budget + extend_s)
                self._warned = False
            elif choice == "abort":
                raise OperatorAborted(f"operator aborted at step {step.id} (over budget)")
            return choice
        return None

    def timed_out(self, step: AnyStep, detail: str, *, wait_s: float) -> tuple[str, float] | None:
        if not self.opt.interactive or self.opt.yes or self.opt.dry_run:
            return None
        choice, more_s = self.ctx.prompter.timed_out(step.title, detail, wait_s=wait_s)
        answer = f"wait {format_duration(more_s)}" if choice == "wait" else choice
        self.prompted(step, f"{step.title} timed out: wait longer, skip, fail or abort?", answer, "operator")
        if choice == "abort":
            raise OperatorAborted(f"operator aborted at step {step.id} (timed out)")
        return choice, self.scaled(more_s)

    def execute(self, step: AnyStep) -> Outcome:
        if self.state.confirm_first == step.id:
            self.state.confirm_first = None
            if not self.opt.dry_run and not self._confirm_unknown(step):
                return Outcome(StepStatus.DECLINED, reason="outcome unknown after an interruption; not re-sent")
        if step.id in self.opt.skip:
            return Outcome(StepStatus.SKIPPED, reason="--skip")
        if step.when is not None and not self.condition(step.when, dry_default=True):
            return Outcome(StepStatus.SKIPPED, reason=f"condition not met: {step.when}")
        if self.opt.step_by_step and self.opt.interactive and not self.opt.dry_run:
            question = f"Run step {step.id} ({step.title})?"
            ok = self.ctx.prompter.confirm(question, default=True)
            self.prompted(step, question, "yes" if ok else "no", "operator")
            if not ok:
                return Outcome(StepStatus.DECLINED, reason="--step: the operator said no")
        return kind_of(step.kind).execute(self, step)

    def _confirm_unknown(self, step: AnyStep) -> bool:
        question = (f"Step {step.id} was interrupted after its request was sent; the outcome is unknown. "
                    "Send it again?")
        if self.opt.yes:
            self.prompted(step, question, "yes", "--yes")
            return True
        if not self.opt.interactive:
            raise NeedsAnswer(f"step {step.id} may already have been applied: confirm in a terminal or pass --yes")
        ok = self.ctx.prompter.confirm(question, default=False)
        self.prompted(step, question, "yes" if ok else "no", "operator")
        return ok

    # --- gate for mutations -------------------------------------------------------------------------

    def mutating(self, step: AnyStep, call: Call) -> bool:
        """Whether sending `call` (as rendered) is a change: as the step says, and in any case when the
        API's own definition says so (no `mutating: false` lets --read-only send a DeleteService)."""
        return step.is_mutating or _changes_state(call)

    def gate(self, step: AnyStep, call: Call) -> Outcome | None:
        """None when the step may send `call`; otherwise the outcome that replaces sending it."""
        mutating = self.mutating(step, call)
        if self.opt.dry_run:
            self.emit(Request(step_id=step.id, call=call, dry_run=True, mutating=mutating))
            return Outcome(StepStatus.DRY_RUN, reason="dry run: nothing sent")
        if not mutating:
            return None
        if self.opt.read_only:
            return Outcome(StepStatus.SKIPPED, reason="--read-only: mutating step not run",
                           result=WouldSend(request=call))
        question = f"Run mutating step {step.id}?"
        if self.opt.yes:
            self.prompted(step, question, "yes", "--yes")
            return None
        if not self.opt.interactive:
            raise NeedsAnswer(f"step {step.id} is mutating and needs confirmation: run it in a terminal, "
                              "or pass --yes")
        self.emit(ConfirmRequest(step_id=step.id, call=call, undo=self._shown_undo(step)))
        ok = self.ctx.prompter.confirm(f"Run {step.title}?", default=False)
        self.prompted(step, question, "yes" if ok else "no", "operator")
        if not ok:
            return Outcome(StepStatus.DECLINED, reason="the operator declined")
        return None

    def _shown_undo(self, step: AnyStep) -> Call | None:
        """The step's undo as it would be sent, for the confirmation; its templates as written when they
        need what only a later step captures."""
        if step.undo is None:
            return None
        try:
            return self.prepare_call(step.undo.call, step.timeout)[0]
        except ExpressionError as exc:
            u = step.undo.call
            if isinstance(u, AwsCall):
                return Call(target="aws", service=u.service, operation=u.operation, region=u.region, params=u.params,
                            note=f"rendered when it runs: {exc}")
            return Call(target="http", method=u.method, url=u.path, path=u.path, body=u.body,
                        note=f"rendered when it runs: {exc}")

    # --- calls ---------------------------------------------------------------------------------------

    def prepare_call(self, call: AwsCall | HttpCall, timeout: float | None = None) -> tuple[Call, Send]:
        """The rendered request (for display and audit) and a function that sends it, giving up after
        `timeout` seconds (the step's per-call timeout; None: the runner's default)."""
        if isinstance(call, AwsCall):
            params = self.render(call.params)
            region = self.render(call.region) if call.region else self.ctx.aws_region
            shown = Call(target="aws", service=call.service, operation=call.operation, region=region, params=params)

            def send_aws() -> tuple[Any, Any]:
                return "ok", self.ctx.aws.call(call.service, call.operation, params, region=region, timeout=timeout)

            return shown, send_aws
        path = self.render(call.path)
        body = self.render(call.body)
        problem = (rendered_request_problem(call.method, path) if isinstance(path, str)
                   else f"path {path!r} did not render to text")
        note = None
        if problem is not None:
            if not self.opt.dry_run:
                # before anything is sent: the bearer token never travels to where the path escaped to
                raise CallFailure(f"refused before sending: {problem}")
            if not _PLACEHOLDER.search(str(path)):  # a dry run's unknown values cannot be checked
                note = f"would be refused: {problem}"
        path = str(path)
        url = self.ctx.http.url(path) if self.ctx.http else path
        shown = Call(target="http", method=call.method, url=url, path=path, body=body, note=note)

        def send_http() -> tuple[Any, Any]:
            answer = self.ctx.http.admin(call.method, path, body, timeout=timeout)
            status, payload = answer
            meta = answer if isinstance(answer, HttpAnswer) else None
            if status in call.expect:
                if meta is not None and not meta.is_json and promises_json(call.method, path, status):
                    # a login or error page answering 200 proves nothing the step claims
                    who = f"step {self._budget[0].id}: " if self._budget else ""
                    raise CallFailure(f"{who}{call.method} {display_url(url)}: HTTP {status} answered "
                                      f"{meta.content_type or 'no content type'}, not the JSON the admin API spec "
                                      "promises", status=status, unknown_outcome=call.method != "GET")
                return status, payload
            # 429 and 503 say the request was not processed; after another 5xx it may have been
            retryable = status >= 500 or status == 429
            unknown = status >= 500 and status != 503
            detail = payload.get("error") if isinstance(payload, dict) else None
            raise CallFailure(f"{call.method} {path}: HTTP {status}" + (f": {detail}" if detail else "")
                              + f" (expected {', '.join(map(str, call.expect))})"
                              + ("; the request may have been applied" if unknown and call.mutating else ""),
                              retryable=retryable, unknown_outcome=unknown, status=status,
                              refused=status in (429, 503),
                              retry_after=parse_retry_after(meta.retry_after if meta else None, self.clock.now()))

        return shown, send_http

    def send(self, step: AnyStep, call: Call, send: Send, *, retries: bool = True) -> tuple[Any, Any]:
        """Send with the step's retry policy; every attempt is announced, then its outcome recorded. A
        mutation is sent again unasked only when its failure says it was not applied (429, 503,
        throttling; a connection never made, when the runbook asks for retries), and after a failure
        that leaves its outcome unknown only once a person (or `idempotent: true`) says so."""
        mutating = self.mutating(step, call)
        attempt = 0
        while True:
            attempt += 1
            if mutating and self.ctx.lease is not None:
                # Asked now, not at the last renewal: another run may have taken the incident since.
                self.ctx.lease.check(fresh=True)
            self.emit(Request(step_id=step.id, call=call, attempt=attempt, mutating=mutating))
            t0 = self.clock.monotonic()
            try:
                try:
                    status, payload = send()
                finally:
                    self.clock.sync()  # a remote sandbox's slow answer took its time there
                self._within_timeout(step, call, self.clock.monotonic() - t0)
            except CallFailure as exc:
                self.emit(Response(step_id=step.id, ok=False, status=exc.status, error=str(exc),
                                   duration_s=round(self.clock.monotonic() - t0, 3),
                                   unknown_outcome=exc.unknown_outcome))
                policy = retries_for(step, mutating, exc)
                if not (retries and exc.retryable and attempt <= policy.attempts):
                    raise
                if exc.unknown_outcome and mutating and not self.confirm_resend(step, exc):
                    raise dataclasses.replace(exc, message=f"{exc}; not sent again without a confirmation at a "
                                              "terminal (a runbook may declare the step `idempotent: true`)"
                                              ) from None
                self.clock.sleep(self.scaled(retry_delay(policy, attempt, self.rng, exc.retry_after)))
                continue
            self.emit(Response(step_id=step.id, ok=True, status=status, summary=summarize(payload),
                               duration_s=round(self.clock.monotonic() - t0, 3)))
            return status, payload

    def _within_timeout(self, step: AnyStep, call: Call, took: float) -> None:
        """On a simulated clock a slow answer takes no real time, so no client timeout fires: an answer
        that took longer than the call's timeout is treated as the timeout it would have been."""
        if not self.clock.simulated:
            return
        limit = step.timeout or (NOTIFY_TIMEOUT_S if step.kind == "notify" else DEFAULT_CALL_TIMEOUT_S)
        if took > limit:
            what = (f"aws {call.service} {call.operation}" if call.target == "aws"
                    else f"{call.method or 'POST'} {call.path or call.target}")
            raise CallFailure(f"{what}: timed out after {limit:g}s (no answer within the call's timeout); "
                              "the request may have been applied", retryable=True, unknown_outcome=True)

    def confirm_resend(self, step: AnyStep, exc: CallFailure) -> bool:
        """Send a mutation whose outcome is unknown again? Only a person decides (--yes said yes to
        sending it once, not twice), unless the runbook declares sending it twice harmless."""
        question = f"The outcome of mutating step {step.id} is unknown ({exc}). Send it again?"
        if step.idempotent:
            self.prompted(step, question, "yes", "idempotent")
            return True
        if not self.opt.interactive:
            self.prompted(step, question, "no", "non-interactive")
            return False
        ok = self.ctx.prompter.confirm(question, default=False)
        self.prompted(step, question, "yes" if ok else "no", "operator")
        return ok

    def call_captures(self, call: AwsCall | HttpCall, status: Any, payload: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, expr in call.capture.items():
            try:
                out[name] = jmespath.search(expr, payload)
            except jmespath.exceptions.JMESPathError as exc:
                # an answer of another shape than the runbook expects (an error page, a null field)
                raise CallFailure(f"capture {name} ({expr}): {one_line(exc)}; the answer was: "
                                  f"{one_line(Exception(summarize(payload, 200)))}") from None
        if isinstance(call, HttpCall) and call.capture_status:
            out[call.capture_status] = status
        return out


_PLACEHOLDER = re.compile(r"<[^<>]*>")  # what a dry run shows for a value only a real run knows


def _changes_state(call: Call) -> bool:
    """The rendered request changes state by its API's own definition."""
    if call.target == "aws":
        return aws_changes_state(call.service or "", call.operation or "")
    if call.target == "http":
        return http_changes_state(call.method or "GET", call.path or "", rendered=True)
    return False


def _holds_secret(value: Any, masks: Any) -> bool:
    """Whether masking `value` (a capture) changes it: it holds a registered secret."""
    if value is None or isinstance(value, bool | _Placeholder):
        return False
    plain = _plain(value)
    return bool(masks(plain) != plain)


def _plain(value: Any) -> Any:
    if isinstance(value, _Placeholder):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _stopped_by(error: RunStopped) -> RunStatus:
    return RunStatus.ABORTED if isinstance(error, OperatorAborted) else RunStatus.FAILED


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
