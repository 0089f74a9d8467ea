"""Who is running an incident: one lock per incident, so a second run is told who holds it.

Two operators running the same incident's runbook at once undo each other's mitigations. A run that
may change something (not `--dry-run`, not `--read-only`) takes the incident's lock first; a second
run finds the holder (operator, pid, host, run id, since when) and goes on only when its operator
confirms a take-over, which is recorded in both runs' audit trails (the taker's `lock_taken_over`).

`IncidentLock` is the interface; `FileLock` holds it on this machine with `flock(2)` on a file in the
audit dir, so the kernel releases it when the holder's process ends, SIGKILL and power loss included
(the holder info left in the file is then recognised as stale). A lock across machines (DynamoDB)
implements the same interface.

Nothing here imports typer or rich.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from hybridops.errors import AuditError, HybridOpsError
from hybridops.scrub import format_ts

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_DIR = ".locks"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_HOLDER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) an incident's lock."""

    incident: str
    run_id: str
    operator: str
    pid: int
    host: str
    since: str  # RFC 3339 UTC
    took_over_from: str | None = None  # the run id of the holder this one took the lock from

    def describe(self) -> str:
        return f"{self.operator} (pid {self.pid} on {self.host}, run {self.run_id}) since {self.since}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Holder | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(incident=str(data["incident"]), run_id=str(data["run_id"]), operator=str(data["operator"]),
                       pid=int(data["pid"]), host=str(data["host"]), since=str(data["since"]),
                       took_over_from=data.get("took_over_from"))
        except (KeyError, TypeError, ValueError):
            return None


class LockHeld(HybridOpsError):
    """Another live run holds the incident: `holder` says whose (None when it has not said yet)."""

    def __init__(self, incident: str, holder: Holder | None) -> None:
        self.incident = incident
        self.holder = holder
        who = holder.describe() if holder else "another hybridops process (it has not said who yet)"
        super().__init__(f"incident {incident} is being run by {who}: take it over only if that run is "
                         "abandoned (at a terminal you are asked; otherwise pass --take-over)")


@dataclass
class Lease:
    """A held lock: `release()` at the end of the run (the kernel releases it if the process dies).

    `taken_over`: the live holder this run took the incident from; `stale`: a holder whose process
    is gone (killed, crashed), whose lock was simply taken."""

    lock: FileLock
    holder: Holder
    fd: int | None
    taken_over: Holder | None = None
    stale: Holder | None = None

    def release(self) -> None:
        self.lock.release(self)


class IncidentLock(Protocol):
    """Where an incident's lock is held: on this machine (FileLock), or across machines."""

    def acquire(self, holder: Holder, *, take_over: bool = False) -> Lease: ...

    def release(self, lease: Lease) -> None: ...

    def holder(self) -> Holder | None: ...


def alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (one we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_holder(incident: str, run_id: str, operator: str, now: datetime | None = None) -> Holder:
    return Holder(incident=incident, run_id=run_id, operator=operator, pid=os.getpid(), host=socket.gethostname(),
                  since=format_ts(now or datetime.now(UTC)))


class FileLock:
    """An incident's lock on this machine: `<audit dir>/.locks/<incident>.lock`, held with flock(2).

    The file holds the holder's JSON. The flock is what counts: held only by a live process. A run
    that took over a live holder's incident cannot have the flock (the other process still does), so
    it writes itself into the file, and a third run finds the file naming a live process of this
    host as holder and is told about it all the same."""

    def __init__(self, directory: Path, incident: str) -> None:
        self.directory = Path(directory) / LOCK_DIR
        name = _SAFE.sub("-", incident).strip("-.") or "incident"
        self.path = self.directory / f"{name}.lock"
        self.incident = incident

    def _open(self) -> int:
        # The locks are as shared as the audit dir: a team's shared dir (group access on purpose) lets
        # every operator of the group see and take them; a private one keeps them private.
        try:
            shared = stat.S_IMODE(self.directory.parent.stat().st_mode) & 0o070
        except OSError as exc:
            raise AuditError(f"cannot open the incident lock {self.path}: {exc.strerror or exc}") from None
        try:
            os.mkdir(self.directory, 0o700 | shared)
            os.chmod(self.directory, 0o700 | shared)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            pass
        except OSError as exc:
            raise AuditError(f"cannot create {self.directory}: {exc.strerror or exc}") from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600 | (shared & 0o060))
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_uid == os.geteuid():
                    os.fchmod(fd, 0o600 | (shared & 0o060))
            return fd
        except PermissionError:
            pass  # another operator's lock file in a shared audit dir: flock needs only a read descriptor
        try:
            return os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise AuditError(f"cannot open the incident lock {self.path}: {exc.strerror or exc}") from None

    def _read(self, fd: int) -> Holder | None:
        try:
            data = os.pread(fd, MAX_HOLDER_BYTES, 0)
            return Holder.from_dict(json.loads(data)) if data.strip() else None
        except (OSError, ValueError):
            return None

    def _write(self, fd: int, holder: Holder | None) -> None:
        data = json.dumps(holder.as_dict(), sort_keys=True).encode() + b"\n" if holder else b""
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def holder(self) -> Holder | None:
        """The holder named in the lock file, if any (live or not)."""
        if not self.path.is_file():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return self._read(fd)
        finally:
            os.close(fd)

    def _live(self, named: Holder | None) -> bool:
        # A holder named in the file without the flock is live only as a take-over run on this host.
        return (named is not None and named.host == socket.gethostname() and named.pid != os.getpid()
                and alive(named.pid))

    def acquire(self, holder: Holder, *, take_over: bool = False) -> Lease:
        """Hold the incident for `holder`; LockHeld if a live run holds it (unless `take_over`)."""
        fd = self._open()
        locked = True
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                locked = False
        named = self._read(fd)
        held = not locked or self._live(named)
        if held and not take_over:
            os.close(fd)
            raise LockHeld(self.incident, named)
        taken = (named or Holder(incident=self.incident, run_id="(unknown)", operator="(unknown)", pid=0,
                                 host="", since="")) if held else None
        stale = named if not held and named is not None and named.pid != os.getpid() else None
        if taken is not None:
            holder = Holder(**{**holder.as_dict(), "took_over_from": taken.run_id})
        with contextlib.suppress(OSError):  # a read-only lock file (someone else's) still locks; it cannot say who
            self._write(fd, holder)
        if not locked:  # another process has the flock: ours would only block it; keep no fd
            os.close(fd)
            return Lease(self, holder, None, taken_over=taken, stale=stale)
        return Lease(self, holder, fd, taken_over=taken, stale=stale)

    def release(self, lease: Lease) -> None:
        """Give the incident up: clear the file if it still names this run (or, after a take-over, name
        the live run it was taken from again), then drop the flock."""
        fd = lease.fd
        if fd is None:
            with contextlib.suppress(OSError):
                fd = os.open(self.path, os.O_RDWR)
            if fd is None:
                return
        try:
            named = self._read(fd)
            if named is not None and (named.run_id, named.pid) == (lease.holder.run_id, lease.holder.pid):
                back = lease.taken_over if lease.fd is None and lease.taken_over and alive(lease.taken_over.pid) \
                    else None
                with contextlib.suppress(OSError):
                    self._write(fd, back if back and back.pid else None)
        finally:
            os.close(fd)  # closing the descriptor drops the flock
            lease.fd = None
