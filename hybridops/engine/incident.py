"""`run_incident`: one entry for running a runbook, from preflight to the last audit record."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridops import __version__
from hybridops.engine.clock import RealClock
from hybridops.engine.context import Context, Emitter, NoPrompter, Prompter, RunOptions, Sink
from hybridops.engine.retry import CallFailure
from hybridops.engine.run import Runner, RunResult, RunState
from hybridops.errors import ConfigError, PreflightFailed
from hybridops.events import Event, RunbookInfo, RunFinished, RunResumed, RunStarted, RunStatus
from hybridops.runbook.load import LoadedRunbook
from hybridops.runbook.model import Runbook


@dataclass(frozen=True)
class Preflight:
    operator: str
    aws_caller_arn: str | None


def check_required(runbook: Runbook, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (resolved by the configuration, runbook defaults included), once every variable the
    runbook requires has one; ConfigError naming the missing ones otherwise."""
    missing = [v.name for v in runbook.variables if values.get(v.name) is None]
    if missing:
        raise ConfigError("missing required variable(s): " + ", ".join(missing)
                          + " (pass --var NAME=VALUE, or set them in a config profile)")
    return {v.name: values[v.name] for v in runbook.variables}


YES_NO = ("yes", "no", "y", "n", "true", "false")


def check_before_run(runbook: Runbook, options: RunOptions, notify: Any) -> list[str]:
    """What can be known to go wrong before the first request, one line each: answers to questions the
    runbook does not ask (or cannot take), and notifications with nowhere to go (unless --no-notify)."""
    from hybridops.runbook.model import ChoiceStep, ConfirmStep, NotifyStep

    steps = {s.id: s for _, s in runbook.steps()}
    problems: list[str] = []
    for flag, sid in [("--start-at", options.start_at)] + [("--skip", s) for s in options.skip]:
        if sid is not None and sid not in steps:
            problems.append(f"{flag} {sid}: runbook {runbook.id} has no step {sid!r}")
    if options.step_by_step and not options.interactive and not options.dry_run:
        problems.append("--step confirms every step at a terminal: run it in one (and without --yes)")
    for sid, value in options.answers.items():
        step = steps.get(sid)
        if step is None:
            problems.append(f"--answer {sid}={value}: runbook {runbook.id} has no step {sid!r}")
        elif isinstance(step, ChoiceStep):
            offered = [o.value for o in step.choice.options]
            if value not in offered:
                problems.append(f"--answer {sid}={value}: choose one of {', '.join(offered)}")
        elif isinstance(step, ConfirmStep):
            if value.lower() not in YES_NO:
                problems.append(f"--answer {sid}={value}: answer yes or no")
        else:
            problems.append(f"--answer {sid}={value}: step {sid} asks nothing (it is a {step.kind} step)")
    if not options.no_notify and not options.read_only:
        for sid, step in steps.items():
            if not isinstance(step, NotifyStep):
                continue
            via = step.notify.via
            configured = notify.slack_webhook_url if via == "slack" else notify.pagerduty_routing_key
            if not configured:
                where = ("HYBRIDOPS_SLACK_WEBHOOK_URL or a profile's notify.slack_webhook_url" if via == "slack"
                         else "HYBRIDOPS_PAGERDUTY_ROUTING_KEY or a profile's notify.pagerduty_routing_key")
                problems.append(f"step {sid} notifies {via}, which is not configured: set {where}, or pass "
                                "--no-notify to run without notifications")
    return problems


def masked_variables(runbook: Runbook, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if (v := runbook.variable(k)) and v.secret else val) for k, val in values.items()}


def calls_aws(runbook: Runbook) -> bool:
    """Whether a run of `runbook` may call AWS at all (its steps, polls, undos, log queries)."""
    from hybridops.runbook.model import AwsCall, LogErrorsStep, LogJsonStep

    return any(isinstance(step, LogErrorsStep | LogJsonStep) or any(isinstance(c, AwsCall) for _, c in step.calls())
               for _, step in runbook.steps())


def preflight_identity(aws: Any, *, dry_run: bool, skip: bool, needed: bool) -> Preflight:
    local = f"{getpass.getuser()}@{socket.gethostname()}"
    if dry_run or skip or not needed:
        return Preflight(operator=local, aws_caller_arn=None)
    try:
        ident = aws.call("sts", "GetCallerIdentity", {})
    except CallFailure as exc:
        raise PreflightFailed(f"preflight: {exc} (nothing was sent; --skip-preflight if STS itself is down)") from None
    arn = ident.get("Arn")
    return Preflight(operator=arn or local, aws_caller_arn=arn)


