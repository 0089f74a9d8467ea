"""`hybridops lock status|release`: the incident locks a profile's table holds (or this machine's files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hybridops.cli.options import aws_profile_option, config_option, profile_option

NO_TABLE = ("no lock table configured (lock.table in a profile, or $HYBRIDOPS_LOCK_TABLE): incidents are locked "
            "by files on this machine")


def _settings(profile: str | None, config: Path | None, audit_dir: Path | None, aws_profile: str | None) -> Any:
    from hybridops.config import resolve_settings

    return resolve_settings(config_path=config, profile=profile, flag_audit_dir=audit_dir,
                            flag_aws_profile=aws_profile)


def _lease_text(left: float) -> str:
    from hybridops.durations import format_duration

    if left >= 0:
        return f"lease {format_duration(round(left))} left"
    return f"lease expired {format_duration(round(-left))} ago (free to take)"


def lock_status(
    incident: str | None = typer.Argument(None, help="Only this incident's lock (a runbook id)."),
    profile: str | None = profile_option(),
    config: Path | None = config_option(),
    aws_profile: str | None = aws_profile_option(),
    audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Whose lock files (without a table)."),
) -> None:
    """List the incident locks: holder (STS ARN), host, pid, run id, since when, and the lease left or
    expired. With a lock table (lock.table) its items, in every account; otherwise this machine's lock
    files in the audit dir, live or left by a process that is gone."""
    from hybridops.cli import console
    from hybridops.cli.holding import lock_clock
    from hybridops.engine.dynamolock import list_locks
    from hybridops.engine.lock import LOCK_DIR, FileLock
    from hybridops.engine.retry import CallFailure
    from hybridops.engine.steps.aws import AwsRunner
    from hybridops.errors import HybridOpsError

    s = _settings(profile, config, audit_dir, aws_profile)
    out = console.out()
    if not s.lock_table.is_set:
        console.err().print(NO_TABLE, markup=False, highlight=False)
        directory = Path(s.audit_dir.value).expanduser() / LOCK_DIR
        files = sorted(directory.glob("*.lock")) if directory.is_dir() else []
        shown = 0
        for path in files:
            lock = FileLock(directory.parent, path.stem)
            named = lock.holder()
            if named is None or (incident is not None and named.incident != incident):
                continue
            state = "held" if lock.live(named) or _flocked(path) else "left by a process that is gone (free to take)"
            out.print(f"{named.incident}: {named.describe()}; {state}", markup=False, highlight=False)
            shown += 1
        if not shown:
            out.print(f"no incident locks in {directory}" + (f" for {incident}" if incident else ""),
                      markup=False, highlight=False)
        return
    aws = AwsRunner(profile=s.aws_profile.value, region=s.aws_region.value)
    try:
        locks = list_locks(aws, s.lock_table.value, region=s.lock_region.value)
    except CallFailure as exc:
        raise HybridOpsError(f"lock table {s.lock_table.value}: {exc}") from None
    now = lock_clock(s)()
    locks = [i for i in locks if incident is None or i.holder.incident == incident]
    for item in locks:
        out.print(f"{item.holder.incident} (account {item.account}): {item.holder.describe()}; "
                  f"{_lease_text(item.left(now))}", markup=False, highlight=False)
    if not locks:
        out.print(f"no incident locks in table {s.lock_table.value}" + (f" for {incident}" if incident else ""),
                  markup=False, highlight=False)


def _flocked(path: Path) -> bool:
    """Whether a live process holds the flock of the lock file at `path`."""
    import fcntl
    import os

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def lock_release(
    incident: str = typer.Argument(..., help="The incident (runbook id) whose lock to release."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Release without asking."),
    profile: str | None = profile_option(),
    config: Path | None = config_option(),
    aws_profile: str | None = aws_profile_option(),
) -> None:
    """Delete an incident's lock from the lock table (this account's), after a confirmation or --yes:
    for a holder known to be gone that you do not want to wait out. A run still holding it notices at
    its next renewal, records it in its audit log (lock_lost) and stops before its next change.
    Without a table there is nothing to release: a lock file is released when its run ends."""
    from hybridops.cli import console
    from hybridops.cli.holding import table_lock
    from hybridops.cli.launch import interactive_terminal
    from hybridops.cli.prompts import RichPrompter
    from hybridops.engine.dynamolock import delete_lock
    from hybridops.engine.retry import CallFailure
    from hybridops.errors import ConfigError, HybridOpsError, OperatorAborted

    s = _settings(profile, config, None, aws_profile)
    if not s.lock_table.is_set:
        raise ConfigError(f"{NO_TABLE}, released when their run ends (a live one is taken over with --take-over)")
    lock, _ = table_lock(s, incident)
    try:
        item = lock.stored()
        if item is None:
            raise HybridOpsError(f"incident {incident} is not locked in table {s.lock_table.value} "
                                 f"(account {lock.account})")
        shown = f"incident {incident}: {item.holder.describe()}; {_lease_text(item.left(lock.clock()))}"
        console.err().print(shown, markup=False, highlight=False)
        if not yes:
            if not interactive_terminal():
                raise HybridOpsError(f"releasing incident {incident}'s lock needs a confirmation: run it at a "
                                     "terminal, or pass --yes")
            if not RichPrompter(console.err()).confirm("Release it? A run still holding it stops before its "
                                                       "next change", default=False):
                raise OperatorAborted("not released")
        if not delete_lock(lock.aws, s.lock_table.value, item, region=s.lock_region.value):
            raise HybridOpsError(f"incident {incident}'s lock changed since it was shown (renewed by a new "
                                 "holder, or released): nothing deleted; look again with hybridops lock status")
    except CallFailure as exc:
        raise HybridOpsError(f"lock table {s.lock_table.value}: {exc}") from None
    console.out().print(f"released the lock of incident {incident} (held by run {item.holder.run_id} of "
                        f"{item.holder.operator})", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    lock_app = typer.Typer(name="lock", no_args_is_help=True,
                           help="The incident locks: who holds which incident (lock status), and releasing one "
                                "left by a gone holder (lock release).")
    lock_app.command("status")(lock_status)
    lock_app.command("release")(lock_release)
    app.add_typer(lock_app)
