"""The write-ahead, hash-chained audit log: writer, reader and verifier.

The contract (issue 4 §7), which other tools verify independently:

- one compact JSON object per line, UTF-8, ``\\n``-terminated; each line is written, flushed and
  fsynced before `AuditLog.append` returns, so the caller takes the action it announces only once
  the announcement is on disk (a ``step_started`` announces nothing done outside: it reaches the
  disk with the next record's fsync, which covers every earlier write to the file, or at close);
- every record starts with ``seq`` (0, 1, 2...), ``ts`` (RFC 3339 UTC, milliseconds, ``Z``),
  ``run_id``, ``event`` and ``prev``: the lowercase hex SHA-256 of the previous line's exact bytes
  without its newline (64 zeros on line 0);
- the first record is ``run_started``; a run ends with ``run_finished``.

- every record ends with ``sum``, the SHA-256 of the line as it would be without ``sum`` and ``mac``
  (so the last record, which no later ``prev`` vouches for, cannot be edited unnoticed either), and,
  when the log is keyed, ``mac``: HMAC-SHA256 of those same bytes under the operator's or team's key
  (``run_started`` names the key by ``key_id``). A MAC covers ``prev``, so the last record's MAC
  authenticates the whole chain before it;
- ``run_finished`` seals the log: it carries ``count`` (the records before it) and ``head`` (the
  SHA-256 of the line before it); the only record that may follow it is a ``run_resumed`` of a run
  that can still be resumed (failed, aborted, interrupted). The writer refuses appends after it.

What `verify_log` can and cannot tell: an edited, deleted, inserted, reordered or mid-line truncated
record breaks the chain and is named by its ``seq``; so does an edited last record (its ``sum``) and
a record appended after the seal. Without the key, a forger who recomputes every ``prev`` and ``sum``
is NOT detected; with the key (``verify_log(..., key=...)``) every MAC is checked and such a rewrite
is. Whole lines cut from the end leave a shorter chain that is still consistent: such a log verifies
as intact but *unfinished* (status ``incomplete``, exactly like a run killed with SIGKILL), and only
fails when the caller insists on a finished run (``require_finished=True``), when the audit dir's
ledger of heads (``.heads``: one line per seal, written by the writer) says the run was sealed longer,
or when it is compared with the copy in CloudWatch Logs (`hybridops.audit.anchor`).

Nothing here imports typer or rich.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets as _random
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridops.errors import AuditError, ChainBroken
from hybridops.events import Event, RunFinished, RunResumed, RunStarted, from_record, ran_to_end, to_record
from hybridops.interrupts import signals_deferred
from hybridops.scrub import Scrubber, format_ts

try:  # advisory locks keep two processes (say, two `resume`s) from interleaving lines
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ZERO_HASH = "0" * 64
REQUIRED_KEYS = ("seq", "ts", "run_id", "event", "prev")
RUN_STATUSES = ("completed", "completed_with_failures", "unresolved", "failed", "aborted", "interrupted")
INCOMPLETE = "incomplete"
VERIFIED, NOT_CHECKED, NO_MAC = "verified", "not checked", "none"
SUFFIX = ".jsonl"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # a JSON string literal, escapes included
_WS = re.compile(r"[ \t\r\n]")

Clock = Callable[[], datetime]

# Written by the log itself, after the event's fields: the seal on run_finished, then the integrity tail.
SUM, MAC, KEY_ID, COUNT, HEAD = "sum", "mac", "key_id", "count", "head"
KMS_KEY, KMS_MAC, KMS_ERROR = "kms_key", "kms_mac", "kms_error"  # the seal's MAC by an AWS KMS key
_KMS_TAIL = re.compile(rb',"kms_key":"((?:[^"\\]|\\.)*)","kms_mac":"([A-Za-z0-9+/=]+)"\}\Z')
MAX_RECORD_BYTES = 64 * 1024  # a bigger record has its largest values summarised (hash kept)
SUMMARY_PREFIX_CHARS = 200
# The integrity tail as the writer puts it: the last keys of the line, nothing re-encoded.
# Every key the log writes around an event's own fields.
LOG_KEYS = (*REQUIRED_KEYS, SUM, MAC, KEY_ID, COUNT, HEAD, KMS_KEY, KMS_MAC, KMS_ERROR)
_TAIL = re.compile(rb',"sum":"([0-9a-f]{64})"(?:,"mac":"([0-9a-f]{64})")?\}\Z')
MIN_KEY_CHARS = 16
_TAIL_ROOM = 1024  # sum, mac and a KMS seal, added after a record's size is checked


@dataclass(frozen=True)
class AuditKey:
    """The HMAC key a log is authenticated with: an operator's or a team's secret, named by `key_id`.

    The secret never appears in a repr, a record or a message; `key_id` is what records name."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_CHARS:
            raise AuditError(f"audit key {self.key_id!r} is too short: at least {MIN_KEY_CHARS} characters")

    @classmethod
    def from_text(cls, key_id: str | None, secret: str) -> AuditKey:
        return cls(key_id or "default", secret.encode("utf-8"))

    def mac(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()


# --- time and names -----------------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    # A naive datetime is taken to be UTC already: the log never records local time.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_ts(text: str) -> datetime:
    """The UTC datetime in an RFC 3339 timestamp; ValueError if it is not one, or not UTC."""
    if not isinstance(text, str) or not _TS.fullmatch(text):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    dt = datetime.fromisoformat(text)
    if dt.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"timestamp is not UTC: {text!r}")
    return dt.astimezone(UTC)


