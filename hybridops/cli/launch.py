"""Wiring a run together for `incident`, `rehearse` and `resume`: settings, runners, audit, display."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from hybridops.engine.context import RunOptions

if TYPE_CHECKING:
    from types import FrameType

    from hybridops.audit.log import AuditLog
    from hybridops.audit.ship import CloudWatchShipper
    from hybridops.config import Settings
    from hybridops.engine.context import Sink
    from hybridops.engine.run import RunState
    from hybridops.engine.steps.aws import AwsRunner
    from hybridops.runbook.load import LoadedRunbook

_Runner = TypeVar("_Runner")


@contextmanager
def interrupts_stop_the_run() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop a run at once: recorded, resumable, exit 130.

    They raise our own Interrupted rather than KeyboardInterrupt: under `python -m`, CPython turns
    an interpreter that saw a KeyboardInterrupt escape into a death by SIGINT, whatever exit code
    the program chose afterwards."""
    from hybridops.errors import Interrupted

    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interactive_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class TerminalClock:
    """The real clock, whose sleeps end early when the operator presses Enter: a wait is cut
    short, a poll checks again at once. Only used when a person is at the terminal."""

    simulated = False

    def __init__(self) -> None:
        from hybridops.engine.clock import RealClock

        self._real = RealClock()
        self.now = self._real.now
        self.monotonic = self._real.monotonic
        self.wake = self._real.wake
        self.sync = self._real.sync

    def sleep(self, seconds: float) -> bool:
        from hybridops.cli.terminal import LINES

        if seconds <= 0:
            return False
        try:
            ready = LINES.ready(seconds)
        except (OSError, ValueError):  # no selectable stdin after all
            return self._real.sleep(seconds)
        if ready:
            LINES.readline()
            return True
        return False


@dataclass(frozen=True)
class Prepared:
    """A validated runbook with its settings, resolved once for a run or a resume."""

    loaded: LoadedRunbook
    settings: Settings
    variables: dict[str, Any]


def prepare(runbook_path: Path, *, options: RunOptions, flag_vars: list[str], profile: str | None,
            config_path: Path | None, audit_dir: Path | None, require_variables: bool = True,
            env: dict[str, str] | None = None, loaded: Any = None, aws_profile: str | None = None) -> Prepared:
    """The runbook (loaded from `runbook_path`, unless the caller already has it), validated, with its
    settings and variables resolved."""
    from hybridops.config import parse_assignments, resolve_settings
    from hybridops.engine.incident import calls_aws, check_before_run, check_required
    from hybridops.engine.steps.http import check_url_allowed
    from hybridops.engine.steps.notify import NotifyTargets
    from hybridops.errors import ConfigError, PreflightFailed
    from hybridops.runbook.load import load_runbook
    from hybridops.runbook.validate import checked

    loaded = checked(loaded or load_runbook(runbook_path))
    settings = resolve_settings(config_path=config_path, profile=profile, flag_vars=parse_assignments(flag_vars),
                                flag_audit_dir=audit_dir, flag_aws_profile=aws_profile, runbook=loaded.runbook,
                                env=env)
    if settings.unresolved:
        # Never fall back to the runbook default for a value the profile meant to set.
        raise ConfigError("; ".join(f"variable {n} is {v.shown}" for n, v in settings.unresolved.items()))
    rb = loaded.runbook
    typed = {name: v.coerced(rb.variable(name).default if rb.variable(name) else None, name)
             for name, v in settings.variables.items() if v.is_set}
    variables = check_required(rb, typed) if require_variables else typed
    problem = check_url_allowed(settings.admin_url.value, insecure=options.insecure)
    if problem:
        raise ConfigError(f"admin URL: {problem}")
    if settings.simulated_clock.is_set:
        check_simulated_clock(settings.simulated_clock.value, settings.admin_url.value, options.time_scale)
    found = check_before_run(rb, options, NotifyTargets(settings.slack_webhook_url.value,
                                                        settings.pagerduty_routing_key.value))
    if calls_aws(rb):  # the region a call takes from the configuration is known only now
        from hybridops.runbook.botocore_check import unoffered_services

        found += unoffered_services(rb, variables, settings.aws_region.value)
    if found and options.dry_run:  # a dry run shows what a real run would stop on, and goes on
        from hybridops.cli import console

        for line in found:
            console.err().print(f"preflight: {line}", markup=False, highlight=False)
    elif found:
        raise PreflightFailed(found[0], [f"error: preflight: {line} (nothing was sent)" for line in found])
    return Prepared(loaded, settings, variables)


