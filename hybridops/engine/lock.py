"""Who is running an incident: one lock per incident, so a second run is told who holds it.

Two operators running the same incident's runbook at once undo each other's mitigations. A run that
may change something (not `--dry-run`, not `--read-only`) takes the incident's lock first; a second
run finds the holder (operator, pid, host, run id, since when) and goes on only when its operator
confirms a take-over, which is recorded in both runs' audit trails: the taker's `lock_taken_over`,
and the first run's `lock_lost` once its lease notices (at its next renewal, or right before its next
mutating request), after which the first run stops before sending another change.

`IncidentLock` is the interface; `FileLock` holds it on this machine with `flock(2)` on a file in the
audit dir, so the kernel releases it when the holder's process ends, SIGKILL and power loss included
(the holder info left in the file is then recognised as stale). `DynamoLock`
(hybridops.engine.dynamolock) holds it across machines in a DynamoDB table, with a lease the running
process renews. Both hand out a `Lease`, which the engine checks one way.

Nothing here imports typer or rich.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from hybridops.errors import AuditError, HybridOpsError, OperatorAborted
from hybridops.interrupts import start_background
from hybridops.scrub import format_ts

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_DIR = ".locks"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_HOLDER_BYTES = 64 * 1024
DEFAULT_LEASE_S = 60.0  # a killed holder's lock (in a table) is free again this long after its last renewal
MIN_LEASE_S = 2.0  # shorter, a loaded machine or a slow network would lose a live run's lock
MAX_LEASE_S = 3600.0
RENEWALS_PER_LEASE = 4  # renewed this often per lease: three renewals in a row may fail before it ends
FILE_CHECK_S = 2.0  # the most seconds between two looks at a lock file (a look costs nothing)
LOST_TO = "lost_to"  # in a lock file: the run that took the incident from the run it names again


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
    """Another live run holds the incident: `holder` says whose (None when it has not said yet).
    `expires`: when its lease ends unless renewed (a lock in a table), as text."""

    def __init__(self, incident: str, holder: Holder | None, expires: str | None = None) -> None:
        self.incident = incident
        self.holder = holder
        who = holder.describe() if holder else "another hybridops process (it has not said who yet)"
        lease = f"; its lease runs to {expires} unless renewed" if expires else ""
        super().__init__(f"incident {incident} is being run by {who}{lease}: take it over only if that run is "
                         "abandoned (at a terminal you are asked; otherwise pass --take-over)")


@dataclass(frozen=True)
class Lost:
    """How a run lost its incident's lock: `by` holds it now (None: nobody says so)."""

    incident: str
    reason: str  # one line: taken over by ..., released, could not be renewed
    by: Holder | None = None


class IncidentTakenOver(OperatorAborted):
    """The run lost its incident's lock (another operator took it over, or released it): it stops
    before its next change. Another operator's abort: `aborted` in the log, exit 5."""

    def __init__(self, lost: Lost) -> None:
        self.lost = lost
        super().__init__(f"{lost.reason}: this run stopped before its next change (it no longer holds incident "
                         f"{lost.incident})")


@dataclass(eq=False)
class Lease:
    """A held lock: `release()` at the end of the run (the kernel releases a file lock when the process
    dies; a table's lease expires once nobody renews it).

    `taken_over`: the live holder this run took the incident from; `stale`: a holder whose process
    is gone (killed, crashed) or whose lease expired, whose lock was simply taken (`stale_note` says
    how that is known). `token`: what says, in the lock's store, that this run still holds it.

    `renew()` asks the store (a conditional write to a table; a look at the file) and returns how the
    lock was lost, or None; `start()` renews every `period` seconds in a daemon thread; `check()`
    raises IncidentTakenOver once it is lost. Whoever records the loss registers with `on_lost`
    (called once, from whichever thread noticed)."""

    lock: Any  # IncidentLock
    holder: Holder
    fd: int | None = None
    taken_over: Holder | None = None
    stale: Holder | None = None
    token: Any = None
    period: float = FILE_CHECK_S
    stale_note: str = ""
    expires: float | None = None  # a table lease's end (on the lock's clock), as last renewed
    lost: Lost | None = None
    _listeners: list[Callable[[Lost], Any]] = field(default_factory=list, repr=False)
    _mutex: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def renew(self) -> Lost | None:
        """Renew (or look at) the lock now: how it was lost, or None while it is held."""
        with self._mutex:
            if self.lost is not None or self._stop.is_set():
                return self.lost
            lost = self.lock.renew(self)
            if lost is None:
                return None
            self.lost = lost
            listeners = list(self._listeners)
        for listener in listeners:
            _quietly(listener, lost)
        return lost

    def check(self, *, fresh: bool = True) -> None:
        """IncidentTakenOver once the lock is lost. `fresh`: ask the store now (before a change);
        otherwise what the last renewal found (before each step: no request)."""
        lost = self.renew() if fresh else self.lost
        if lost is not None:
            raise IncidentTakenOver(lost)

    def on_lost(self, listener: Callable[[Lost], Any]) -> None:
        """Call `listener(lost)` once the lock is lost (at once if it is already)."""
        with self._mutex:
            lost = self.lost
            if lost is None:
                self._listeners.append(listener)
        if lost is not None:
            _quietly(listener, lost)

    def start(self) -> None:
        """Renew in the background until released or lost."""
        if self._thread is not None:
            return

        def renewing() -> None:
            while not self._stop.wait(self.period):
                if self.renew() is not None:
                    return

        self._thread = start_background(renewing, f"lease-{self.holder.incident}")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        with self._mutex:
            self.lock.release(self)