def new_run_id(incident_id: str, now: datetime | None = None) -> str:
    """A run id sortable by time and naming the incident: `20261125T174102.123Z-bedrock-failure-3f9a`.

    UTC to the millisecond, then the incident id made file-name safe, then 4 random hex digits so two
    runs started in the same millisecond do not collide.
    """
    dt = _utc(now or datetime.now(UTC))
    slug = _SLUG_BAD.sub("-", incident_id).strip("-.")[:64] or "run"
    return f"{dt:%Y%m%dT%H%M%S}.{dt.microsecond // 1000:03d}Z-{slug}-{_random.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """`run_id` if it is safe as a file name (no path separators, no leading dot); AuditError if not."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise AuditError(f"not a valid run id: {run_id!r} (letters, digits, '.', '_' and '-' only)")
    return run_id


# --- the audit directory ------------------------------------------------------------------------


def ensure_private_dir(directory: Path, *, tighten: bool = False) -> None:
    """Create `directory` (and parents) with mode 0700 exactly, whatever the umask.

    With `tighten`, an existing directory we own is also set to 0700 (never one with the sticky
    bit, such as /tmp, nor someone else's). AuditError, one line, if it cannot be made.
    """
    try:
        existed = directory.exists()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
        if not stat.S_ISDIR(st.st_mode):
            raise AuditError(f"audit dir {directory} is not a directory")
        mode = stat.S_IMODE(st.st_mode)
        geteuid = getattr(os, "geteuid", None)
        ours = geteuid is not None and st.st_uid == geteuid()
        if not existed or (tighten and ours and mode & 0o077 and not mode & stat.S_ISVTX):
            # mkdir's mode is filtered by the umask, so set it explicitly either way
            os.chmod(directory, 0o700)
    except FileExistsError as exc:
        raise AuditError(f"audit dir {directory} is not a directory") from exc
    except OSError as exc:
        raise AuditError(f"cannot create audit dir {directory}: {exc.strerror or exc}") from exc


def log_path(directory: Path, run_id: str) -> Path:
    """Where run `run_id`'s log lives in `directory`."""
    return Path(directory) / f"{check_run_id(run_id)}{SUFFIX}"


LAST = "last"  # the newest run, wherever a run id is taken


def locate_log(ref: str, directory: Path) -> Path:
    """The log file `ref` names: a path to a file, `last` (the newest run in `directory`), a run id in
    `directory`, or a unique prefix of one."""
    as_path = Path(ref).expanduser()
    if ref == LAST:
        runs = sorted(Path(directory).glob(f"*{SUFFIX}")) if Path(directory).is_dir() else []
        for run in reversed(runs):  # run ids begin with their start time, to the millisecond
            if not _is_dry_run(run):
                return run
        raise AuditError(f"no runs in {directory}" + (" but dry runs" if runs else ""))
    if ref.endswith(SUFFIX) or os.sep in ref or (os.altsep and os.altsep in ref):
        if as_path.is_file():
            return as_path
        raise AuditError(f"no audit log at {as_path}")
    check_run_id(ref)
    exact = Path(directory) / f"{ref}{SUFFIX}"
    if exact.is_file():
        return exact
    matches = sorted(Path(directory).glob(f"{ref}*{SUFFIX}")) if Path(directory).is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(m.stem for m in matches[:3])
        more = ", ..." if len(matches) > 3 else ""
        raise AuditError(f"run id {ref!r} is ambiguous in {directory}: {names}{more}")
    raise AuditError(f"no audit log for run {ref!r} in {directory}")


def _is_dry_run(path: Path) -> bool:
    """Whether the run logged at `path` was a dry run (its first record says so)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
        return bool(isinstance(started := from_record(json.loads(first)), RunStarted) and started.dry_run)
    except (OSError, ValueError):
        return False


# --- encoding -----------------------------------------------------------------------------------


def encode_record(record: Any) -> bytes:
    """The exact line bytes (without newline) for a record (or any JSON value): compact JSON, UTF-8, no NaN."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # What a terminal acts on (DEL, C1 controls, bidi overrides, line separators) is written as its
    # JSON escape, so `cat` or `less` on a log shows a server's text and never obeys it; outside strings
    # JSON is ASCII, so only string contents are touched, and the value read back is the same.
    text = _TERMINAL_ACTIVE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    # A lone surrogate cannot be UTF-8; its `\\udcxx` escape is valid JSON and round-trips exactly.
    return text.encode("utf-8", errors="backslashreplace")


_TERMINAL_ACTIVE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def sha256_hex(line: bytes) -> str:
    """The chain's hash: lowercase hex SHA-256 of a line's exact bytes without its newline."""
    return hashlib.sha256(line).hexdigest()


def summary_of(value: Any, encoded: bytes | None = None) -> dict[str, Any]:
    """What stands in the log for a value too big to keep: its type, the size and SHA-256 of its JSON
    encoding (as `encode_record` writes it), and the start of that encoding."""
    encoded = encode_record(value) if encoded is None else encoded
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    kind = names.get(type(value), type(value).__name__)
    return {"summarized": True, "type": kind, "bytes": len(encoded), "sha256": sha256_hex(encoded),
            "prefix": encoded[: SUMMARY_PREFIX_CHARS * 4].decode("utf-8", "ignore")[:SUMMARY_PREFIX_CHARS]}