def check_simulated_clock(clock_url: str, admin_url: str, time_scale: float) -> None:
    """A simulated clock skips every wait: it is only taken from the sandbox that also serves the
    admin API of the run, never next to a real one."""
    from urllib.parse import urlsplit

    from hybridops.engine.clock import CLOCK_PATH, SIMULATED_CLOCK_ENV
    from hybridops.engine.steps.http import is_loopback
    from hybridops.errors import ConfigError, UsageError

    clock, admin = urlsplit(clock_url), urlsplit(admin_url)
    if not is_loopback(clock_url) or (clock.scheme, clock.netloc) != (admin.scheme, admin.netloc) \
            or clock.path.rstrip("/") != admin.path.rstrip("/") + CLOCK_PATH:
        raise ConfigError(f"{SIMULATED_CLOCK_ENV} must be the {CLOCK_PATH} of the sandbox serving the admin URL "
                          f"on this machine, not {clock_url}")
    if time_scale != 1:
        raise UsageError(f"--time-scale has no meaning on a sandbox's simulated clock ({SIMULATED_CLOCK_ENV} is "
                         "set): its waits pass at once")


def execute(prepared: Prepared, *, options: RunOptions, output: str, open_audit: Callable[[], Any],
            state: RunState | None = None, watchers: Sequence[Sink] = (),
            resumed: Any = None, earlier_records: list[dict[str, Any]] | None = None,
            clock: Any = None, aws: Any = None, noted: Any = (), lease: Any = None) -> Any:
    """Run (or continue) the incident with real runners, the chosen display and the audit log.

    `clock`: a drill's simulated clock; otherwise the sandbox's (when the settings name one), the
    terminal's (Enter ends a wait) or the real one. `aws`: an AwsRunner to reuse (the drills of a
    matrix share one sandbox, so one session and its clients serve them all). `lease`: the incident's
    lock the run holds (hold_incident), checked before each step and each change."""
    from hybridops.cli import console
    from hybridops.cli.prompts import RichPrompter
    from hybridops.cli.render import TextRenderer, json_sink, summary_table
    from hybridops.engine.clock import RealClock, RemoteClock
    from hybridops.engine.incident import run_incident
    from hybridops.engine.steps.http import HttpRunner
    from hybridops.engine.steps.notify import NotifyTargets

    s = prepared.settings
    if clock is None:
        if s.simulated_clock.is_set:
            clock = RemoteClock(s.simulated_clock.value)
        else:
            clock = TerminalClock() if options.interactive else RealClock()
    shown = console.run_out()
    renderer = TextRenderer(shown, clock, console.verbosity()) if output == "text" else None
    others: dict[str, list[Sink]] = {"json": [json_sink], "none": []}  # none: a drill of --all
    display: list[Sink] = [renderer] if renderer is not None else others[output]
    sinks = [*watchers, *display]
    region = s.aws_region.value
    holder: dict[str, Any] = {}

    def opened() -> Any:
        log = holder["log"] = open_audit()
        if s.cloudwatch_log_group.value and options.dry_run:
            # A dry run sends nothing at all: not even its audit records to CloudWatch Logs.
            note = f"dry run: audit records not shipped to CloudWatch Logs ({s.cloudwatch_log_group.value})"
            (shown if renderer is not None else console.err()).print(note, markup=False, highlight=False)
        elif s.cloudwatch_log_group.value:
            holder["shipper"] = _ship(log, s)
            if earlier_records:  # a resumed run: what the killed process never shipped goes first
                holder["shipper"].backfill(earlier_records)
        return log

    try:
        result = run_incident(
            prepared.loaded,
            options=options,
            variables=prepared.variables,
            secrets=s.secrets(),
            open_audit=opened,
            make_aws=lambda: _masking_credentials(aws) if aws else aws_runner(s),
            make_http=lambda: HttpRunner(base_url=s.admin_url.value, token=s.admin_token.value),
            notify_targets=NotifyTargets(s.slack_webhook_url.value, s.pagerduty_routing_key.value,
                                         s.pagerduty_url.value),
            aws_region=region,
            ui=sinks,
            prompter=RichPrompter(console.out(), renderer) if options.interactive else None,
            clock=clock,
            state=state,
            extra_started=resumed,
            noted=noted,
            lease=lease,
        )
    finally:
        shipper, log = holder.get("shipper"), holder.get("log")
        if shipper is not None:
            shipper.close(timeout=5.0)
        if log is not None:
            log.close()
    if renderer is not None:
        shown.print(result.verdict(), markup=False, highlight=False)
        if renderer.verbosity >= 0:
            summary_table(shown, result)
        if log is not None:  # the head to keep (or compare with the CloudWatch copy): `audit verify` prints it too
            shown.print(f"audit head: {log.head} ({log.next_seq} records)", markup=False, highlight=False)
        shown.print(f"audit log: {log.path if log is not None else '-'}")
    return result