def run_incident(
    loaded: LoadedRunbook,
    *,
    options: RunOptions,
    variables: Mapping[str, Any],
    secrets: set[str],
    open_audit: Callable[[], Any],
    make_aws: Callable[[], Any],
    make_http: Callable[[], Any],
    notify_targets: Any,
    aws_region: str,
    ui: list[Sink] = (),  # type: ignore[assignment]
    prompter: Prompter | None = None,
    clock: Any = None,
    state: RunState | None = None,
    extra_started: RunResumed | None = None,
    noted: Sequence[Event] = (),
    lease: Any = None,
) -> RunResult:
    """Run `loaded` to its end (or its first aborting failure).

    `open_audit()` returns the audit log (an object with `.append(event, **fields)` and `.run_id`);
    it is opened before anything is sent, so a run that cannot be audited never starts. `noted`:
    events recorded right after the run's start (or resume), such as taking the incident over.
    `lease`: the incident's lock (hybridops.engine.lock.Lease): its loss is recorded (`lock_lost`) when
    noticed, and the run stops before its next change.
    """
    runbook = loaded.runbook
    values = check_required(runbook, variables) if state is None else state.variables
    aws = make_aws()
    http = make_http()
    failure: PreflightFailed | None = None
    pre = Preflight(f"{getpass.getuser()}@{socket.gethostname()}", None)
    if extra_started is None:
        try:
            pre = preflight_identity(aws, dry_run=options.dry_run, skip=options.skip_preflight,
                                     needed=calls_aws(runbook))
        except PreflightFailed as exc:
            failure = exc
    # The log is created after the identity check, so a kill during that check leaves no empty,
    # unresumable log behind; the caller has already checked the audit dir can be written.
    log = open_audit()
    by = None if extra_started is None else (extra_started.aws_caller_arn or extra_started.operator)
    emitter = Emitter(audit=log.write, ui=list(ui), secrets=secrets, run_id=log.run_id, by=by)
    for var in runbook.variables:
        if var.secret and isinstance(values.get(var.name), str):
            emitter.add_secret(values[var.name])
    ctx = Context(options=options, emit=emitter, clock=clock or RealClock(), prompter=prompter or NoPrompter(),
                  aws=aws, http=http, notify_targets=notify_targets, run_id=log.run_id, aws_region=aws_region,
                  lease=lease)
    if state is None:
        state = RunState(variables=dict(values))
        if options.start_at is not None:  # checked before the run: the step exists
            state.position = runbook.step_ids().index(options.start_at)
    if extra_started is None:
        _started(emitter, loaded, options, values, pre, http, aws_region, simulated=ctx.clock.simulated)
        if failure is not None:
            emitter(RunFinished(status=RunStatus.FAILED, duration_s=0.0, error=str(failure), steps_run=0))
            raise failure
    else:
        emitter(extra_started)
    for event in noted:
        emitter(event)
    if lease is not None:
        lease.on_lost(lambda lost: emitter(lock_lost_event(lost)))
    try:
        return Runner(runbook, ctx, state).run()
    finally:
        if http is not None:
            http.close()


def lock_lost_event(lost: Any) -> Event:
    """The `lock_lost` record of a Lost (hybridops.engine.lock)."""
    from hybridops.events import LockLost

    by = lost.by
    return LockLost(reason=lost.reason, by_run_id=by.run_id if by else None, by_operator=by.operator if by else None,
                    by_pid=by.pid if by else None, by_host=by.host if by else None, by_since=by.since if by else None)


def _started(emit: Emitter, loaded: LoadedRunbook, options: RunOptions, values: Mapping[str, Any],
             pre: Preflight, http: Any, aws_region: str, *, simulated: bool) -> None:
    rb = loaded.runbook
    emit(RunStarted(
        runbook=RunbookInfo(id=rb.id, title=rb.title, severity=rb.severity, response_time=rb.response_time,
                            impact=rb.impact, symptoms=tuple(rb.symptoms), path=str(loaded.path.resolve()),
                            sha256=loaded.sha256, version=rb.version),
        tool_version=__version__,
        operator=pre.operator,
        aws_caller_arn=pre.aws_caller_arn,
        host=socket.gethostname(),
        argv=tuple(options.argv),
        variables=masked_variables(rb, values),
        admin_url=http.base_url if http is not None else None,
        aws_region=aws_region,
        dry_run=options.dry_run,
        read_only=options.read_only,
        yes=options.yes,
        drill=options.drill,
        scenario=options.scenario,
        time_scale=options.time_scale,
        clock="simulated" if simulated else "wall",
        seed=options.seed,
        answers=dict(options.answers),
        undo_of=options.undo_of,
        no_notify=options.no_notify,
        start_at=options.start_at,
        skip=tuple(options.skip),
        step_by_step=options.step_by_step,
    ))