def _shrunk(value: Any, limit: int, depth: int = 0) -> Any:
    """`value` if its encoding fits `limit` bytes; else its big parts summarised, keeping the structure
    (a few levels deep), or the whole value summarised."""
    encoded = encode_record(value)
    if len(encoded) <= limit:
        return value
    if depth < 3 and isinstance(value, dict | list) and value:
        part = max(limit // 8, 1024)
        smaller: Any = ({k: _shrunk(v, part, depth + 1) for k, v in value.items()} if isinstance(value, dict)
                        else [_shrunk(v, part, depth + 1) for v in value])
        if len(encode_record(smaller)) <= limit:
            return smaller
    return summary_of(value, encoded)


def bounded_fields(fields: dict[str, Any], room: int) -> dict[str, Any]:
    """`fields` whose encoding fits in `room` bytes: the largest values made smaller first (their big
    parts summarised), then summarised whole, until the record fits."""
    sizes = {k: len(encode_record(v)) for k, v in fields.items()}
    out = dict(fields)
    for k in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if len(encode_record(out)) <= room:
            break
        out[k] = _shrunk(fields[k], max(room // 4, 1024))
    for k in sorted(sizes, key=sizes.__getitem__, reverse=True):  # many middling values: whole summaries
        if len(encode_record(out)) <= room:
            break
        if sizes[k] > SUMMARY_PREFIX_CHARS * 2:
            out[k] = summary_of(fields[k])
    return out


def integrity_tail(body: bytes, key: AuditKey | None) -> tuple[str, str | None]:
    """The `sum` (and, with a key, the `mac`) of a record encoded without them."""
    return sha256_hex(body), key.mac(body) if key is not None else None


def split_tail(line: bytes) -> tuple[bytes, str, str | None] | None:
    """(the line without its integrity tail, sum, mac or None), or None when the line has no tail
    where the writer puts it."""
    m = _TAIL.search(line)
    if m is None:
        return None
    return line[: m.start()] + b"}", m[1].decode(), m[2].decode() if m[2] else None


# --- reading and verifying ----------------------------------------------------------------------


@dataclass(frozen=True)
class TornTail:
    """A last line left unfinished by a crash: where it starts, how long it is, and why it is torn.

    A torn line's `append` never returned, so the action it announced was never taken: cutting it
    away loses nothing. Record it (`log_repaired {torn_bytes, reason}`) after cutting.
    """

    offset: int
    torn_bytes: int
    reason: str
    seq: int
    sha256: str


@dataclass(frozen=True)
class Problem:
    """The first place where a log stops being a valid chain: the record's `seq`, and why."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    """What `verify_log` found.

    `ok` is true when every line chains; `records` counts complete lines; `first_bad_seq` is the seq
    of the first broken record (the seq expected at that position); `status` is the run's status
    from its records (`completed`, `failed`, `interrupted`, or `incomplete` when no `run_finished`
    follows the last start or resume); `head` is the SHA-256 of the last line when intact.
    """

    ok: bool
    records: int
    first_bad_seq: int | None
    reason: str
    status: str = INCOMPLETE
    run_id: str | None = None
    head: str | None = None
    # "verified" (every MAC matched the key given), "not checked" (the log has MACs, no key was given)
    # or "none" (no record carries a MAC: nothing but the chain and sums, which anyone can recompute)
    mac: str = "none"
    key_id: str | None = None  # the key the log names (run_started's key_id)
    kms: str = "none"  # "verified": every seal's KMS MAC was checked by KMS


    @property
    def finished(self) -> bool:
        return self.status != INCOMPLETE

    @property
    def authenticated(self) -> bool:
        return self.mac == VERIFIED or self.kms == VERIFIED


@dataclass(frozen=True)
class LogRead:
    """A log as read: its parseable records in file order, a torn tail if any, and its problems."""

    path: Path
    records: list[dict[str, Any]]
    torn: TornTail | None
    problems: list[Problem]
    verify: VerifyResult

    @property
    def status(self) -> str:
        return run_status(self.records)

    @property
    def run_id(self) -> str:
        for r in self.records:
            if isinstance(r.get("run_id"), str):
                return r["run_id"]
        return self.path.stem


class _LineError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _LineError(f"{name} is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:  # two readers could disagree on which value counts: refuse
            raise _LineError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _parse_line(line: bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _LineError(f"not UTF-8 at byte {exc.start}") from None
    if text.endswith("\r"):
        raise _LineError("line ends with CR (CRLF line endings)")
    try:
        obj = json.loads(text, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _LineError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise _LineError("not a JSON object")
    if _WS.search(_STRING.sub('""', text)):
        raise _LineError("not compact JSON (whitespace between tokens)")
    return obj


def run_status(records: Iterable[Mapping[str, Any]]) -> str:
    """`completed`/`failed`/`interrupted` from the last `run_finished` after the last start or resume,
    else `incomplete`. Records after that `run_finished` (say, a late `ship_failed`) do not matter."""
    status = INCOMPLETE
    for r in records:
        event = from_record(r)
        if isinstance(event, RunStarted | RunResumed):
            status = INCOMPLETE
        elif isinstance(event, RunFinished):
            status = str(event.status) or "failed"
    return status


@dataclass
class _Scan:
    lines: list[bytes]
    hashes: list[str]
    parsed: list[dict[str, Any] | _LineError]
    torn: TornTail | None
    problem: Problem | None = None
    records: list[dict[str, Any]] = field(default_factory=list)


def _scan(data: bytes) -> _Scan:
    parts = data.split(b"\n")
    tail = parts.pop()  # what follows the last newline: empty when the file ends cleanly
    lines = parts
    parsed: list[dict[str, Any] | _LineError] = []
    for line in lines:
        try:
            parsed.append(_parse_line(line))
        except _LineError as exc:
            parsed.append(exc)
    torn = None
    if tail:
        torn = TornTail(
            offset=len(data) - len(tail),
            torn_bytes=len(tail),
            reason=f"last line has no newline ({len(tail)} bytes): the write was cut short",
            seq=len(lines),
            sha256=sha256_hex(tail),
        )
    elif lines and isinstance(parsed[-1], _LineError):
        # Only the last line can be torn by a crash (power loss may leave garbage there).
        last = lines.pop()
        err = parsed.pop()
        torn = TornTail(
            offset=len(data) - len(last) - 1,
            torn_bytes=len(last) + 1,
            reason=f"last line: {err}",
            seq=len(lines),
            sha256=sha256_hex(last),
        )
    scan = _Scan(lines, [sha256_hex(x) for x in lines], parsed, torn)
    scan.records = [p for p in parsed if isinstance(p, dict)]
    scan.problem = _first_problem(scan)
    return scan


def _first_problem(scan: _Scan) -> Problem | None:
    lines, hashes, parsed = scan.lines, scan.hashes, scan.parsed
    n = len(lines)

    def prev_of(j: int) -> str | None:
        if 0 <= j < n and isinstance(parsed[j], dict):
            p = parsed[j].get("prev")  # type: ignore[union-attr]
            return p if isinstance(p, str) else None
        return None

    def hash_before(j: int) -> str:
        return hashes[j - 1] if j >= 1 else ZERO_HASH

    run_id0: str | None = None
    summed = False  # a record so far carried a sum: every later one must
    seen: dict[bytes, int] = {}
    for i in range(n):
        rec = parsed[i]
        if isinstance(rec, _LineError):
            return Problem(i, f"line {i + 1}: {rec}")
        # A byte-identical copy is the later of the two (which one was "first" is undecidable).
        if lines[i] in seen:
            return Problem(i, f"duplicate of line {seen[lines[i]] + 1} (replayed or copied record)")
        seen[lines[i]] = i
        missing = [k for k in REQUIRED_KEYS if k not in rec]
        if missing:
            return Problem(i, f"missing {', '.join(missing)}")
        seq, prev = rec["seq"], rec["prev"]
        if type(seq) is not int:
            return Problem(i, f"seq is not an integer: {seq!r}")
        if not isinstance(rec["run_id"], str) or not rec["run_id"]:
            return Problem(i, "run_id is not a non-empty string")
        if not isinstance(rec["event"], str) or not rec["event"]:
            return Problem(i, "event is not a non-empty string")
        if not isinstance(prev, str) or not _HEX64.fullmatch(prev):
            return Problem(i, "prev is not a lowercase hex SHA-256")
        try:
            parse_ts(rec["ts"])
        except ValueError as exc:
            return Problem(i, str(exc))
        if seq != i:
            return _seq_problem(i, seq, parsed, prev_of, hash_before)
        if run_id0 is None:
            run_id0 = rec["run_id"]
        elif rec["run_id"] != run_id0:
            return Problem(i, f"run_id {rec['run_id']!r} is not this log's {run_id0!r} (from another log?)")
        if i == 0 and rec["event"] != "run_started":
            return Problem(0, f"first record is {rec['event']!r}, not 'run_started'")
        if prev != hash_before(i):
            return _prev_problem(i, prev, n, hashes, prev_of, hash_before)
        problem = _tail_problem(i, lines[i], rec, summed)
        if problem is not None:
            return problem
        summed = summed or SUM in rec
        if i and parsed[i - 1]["event"] == "run_finished":  # type: ignore[index]
            sealed = str(parsed[i - 1].get("status") or "failed")  # type: ignore[union-attr]
            if rec["event"] != "run_resumed" or ran_to_end(sealed):
                why = "" if rec["event"] != "run_resumed" else f" (a {sealed} run cannot be resumed)"
                return Problem(i, f"record after the seal: run_finished (seq {i - 1}) closed the log, and "
                                  f"this {rec['event']} was appended after it{why}")
        if rec["event"] == "run_finished" and (summed or COUNT in rec or HEAD in rec) \
                and (rec.get(COUNT) != i or rec.get(HEAD) != prev):
            return Problem(i, f"run_finished's seal does not match the chain: count {rec.get(COUNT)!r} "
                              f"(expected {i}), head {'matches' if rec.get(HEAD) == prev else 'differs'}")
    if scan.torn is not None:
        cut = "no newline" in scan.torn.reason
        return Problem(scan.torn.seq, f"truncated: {scan.torn.reason}" if cut else f"{scan.torn.reason} (torn?)")
    if n == 0:
        return Problem(0, "empty log: no run_started record")
    return None


def _tail_problem(i: int, line: bytes, rec: dict[str, Any], summed: bool) -> Problem | None:
    tail = split_tail(line)
    if tail is None:
        if SUM in rec or MAC in rec:
            return Problem(i, "record altered: its sum is not the last field, where the writer puts it "
                              "(the line was re-encoded)")
        if summed:
            return Problem(i, "record altered: it has no sum, though the records before it have one")
        return None
    body, digest, _ = tail
    if rec.get(SUM) != digest or sha256_hex(body) != digest:
        return Problem(i, "record altered: its content does not match its sum")
    return None


def _mac_problem(scan: _Scan, key: AuditKey) -> Problem | None:
    """The first record `key` does not authenticate: every record from the first with a MAC on must
    carry one that matches (a MAC covers `prev`, so it vouches for the records before it too)."""
    keyed = False
    for i, line in enumerate(scan.lines):
        tail = split_tail(line)
        mac = tail[2] if tail is not None else None
        if mac is None:
            if keyed or i == len(scan.lines) - 1:
                return Problem(i, "no MAC: this record is not authenticated by the key (written without it, "
                                  "or rewritten)")
            continue
        keyed = True
        assert tail is not None
        if not hmac.compare_digest(key.mac(tail[0]), mac):
            named = scan.records[0].get(KEY_ID) if scan.records else None
            other = f" (the log names key {named!r}, this is {key.key_id!r})" if named and named != key.key_id else ""
            return Problem(i, f"MAC does not match: rewritten without the key, or written with another key{other}")
    return None


def kms_seal_problem(scan_lines: list[bytes], records: list[dict[str, Any]], sealer: Any) -> Problem | None:
    """The first seal KMS does not vouch for (every run_finished must carry a KMS MAC by `sealer`'s key
    that KMS verifies, and the log must end with one); None when they all hold."""
    last_sealed = False
    for i, (line, rec) in enumerate(zip(scan_lines, records, strict=False)):
        last_sealed = False
        if rec.get("event") != "run_finished":
            continue
        tail = split_tail(line)
        m = _KMS_TAIL.search(tail[0]) if tail is not None else None
        if m is None:
            why = f": {rec[KMS_ERROR]}" if isinstance(rec.get(KMS_ERROR), str) else ""
            return Problem(i, f"the seal has no KMS MAC{why}")
        named = json.loads(b'"' + m[1] + b'"')
        if named != sealer.key_id:
            return Problem(i, f"the seal is MAC'd with KMS key {named!r}, not {sealer.key_id!r}")
        message = hashlib.sha256(tail[0][: m.start()] + b"}").digest()  # type: ignore[index]
        if not sealer.verify(message, m[2].decode()):
            return Problem(i, f"KMS says the seal's MAC is not {sealer.key_id}'s: the log was rewritten")
        last_sealed = True
    if not last_sealed:
        return Problem(len(scan_lines) - 1 if scan_lines else 0,
                       "not sealed: the log does not end with a run_finished MAC'd with KMS (killed, or cut?)")
    return None


def _seq_problem(i: int, seq: int, parsed: list, prev_of: Callable, hash_before: Callable) -> Problem:
    # A repeated seq that chains to the record two lines up: the line before it was slipped in.
    if seq == i - 1 and prev_of(i) == hash_before(i - 1):
        return Problem(i - 1, f"record inserted: the next line repeats seq {i - 1} and chains past it")
    later = next(
        (j for j in range(i + 1, len(parsed)) if isinstance(parsed[j], dict) and parsed[j].get("seq") == i),
        None,
    )
    if later is not None:
        return Problem(i, f"records out of order: expected seq {i}, found seq {seq} (seq {i} is on line {later + 1})")
    if seq > i and prev_of(i) != hash_before(i):
        missing = f"seq {i}" if seq == i + 1 else f"seq {i}..{seq - 1}"
        return Problem(i, f"record missing: expected seq {i}, found seq {seq} ({missing} deleted?)")
    if seq < i:
        return Problem(i, f"expected seq {i}, found seq {seq} again (duplicated or replayed record)")
    return Problem(i, f"seq altered: expected {i}, found {seq}")


def _prev_problem(i: int, prev: str, n: int, hashes: list[str], prev_of: Callable, hash_before: Callable) -> Problem:
    if i == 0:
        return Problem(0, "first record's prev is not 64 zeros")
    # This record chains to the one two lines up: the line between was slipped in.
    if prev == hash_before(i - 1):
        return Problem(i - 1, f"record inserted: seq {i} chains past it to the record before")
    # The next record vouches for this one, so it is the line before that changed.
    if prev_of(i + 1) == hashes[i]:
        return Problem(i - 1, f"record altered: its SHA-256 does not match the prev stored in seq {i}")
    if prev_of(i + 1) is not None:
        # Neither neighbour vouches for this line: inserted (renumbered) or replaced.
        return Problem(
            i,
            f"record does not belong here: its prev matches no record before it, "
            f"and seq {i + 1} does not chain to it (inserted or replaced)",
        )
    return Problem(
        i - 1,
        f"record altered: its SHA-256 does not match the prev stored in seq {i} "
        f"(or seq {i}, the last record, was forged)",
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise AuditError(f"no audit log at {path}") from None
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc.strerror or exc}") from exc


def _result(scan: _Scan, *, require_finished: bool, key: AuditKey | None = None, kms: Any = None) -> VerifyResult:
    n = len(scan.lines)
    run_id = next((r["run_id"] for r in scan.records if isinstance(r.get("run_id"), str)), None)
    key_id = next((r[KEY_ID] for r in scan.records if isinstance(r.get(KEY_ID), str)), None)
    problem = scan.problem
    has_mac = any(MAC in r for r in scan.records)
    if problem is None and key is not None:
        problem = _mac_problem(scan, key)
    if problem is None and kms is not None:
        problem = kms_seal_problem(scan.lines, scan.records, kms)
    mac = VERIFIED if key is not None else NOT_CHECKED if has_mac else NO_MAC
    if problem is not None:
        intact = scan.records[: problem.seq]
        return VerifyResult(False, n, problem.seq, problem.reason, run_status(intact), run_id,
                            mac=NOT_CHECKED if key is None and has_mac else NO_MAC, key_id=key_id)
    status = run_status(scan.records)
    head = scan.hashes[-1]
    sealed_by = VERIFIED if kms is not None else NO_MAC
    if status != INCOMPLETE:
        return VerifyResult(True, n, None, "intact", status, run_id, head, mac, key_id, sealed_by)
    reason = (
        f"unfinished: no run_finished after seq {n - 1} "
        f"(the run was killed, or whole records were cut from the end)"
    )
    if require_finished:
        return VerifyResult(False, n, n, reason, status, run_id, head, mac, key_id)
    return VerifyResult(True, n, None, f"intact but {reason}", status, run_id, head, mac, key_id, sealed_by)


def verify_log(path: Path, *, require_finished: bool = False, key: AuditKey | None = None,
               kms: Any = None) -> VerifyResult:
    """Check the chain of the log at `path` (see the module docstring), with `key` every MAC, with
    `kms` (a KmsSealer) every seal, and against the heads its directory's ledger recorded at each
    seal; AuditError if unreadable."""
    scan = _scan(_read_bytes(path))
    _check_ledger(scan, Path(path))
    return _result(scan, require_finished=require_finished, key=key, kms=kms)


HEADS = ".heads"  # in the audit dir (not *.jsonl: not a run): one line per seal, {run_id, count, head}


def record_head(directory: Path, run_id: str, count: int, head: str) -> None:
    """Note a sealed log's length and head in the audit dir's ledger (best effort: the seal is what
    counts). A log later cut by whole lines, or rewritten, no longer matches it."""
    line = json.dumps({"run_id": run_id, "count": count, "head": head}, separators=(",", ":")).encode() + b"\n"
    try:
        # as shared as the audit dir: in a team's group dir every operator's seals are noted in one ledger
        mode = 0o600 | (stat.S_IMODE(os.stat(directory).st_mode) & 0o060)
        fd = os.open(Path(directory) / HEADS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    except OSError:
        return
    try:
        os.write(fd, line)  # one small O_APPEND write: whole, whoever else appends
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def recorded_heads(directory: Path, run_id: str) -> list[tuple[int, str]]:
    """(count, head) of every seal of run `run_id` the ledger in `directory` holds."""
    try:
        data = (Path(directory) / HEADS).read_bytes()
    except OSError:
        return []
    found = []
    for raw in data.splitlines():
        try:
            entry = json.loads(raw)
            if entry.get("run_id") == run_id and type(entry.get("count")) is int and isinstance(entry.get("head"), str):
                found.append((entry["count"], entry["head"]))
        except (ValueError, AttributeError):
            continue
    return found


def _check_ledger(scan: _Scan, path: Path) -> None:
    if scan.problem is not None or not scan.records:
        return
    run_id = scan.records[0].get("run_id")
    if not isinstance(run_id, str):
        return
    n = len(scan.lines)
    for count, head in sorted(recorded_heads(path.parent, run_id)):
        if count > n:
            scan.problem = Problem(n, f"cut tail: the audit dir's ledger ({HEADS}) recorded this run sealed with "
                                      f"{count} records, the log has {n} (whole records cut from the end)")
            return
        if scan.hashes[count - 1] != head:
            scan.problem = Problem(count - 1, f"record altered: its SHA-256 is not the head the audit dir's ledger "
                                              f"({HEADS}) recorded when the run was sealed (the log was rewritten)")
            return


def read_log(path: Path) -> LogRead:
    """Read a log for display: every parseable record, the torn tail, the first problem found."""
    path = Path(path)
    scan = _scan(_read_bytes(path))
    _check_ledger(scan, path)
    result = _result(scan, require_finished=False)
    return LogRead(path, scan.records, scan.torn, [scan.problem] if scan.problem else [], result)


# --- writing ------------------------------------------------------------------------------------


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AuditError(f"audit log {path} is in use by another hybridops process") from None


# Records that announce no action outside the process, so they need no fsync of their own: the next
# record's fsync (a request is announced by its own record, synced before it is sent) or close()
# makes them durable. Two fsyncs a step were half of the engine's cost per step. Every record of a
# dry run is of that kind too: it sends nothing, so its log is synced once, at run_finished.
GROUP_SYNCED = frozenset({"step_started"})


def _fsync_dir(directory: Path) -> None:
    # Makes the new file's name durable too. Best effort: some filesystems refuse fsync on a dir.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AuditLog:
    """An open audit log: `append` writes one record and returns only once it is on disk.

    Make one with `AuditLog.create` (a new run) or `AuditLog.open_for_append` (a resumed run).
    Thread-safe. After a failed write the log refuses further appends: the run must stop.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        run_id: str,
        *,
        next_seq: int,
        prev: str,
        secrets: Iterable[str],
        clock: Clock | None,
        key: AuditKey | None = None,
        sealed: str | None = None,
        sealer: Any = None,
    ) -> None:
        self._path = path
        self._key = key
        self._sealer = sealer  # a KmsSealer: MACs run_finished with a KMS key
        # The status a run_finished sealed the log with; only a run_resumed may follow it.
        self._sealed = sealed
        self._staging: Path | None = None  # a new log's temporary name until its first record
        self._fd: int | None = fd
        self._run_id = run_id
        self._seq = next_seq
        self._prev = prev
        self._clock = clock or (lambda: datetime.now(UTC))
        self._scrub = Scrubber()
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._unsynced = False  # a record written whose fsync is left to the next one (GROUP_SYNCED)
        self._dry_run = False  # a dry run does nothing outside: its records are synced at its seal or close
        self._listeners: list[Callable[[dict[str, Any]], Any]] = []
        self._before_seal: list[Callable[[], Any]] = []
        for s in secrets:
            self.add_secret(s)

    @classmethod
    def create(
        cls,
        directory: Path,
        run_id: str,
        *,
        secrets: Iterable[str] = (),
        clock: Clock | None = None,
        key: AuditKey | None = None,
        sealer: Any = None,
    ) -> AuditLog:
        """Create `<directory>/<run_id>.jsonl` (mode 0600, never overwriting); AuditError if impossible.

        The file is written under a hidden temporary name and takes its real name only once its
        first record is on disk, so a log that exists always holds at least `run_started`: a kill
        in between leaves nothing that `list`, `verify` or `resume` would mistake for a run.
        """
        directory = Path(directory)
        path = log_path(directory, run_id)
        staging = directory / f".{path.name}.new"
        ensure_private_dir(directory)
        if path.exists():
            raise AuditError(f"audit log {path} already exists")
        try:
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            raise AuditError(f"audit log {path} already exists") from None
        except OSError as exc:
            raise AuditError(f"cannot create audit log {path}: {exc.strerror or exc}") from exc
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)  # the umask can only have narrowed it; make it exactly 0600
        _lock(fd, staging)
        log = cls(path, fd, run_id, next_seq=0, prev=ZERO_HASH, secrets=secrets, clock=clock, key=key,
                  sealer=sealer)
        log._staging = staging
        return log

    @classmethod
    def open_for_append(
        cls,
        path: Path,
        *,
        secrets: Iterable[str] = (),
        clock: Clock | None = None,
        key: AuditKey | None = None,
        sealer: Any = None,
    ) -> tuple[AuditLog, list[dict[str, Any]], TornTail | None]:
        """Reopen a log to continue its chain: (log, existing records, torn tail that was cut or None).

        Raises ChainBroken (naming the seq) if the existing chain does not verify, AuditError if the
        file cannot be opened. A torn last line is truncated away (and fsynced) before returning;
        the caller should then record `log_repaired`.
        """
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise AuditError(f"no audit log at {path}") from None
        except OSError as exc:
            raise AuditError(f"cannot open audit log {path}: {exc.strerror or exc}") from exc
        _lock(fd, path)
        try:
            with open(path, "rb") as f:  # read after locking, so nobody appends meanwhile
                data = f.read()
            scan = _scan(data)
            problem = scan.problem
            # A torn tail is what we repair; an empty log (killed before its first line) may go on.
            repairable = not scan.lines or (
                scan.torn is not None and problem is not None and problem.seq == scan.torn.seq
            )
            if problem is not None and not repairable:
                raise ChainBroken(f"audit log {path.name} is broken at seq {problem.seq}: {problem.reason}")
            if scan.torn is not None:
                os.ftruncate(fd, scan.torn.offset)
                os.fsync(fd)
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
        except OSError as exc:
            os.close(fd)
            raise AuditError(f"cannot repair audit log {path}: {exc.strerror or exc}") from exc
        except BaseException:
            os.close(fd)
            raise
        run_id = scan.records[0]["run_id"] if scan.records else path.stem
        prev = scan.hashes[-1] if scan.lines else ZERO_HASH
        last = scan.records[-1] if scan.records and scan.torn is None else None
        sealed = str(last.get("status") or "failed") if last and last.get("event") == "run_finished" else None
        log = cls(path, fd, run_id, next_seq=len(scan.lines), prev=prev, secrets=secrets, clock=clock, key=key,
                  sealed=sealed, sealer=sealer)
        return log, scan.records, scan.torn

    @property
    def path(self) -> Path:
        return self._path

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def next_seq(self) -> int:
        """The seq the next record will get."""
        return self._seq

    @property
    def head(self) -> str:
        """SHA-256 of the last line written (64 zeros before the first)."""
        return self._prev

    @property
    def key_id(self) -> str | None:
        """The id of the key the records are authenticated with (None: not keyed)."""
        return self._key.key_id if self._key is not None else None

    @property
    def sealed(self) -> bool:
        """Whether a run_finished closed the log to every record but a run_resumed."""
        return self._sealed is not None

    def add_secret(self, secret: str) -> None:
        """Mask `secret` (if at least 4 characters) wherever it appears in later records."""
        if secret:
            with self._lock:
                self._scrub.add(secret)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one record, fsync it, and return it as written (secrets masked).

        Take the action the record announces only after this returns. AuditError if it cannot be
        written; the log then refuses every later append.
        """
        reserved = [k for k in LOG_KEYS if k in fields]
        if reserved:
            raise ValueError(f"audit record fields may not set {', '.join(reserved)}")
        if event == "run_finished":
            for hook in list(self._before_seal):  # outside the lock: a hook may append (ship_failed)
                hook()
        with self._lock:
            if self._fd is None:
                raise AuditError(f"audit log {self._path} is closed")
            if self._broken:
                raise AuditError(f"audit log {self._path} is unusable after a failed write: {self._broken}")
            if self._sealed is not None and (event != "run_resumed" or ran_to_end(self._sealed)):
                raise AuditError(f"audit log {self._path.name} is sealed by its run_finished: no {event} after it")
            record: dict[str, Any] = {
                "seq": self._seq,
                "ts": format_ts(self._clock()),
                "run_id": self._run_id,
                "event": self._scrub.text(event),
                "prev": self._prev,
            }
            record.update(self._scrub.value(fields))
            if self._key is not None and event in ("run_started", "run_resumed"):
                record[KEY_ID] = self._key.key_id
            if event == "run_finished":  # the seal: how many records it closes, and the head before it
                record[COUNT] = self._seq
                record[HEAD] = self._prev
            body = encode_record(record)
            if len(body) > MAX_RECORD_BYTES - _TAIL_ROOM:
                own = {k: v for k, v in record.items() if k not in LOG_KEYS}
                room = MAX_RECORD_BYTES - _TAIL_ROOM - (len(body) - len(encode_record(own)))
                record.update(bounded_fields(own, room))
                body = encode_record(record)
            if event == "run_finished" and self._sealer is not None:
                message = hashlib.sha256(body).digest()
                record[KMS_KEY] = self._sealer.key_id
                try:
                    record[KMS_MAC] = self._sealer.mac(message)
                except AuditError as exc:  # the run is over: the seal goes on disk, saying why it lacks this
                    record[KMS_ERROR] = self._scrub.text(str(exc))
                body = encode_record(record)
            # The integrity tail, appended to the bytes it covers (the same bytes encode_record would give).
            record[SUM], mac = integrity_tail(body, self._key)
            tail = b',"sum":"' + record[SUM].encode() + b'"'
            if mac is not None:
                record[MAC] = mac
                tail += b',"mac":"' + mac.encode() + b'"'
            line = body[:-1] + tail + b"}"
            with signals_deferred():  # an interrupt between writing and counting would reuse the seq
                try:
                    self._write_all(line + b"\n")
                    if event == "run_started" and fields.get("dry_run") is True:
                        self._dry_run = True
                    self._unsynced = ((event in GROUP_SYNCED or (self._dry_run and event != "run_finished"))
                                      and self._staging is None)
                    if not self._unsynced:
                        os.fsync(self._fd)
                except OSError as exc:
                    self._broken = exc.strerror or str(exc)
                    raise AuditError(f"cannot write audit log {self._path}: {self._broken}") from exc
                if self._staging is not None:  # the first record is on disk: now the log exists
                    try:
                        os.link(self._staging, self._path)  # never replaces a file of that name
                        os.unlink(self._staging)
                        _fsync_dir(self._path.parent)
                    except OSError as exc:
                        self._broken = exc.strerror or str(exc)
                        raise AuditError(f"cannot create audit log {self._path}: {self._broken}") from exc
                    self._staging = None
                self._seq += 1
                self._prev = sha256_hex(line)
                if event == "run_finished":
                    self._sealed = str(record.get("status") or "failed")
                    record_head(self._path.parent, self._run_id, self._seq, self._prev)
                elif event == "run_resumed":
                    self._sealed = None
            # Under the lock, so listeners see records in seq order.
            for listener in self._listeners:
                listener(record)
            return record

    def write(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append an event's record (`hybridops.events.to_record`): its `event` and its fields."""
        fields = dict(record)
        return self.append(str(fields.pop("event")), **fields)

    def write_event(self, event: Event) -> dict[str, Any]:
        """Append a typed event (for records written outside a run's Emitter: repairs, shipping)."""
        return self.write(to_record(event))

    def subscribe(self, listener: Callable[[dict[str, Any]], Any]) -> None:
        """Call `listener(record)` with each record once it is on disk (e.g. a `CloudWatchShipper`).

        Listeners run under the append lock and must be quick and must not raise (the shipper only
        enqueues). A listener may append to this log only from another thread.
        """
        with self._lock:
            self._listeners.append(listener)

    def before_seal(self, hook: Callable[[], Any]) -> None:
        """Call `hook()` just before run_finished seals the log (e.g. the shipper's `settle`), from the
        thread writing it; the hook may append and must not raise."""
        self._before_seal.append(hook)

    def _write_all(self, data: bytes) -> None:
        # Unbuffered os.write: nothing sits in a user-space buffer, so there is nothing to flush
        # but the kernel's, which fsync does.
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                if self._unsynced:
                    with contextlib.suppress(OSError):
                        os.fsync(fd)
                os.close(fd)
            if self._staging is not None:  # never got a record: there was no run to keep
                with contextlib.suppress(OSError):
                    os.unlink(self._staging)
                self._staging = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self._path)!r}, next_seq={self._seq})"