def aws_runner(settings: Settings) -> AwsRunner:
    """The AWS runner of the settings' profile and region, its credentials masked once resolved."""
    from hybridops.engine.steps.aws import AwsRunner

    return _masking_credentials(AwsRunner(profile=settings.aws_profile.value, region=settings.aws_region.value))


def _masking_credentials(runner: _Runner) -> _Runner:
    """`runner`, whose credentials are masked as soon as botocore has resolved them: a role's or an SSO
    profile's temporary keys exist nowhere else (the environment and the AWS files give the rest)."""
    from hybridops.config import AWS_SECRET_MIN_LEN
    from hybridops.scrub import register_source

    def resolved() -> Sequence[str]:
        # A client exists only once botocore resolved the credentials (and keeps them on the session):
        # asking before that would resolve them here, and perhaps run a credential process twice.
        session = getattr(runner, "_session", None)
        if session is None or not getattr(runner, "_clients", None):
            return ()
        creds = session.get_credentials()
        frozen = creds.get_frozen_credentials() if creds is not None else None
        found = (frozen.secret_key, frozen.token) if frozen is not None else ()
        return [s for s in found if s and len(s) >= AWS_SECRET_MIN_LEN]  # not a sandbox's stand-in

    register_source(resolved)
    return runner


def _ship(log: AuditLog, settings: Settings) -> CloudWatchShipper:
    """Every audit record also goes to CloudWatch Logs (one stream per run); failures are noted in
    the local log and never stop the incident."""
    import boto3

    from hybridops.audit.ship import CloudWatchShipper

    # A session (not a client): the shipper makes its own client with short timeouts, so a hung put
    # cannot outlive the run's end.
    session = boto3.session.Session(profile_name=settings.aws_profile.value)

    def failed(message: str) -> None:
        from hybridops.errors import AuditError
        from hybridops.events import ShipFailed

        # The local log may be sealed (end of run), closing or broken: then only the terminal hears of it.
        try:
            log.write_event(ShipFailed(error=message))
        except AuditError:
            from hybridops.cli import console

            console.err().print(f"warning: audit shipping: {message}", markup=False, highlight=False)

    shipper = CloudWatchShipper(session, settings.cloudwatch_log_group.value, settings.cloudwatch_region.value,
                                log.run_id, on_failure=failed)
    log.subscribe(shipper)
    log.before_seal(shipper.settle)  # a shipping failure is recorded before run_finished closes the log
    return shipper


def new_audit(settings: Settings, runbook_id: str, *, dry_run: bool = False) -> NewAudit:
    """A function opening a fresh audit log for a run of `runbook_id`, once the audit dir has been
    shown to be writable: a run that could not be audited must not send anything."""
    import tempfile

    from hybridops.audit.log import new_run_id
    from hybridops.config import audit_directory, audit_key, kms_sealer
    from hybridops.errors import AuditError

    directory = audit_directory(settings, create=True)
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise AuditError(f"cannot write audit logs in {directory}: {exc.strerror or exc}") from None
    return NewAudit(directory, new_run_id(runbook_id), frozenset(settings.secrets()), audit_key(settings),
                    None if dry_run else kms_sealer(settings))


@dataclass(frozen=True)
class NewAudit:
    """Opens run `run_id`'s fresh audit log in `directory`, keyed with `key` (the run's id is known
    before: the incident's lock names it)."""

    directory: Path
    run_id: str
    secrets: frozenset[str]
    key: Any = None  # AuditKey
    sealer: Any = None  # KmsSealer

    def __call__(self) -> Any:
        from hybridops.audit.log import AuditLog

        return AuditLog.create(self.directory, self.run_id, secrets=self.secrets, key=self.key, sealer=self.sealer)
