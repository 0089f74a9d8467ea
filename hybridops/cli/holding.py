"""Holding an incident for a run (`incident`, `resume`, `undo`): the second run of an incident is told
who holds it and since when, and goes on only when its operator takes it over (at the terminal, or with
`--take-over`; `--yes` does not). The run taken over notices and stops before its next change.

The lock is a DynamoDB table's item when the profile names one (`lock.table`), across machines;
otherwise a file in the audit dir, on this machine."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Any

TAKE_OVER_HELP = ("Go on even though another live run holds this incident: that run notices (at its next lease "
                  "renewal, or before its next change) and stops before its next change; both audit logs record "
                  "it. --yes does not imply it.")


def lease_seconds(settings: Any) -> float:
    """The lease of the settings' lock (`lock.lease`, $HYBRIDOPS_LOCK_LEASE), bounded."""
    from hybridops.durations import parse_duration
    from hybridops.engine.lock import DEFAULT_LEASE_S, MAX_LEASE_S, MIN_LEASE_S
    from hybridops.errors import ConfigError

    value = getattr(settings, "lock_lease", None)
    if value is None or not value.is_set:
        return DEFAULT_LEASE_S
    try:
        return parse_duration(value.value, minimum=MIN_LEASE_S, maximum=MAX_LEASE_S)
    except ValueError as exc:
        raise ConfigError(f"lock lease from {value.source}: {exc}") from None


def lock_clock(settings: Any) -> Any:
    """The time leases are measured on: a sandbox's simulated clock when the run is on one (so that
    moving it moves the leases), the wall clock otherwise."""
    import time

    if settings is not None and settings.simulated_clock.is_set:
        from hybridops.engine.clock import RemoteClock

        return RemoteClock(settings.simulated_clock.value).now
    return time.time


def table_lock(settings: Any, incident: str, aws: Any = None) -> tuple[Any, str]:
    """(the DynamoLock of `incident` in the settings' table, the caller's STS ARN)."""
    from hybridops.engine.dynamolock import DynamoLock
    from hybridops.engine.retry import CallFailure
    from hybridops.engine.steps.aws import AwsRunner
    from hybridops.errors import PreflightFailed

    aws = aws or AwsRunner(profile=settings.aws_profile.value, region=settings.aws_region.value)
    try:
        ident = aws.call("sts", "GetCallerIdentity", {})
    except CallFailure as exc:
        raise PreflightFailed(f"incident lock: {exc} (nothing was sent)") from None
    lock = DynamoLock(aws, settings.lock_table.value, incident, str(ident.get("Account") or "unknown"),
                      region=settings.lock_region.value, lease_s=lease_seconds(settings), clock=lock_clock(settings))
    return lock, str(ident.get("Arn") or f"{getpass.getuser()}@{socket.gethostname()}")


def hold_incident(directory: Path, *, incident: str, run_id: str, options: Any,
                  take_over: bool, settings: Any = None, aws: Any = None) -> tuple[Any, list[Any]]:
    """(the lease to release at the end, or None for a run that changes nothing; the events to record
    after the run's start: a take-over). Raises LockHeld (exit 1, one line) when a live run holds the
    incident and nobody took it over. The lease renews itself (and watches for a take-over) until
    released."""
    from hybridops.cli import console
    from hybridops.engine.lock import FILE_CHECK_S, RENEWALS_PER_LEASE, FileLock, LockHeld, new_holder
    from hybridops.engine.retry import CallFailure
    from hybridops.errors import PreflightFailed
    from hybridops.events import LockTakenOver

    if options.dry_run or options.read_only:  # it can change nothing: no need to hold anything
        return None, []
    lock: Any
    if settings is not None and settings.lock_table.is_set:
        lock, operator = table_lock(settings, incident, aws)
    else:
        period = min(FILE_CHECK_S, lease_seconds(settings) / RENEWALS_PER_LEASE)
        lock, operator = FileLock(directory, incident, period=period), f"{getpass.getuser()}@{socket.gethostname()}"
    holder = new_holder(incident, run_id, operator)
    confirmed = "--take-over" if take_over else None
    try:
        try:
            lease = lock.acquire(holder, take_over=take_over)
        except LockHeld as held:
            if not options.interactive:
                raise
            err = console.err()
            who = held.holder.describe() if held.holder else "another hybridops process"
            err.print(f"incident {incident} is being run by {who}", markup=False, highlight=False)
            question = "Take it over? That run stops before its next change (both audit logs record it)"
            if not _confirm(question):
                raise
            lease = lock.acquire(holder, take_over=True)
            confirmed = "operator"
    except CallFailure as exc:
        raise PreflightFailed(f"incident lock: {exc} (nothing was sent)") from None
    lease.start()
    noted: list[Any] = []
    other = lease.taken_over or lease.stale
    if other is not None:
        noted.append(LockTakenOver(holder_run_id=other.run_id, holder_operator=other.operator,
                                   holder_pid=other.pid, holder_host=other.host, holder_since=other.since,
                                   stale=lease.taken_over is None,
                                   confirmed=confirmed if lease.taken_over is not None else None))
        if lease.taken_over is None and other.run_id != run_id:
            console.err().print(f"note: run {other.run_id} of {other.operator} held incident {incident} since "
                                f"{other.since}; {lease.stale_note}", markup=False, highlight=False)
    return lease, noted


def _confirm(question: str) -> bool:
    from hybridops.cli import console
    from hybridops.cli.prompts import RichPrompter

    return RichPrompter(console.err()).confirm(question, default=False)
