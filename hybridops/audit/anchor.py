"""The CloudWatch Logs copy of a run's log as an anchor the operator cannot rewrite.

The shipper (`hybridops.audit.ship`) puts every record's exact line to one stream per run. Whoever
can edit the local file cannot, as a rule, rewrite that stream (CloudWatch Logs offers no API to edit
or delete single events), so comparing the two, record by record and head to head, shows a local
log that was cut, edited, extended or rewritten with a recomputed chain since it was shipped.

Nothing here imports typer or rich; boto3 is imported on first use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridops.audit.log import sha256_hex
from hybridops.errors import AuditError


@dataclass(frozen=True)
class AnchorResult:
    """How a local log compares with its CloudWatch copy: `problems`, one line each, empty when they match."""

    where: str  # group/stream
    local_records: int
    remote_records: int
    problems: list[str] = field(default_factory=list)
    local_head: str | None = None
    remote_head: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"where": self.where, "ok": self.ok, "local_records": self.local_records,
                "remote_records": self.remote_records, "local_head": self.local_head,
                "remote_head": self.remote_head, "problems": list(self.problems)}


def _ranges(seqs: Sequence[int]) -> str:
    """`3, 5..9, 12`: sorted seqs, runs folded."""
    out: list[str] = []
    ordered = sorted(seqs)
    start = prev = ordered[0]
    for s in [*ordered[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        out.append(str(start) if start == prev else f"{start}..{prev}")
        if s is not None:
            start = prev = s
    return ", ".join(out)


def _by_seq(lines: Sequence[bytes], what: str, problems: list[str]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for n, line in enumerate(lines, start=1):
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            seq = None
        if type(seq) is not int:
            problems.append(f"line {n} of {what} is not an audit record")
            continue
        if seq in found and found[seq] != line:
            problems.append(f"{what} holds two different records with seq {seq}")
        found.setdefault(seq, line)
    return found


def compare(local: Sequence[bytes], remote: Sequence[bytes], *, where: str,
            ship_failed: bool = False) -> AnchorResult:
    """Compare the local log's lines with the stream's messages (each the exact line shipped)."""
    problems: list[str] = []
    mine = _by_seq(local, "the local log", problems)
    theirs = _by_seq(remote, "the CloudWatch stream", problems)
    local_head = sha256_hex(mine[max(mine)]) if mine else None
    remote_head = sha256_hex(theirs[max(theirs)]) if theirs else None
    if not theirs:
        problems.append("the CloudWatch stream holds no record of this run")
        return AnchorResult(where, len(mine), 0, problems, local_head, remote_head)
    last_local = max(mine) if mine else -1
    gone = [s for s in theirs if s not in mine]
    cut = [s for s in gone if s > last_local]
    if cut:
        problems.append(f"cut tail: seq {_ranges(cut)} are in CloudWatch Logs but no longer in the local log")
    if len(gone) > len(cut):
        problems.append(f"missing: seq {_ranges([s for s in gone if s <= last_local])} are in CloudWatch Logs "
                        "but not in the local log")
    edited = [s for s in mine if s in theirs and mine[s] != theirs[s]]
    if edited:
        problems.append(f"edited: seq {_ranges(edited)} differ from the copies in CloudWatch Logs")
    extra = [s for s in mine if s not in theirs]
    if extra:
        why = ("never shipped: the log records a shipping failure" if ship_failed
               else "added to the local log, or never shipped")
        problems.append(f"not in CloudWatch Logs: seq {_ranges(extra)} ({why}); the anchor cannot vouch for them")
    if local_head != remote_head:
        problems.append(f"head differs: local {str(local_head)[:16]}..., CloudWatch {str(remote_head)[:16]}...")
    return AnchorResult(where, len(mine), len(theirs), problems, local_head, remote_head)


def stream_messages(client: Any, group: str, stream: str) -> list[bytes]:
    """Every message of a stream, oldest first (GetLogEvents, page by page)."""
    out: list[bytes] = []
    token: str | None = None
    while True:
        page = client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                                     **({"nextToken": token} if token else {}))
        out += [e["message"].encode("utf-8") for e in page.get("events", [])]
        nxt = page.get("nextForwardToken")
        if not page.get("events") or nxt == token:
            return out
        token = nxt


def compare_with_cloudwatch(path: Path, *, group: str, region: str, aws_profile: str | None) -> AnchorResult:
    """Read the stream named after the run in `group` and compare it with the log at `path`."""
    import boto3

    from hybridops.audit.ship import _error_code, _error_text  # the shipper's words for AWS errors

    local = [line for line in Path(path).read_bytes().split(b"\n") if line]
    stream = path.stem
    where = f"{group}/{stream}"
    try:
        client = boto3.session.Session(profile_name=aws_profile).client("logs", region_name=region)
        remote = stream_messages(client, group, stream)
    except Exception as exc:  # why: any botocore error is one line naming the stream, never a traceback
        if _error_code(exc) == "ResourceNotFoundException":
            return AnchorResult(where, len(local), 0, [f"no stream {stream} in {group}: the run was never "
                                                      "shipped, or the stream is gone"])
        raise AuditError(f"cannot read CloudWatch Logs {where}: {_error_text(exc)}") from None
    ship_failed = any(b'"event":"ship_failed"' in line for line in local)
    return compare(local, remote, where=where, ship_failed=ship_failed)