def _quietly(listener: Callable[[Lost], Any], lost: Lost) -> None:
    # A listener records the loss (audit log, screen); the log may be sealed already at the end of the
    # run: the run stops anyway, and the renewal thread must not die of it.
    with contextlib.suppress(Exception):
        listener(lost)


class IncidentLock(Protocol):
    """Where an incident's lock is held: on this machine (FileLock), or across machines (DynamoLock)."""

    def acquire(self, holder: Holder, *, take_over: bool = False) -> Lease: ...

    def renew(self, lease: Lease) -> Lost | None: ...

    def release(self, lease: Lease) -> None: ...

    def holder(self) -> Holder | None: ...


def taken_by(incident: str, by: Holder | None, *, gone: str) -> Lost:
    """The loss of `incident`'s lock to `by` (or, when nobody holds it now, `gone`)."""
    if by is None:
        return Lost(incident, f"incident {incident}: {gone}")
    return Lost(incident, f"incident {incident} was taken over by {by.describe()}", by)


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
    host as holder and is told about it all the same. The run taken from notices the file changed
    under it (its lease's token is the file's content as it left it) and stops before its next change."""

    def __init__(self, directory: Path, incident: str, *, period: float = FILE_CHECK_S) -> None:
        self.directory = Path(directory) / LOCK_DIR
        name = _SAFE.sub("-", incident).strip("-.") or "incident"
        self.path = self.directory / f"{name}.lock"
        self.incident = incident
        self.period = period

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

    @staticmethod
    def _bytes(fd: int) -> bytes:
        try:
            return os.pread(fd, MAX_HOLDER_BYTES, 0)
        except OSError:
            return b""

    @staticmethod
    def _parse(data: bytes) -> dict[str, Any] | None:
        try:
            parsed = json.loads(data) if data.strip() else None
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _read(self, fd: int) -> Holder | None:
        return Holder.from_dict(self._parse(self._bytes(fd)))

    def _write(self, fd: int, data: dict[str, Any] | None) -> None:
        raw = json.dumps(data, sort_keys=True).encode() + b"\n" if data else b""
        os.ftruncate(fd, 0)
        os.pwrite(fd, raw, 0)
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

    def live(self, named: Holder | None) -> bool:
        """Whether `named` (from a lock file) is a live process of this host other than this one."""
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
        # A holder named in the file without the flock is live only as a take-over run on this host.
        held = not locked or self.live(named)
        if held and not take_over:
            os.close(fd)
            raise LockHeld(self.incident, named)
        taken = (named or Holder(incident=self.incident, run_id="(unknown)", operator="(unknown)", pid=0,
                                 host="", since="")) if held else None
        stale = named if not held and named is not None and named.pid != os.getpid() else None
        if taken is not None:
            holder = Holder(**{**holder.as_dict(), "took_over_from": taken.run_id})
        with contextlib.suppress(OSError):  # a read-only lock file (someone else's) still locks; it cannot say who
            self._write(fd, holder.as_dict())
        lease = Lease(self, holder, fd, taken_over=taken, stale=stale, token=self._bytes(fd), period=self.period,
                      stale_note=f"its process {stale.pid} is gone" if stale else "")
        if not locked:  # another process has the flock: ours would only block it; keep no fd
            os.close(fd)
            lease.fd = None
        return lease

    def renew(self, lease: Lease) -> Lost | None:
        """A look at the file: lost once it is no longer as this run left it (another run took over)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return taken_by(self.incident, None, gone=f"its lock file {self.path} was removed")
        except OSError:
            return None  # cannot look now: the next look tells
        try:
            data = self._bytes(fd)
        finally:
            os.close(fd)
        if data == lease.token:
            return None
        parsed = self._parse(data) or {}
        named = Holder.from_dict(parsed)
        mine = named is not None and (named.run_id, named.pid) == (lease.holder.run_id, lease.holder.pid)
        by = Holder.from_dict(parsed.get(LOST_TO)) if mine else named
        return taken_by(self.incident, by, gone="another run took it over and has ended")

    def release(self, lease: Lease) -> None:
        """Give the incident up: clear the file if it still names this run (or, after a take-over, name
        the live run it was taken from again, with this run as the one it was lost to: that run
        notices), then drop the flock."""
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
                    self._write(fd, {**back.as_dict(), LOST_TO: lease.holder.as_dict()} if back and back.pid
                                else None)
        finally:
            os.close(fd)  # closing the descriptor drops the flock
            lease.fd = None
