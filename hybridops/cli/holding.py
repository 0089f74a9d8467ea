"""Holding an incident for a run (`incident`, `resume`): the second run of an incident is told who
holds it and since when, and goes on only when its operator takes it over (at the terminal, or with
`--take-over`; `--yes` does not)."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Any

TAKE_OVER_HELP = ("Go on even though another live run holds this incident (it is not stopped: both runs then act; "
                  "recorded in the audit log). --yes does not imply it.")


def hold_incident(directory: Path, *, incident: str, run_id: str, options: Any,
                  take_over: bool) -> tuple[Any, list[Any]]:
    """(the lease to release at the end, or None for a run that changes nothing; the events to record
    after the run's start: a take-over). Raises LockHeld (exit 1, one line) when a live run holds the
    incident and nobody took it over."""
    from hybridops.cli import console
    from hybridops.engine.lock import FileLock, LockHeld, new_holder
    from hybridops.events import LockTakenOver

    if options.dry_run or options.read_only:  # it can change nothing: no need to hold anything
        return None, []
    lock = FileLock(directory, incident)
    holder = new_holder(incident, run_id, f"{getpass.getuser()}@{socket.gethostname()}")
    confirmed = "--take-over" if take_over else None
    try:
        lease = lock.acquire(holder, take_over=take_over)
    except LockHeld as held:
        if not options.interactive:
            raise
        err = console.err()
        who = held.holder.describe() if held.holder else "another hybridops process"
        err.print(f"incident {incident} is being run by {who}", markup=False, highlight=False)
        question = "Take it over? That run is not stopped: both would act on the incident"
        if not _confirm(question):
            raise
        lease = lock.acquire(holder, take_over=True)
        confirmed = "operator"
    noted: list[Any] = []
    other = lease.taken_over or lease.stale
    if other is not None:
        noted.append(LockTakenOver(holder_run_id=other.run_id, holder_operator=other.operator,
                                   holder_pid=other.pid, holder_host=other.host, holder_since=other.since,
                                   stale=lease.taken_over is None,
                                   confirmed=confirmed if lease.taken_over is not None else None))
        if lease.taken_over is None and other.run_id != run_id:
            console.err().print(f"note: run {other.run_id} of {other.operator} held incident {incident} since "
                                f"{other.since}; its process {other.pid} is gone", markup=False, highlight=False)
    return lease, noted


def _confirm(question: str) -> bool:
    from hybridops.cli import console
    from hybridops.cli.prompts import RichPrompter

    return RichPrompter(console.err()).confirm(question, default=False)
