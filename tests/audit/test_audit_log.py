"""The audit log writer: the contract's byte format, durability, modes, secrets, torn tails."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hybridops.audit import log as audit_log
from hybridops.audit.log import (
    ZERO_HASH,
    AuditLog,
    check_run_id,
    new_run_id,
    read_log,
    verify_log,
)
from hybridops.errors import AuditError, ChainBroken
from hybridops.events import StepStarted

TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def independent_check(data: bytes) -> list[dict]:
    """The contract checked from scratch, sharing no code with hybridops.audit.log."""
    assert data.endswith(b"\n")
    lines = data[:-1].split(b"\n")
    prev = "0" * 64
    records = []
    for i, line in enumerate(lines):
        rec = json.loads(line.decode("utf-8"))
        assert list(rec)[:5] == ["seq", "ts", "run_id", "event", "prev"]
        assert rec["seq"] == i
        assert rec["prev"] == prev
        assert TS.fullmatch(rec["ts"])
        assert line == json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        prev = hashlib.sha256(line).hexdigest()
        records.append(rec)
    assert len({r["run_id"] for r in records}) == 1
    return records


def small_log(directory: Path, run_id: str = "20261125T174102.123Z-x-0000", **kw) -> AuditLog:
    log = AuditLog.create(directory, run_id, **kw)
    log.append("run_started", runbook={"id": "x"}, operator="alice")
    log.append("step_started", step_id="a", title="Café ☕", budget_s=60)
    log.append("request", step_id="a", target="http", method="POST", url="/x", body={"n": 1}, mutating=True)
    return log


# --- run ids and the directory ------------------------------------------------------------------


def test_run_id_is_sortable_by_time_names_the_incident_and_is_file_safe() -> None:
    now = datetime(2026, 11, 25, 17, 41, 2, 123456, tzinfo=UTC)
    rid = new_run_id("bedrock-failure", now)
    assert re.fullmatch(r"20261125T174102\.123Z-bedrock-failure-[0-9a-f]{4}", rid)
    later = new_run_id("api-outage", datetime(2026, 11, 25, 17, 41, 2, 124000, tzinfo=UTC))
    assert sorted([later, rid]) == [rid, later]
    assert re.fullmatch(r".*Z-a-b-c-[0-9a-f]{4}", new_run_id("../a/b c", now))
    assert check_run_id(rid) == rid
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(AuditError):
            check_run_id(bad)


def resolve_audit_dir(flag: Path | None, *, create: bool = True) -> Path:
    """The audit dir as every command resolves it (hybridops.config: flag, env, profile, default)."""
    from hybridops.config import audit_directory, resolve_settings

    return audit_directory(resolve_settings(flag_audit_dir=flag), create=create)


def test_audit_dir_precedence_and_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = resolve_audit_dir(tmp_path / "flag")
    assert explicit == tmp_path / "flag"
    assert stat.S_IMODE(explicit.stat().st_mode) == 0o700
    monkeypatch.setenv("HYBRIDOPS_AUDIT_DIR", str(tmp_path / "env"))
    assert resolve_audit_dir(None) == tmp_path / "env"
    monkeypatch.delenv("HYBRIDOPS_AUDIT_DIR")
    default = resolve_audit_dir(None)
    assert default == tmp_path / "state" / "hybridops" / "audit"  # platformdirs, XDG_STATE_HOME
    assert stat.S_IMODE(default.stat().st_mode) == 0o700
    assert not resolve_audit_dir(tmp_path / "nothing", create=False).exists()


def test_audit_dir_created_0700_despite_umask_and_only_ours_tightened(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        fresh = resolve_audit_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    shared = tmp_path / "shared"  # named by the user and already there: may be shared on purpose
    shared.mkdir()
    os.chmod(shared, 0o750)
    resolve_audit_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750
    default = tmp_path / "state" / "hybridops" / "audit"  # ours alone: tightened
    default.mkdir(parents=True)
    os.chmod(default, 0o755)
    os.environ.pop("HYBRIDOPS_AUDIT_DIR")
    assert resolve_audit_dir(None) == default
    assert stat.S_IMODE(default.stat().st_mode) == 0o700


def test_audit_dir_that_is_a_file_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(AuditError, match=r"^audit dir .*f is not a directory$"):
        resolve_audit_dir(tmp_path / "f")
    with pytest.raises(AuditError, match=r"^cannot create audit dir .*f/audit: Not a directory$"):
        AuditLog.create(tmp_path / "f" / "audit", "r1")


# --- the format ---------------------------------------------------------------------------------


def test_records_follow_the_contract_byte_for_byte(audit_dir: Path) -> None:
    log = small_log(audit_dir)
    written = log.append("run_finished", status="completed", duration_s=1.5)
    log.close()
    data = log.path.read_bytes()
    records = independent_check(data)
    assert [r["event"] for r in records] == ["run_started", "step_started", "request", "run_finished"]
    assert records[0]["prev"] == ZERO_HASH
    assert records[-1] == written  # append returns the record exactly as written
    assert "Café ☕".encode() in data  # UTF-8, not \u escapes
    assert log.path.name == f"{log.run_id}.jsonl"


def test_file_is_0600_and_never_overwritten(audit_dir: Path) -> None:
    old = os.umask(0o000)
    try:
        log = small_log(audit_dir)
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(audit_dir.stat().st_mode) == 0o700
    with pytest.raises(AuditError, match="already exists"):
        AuditLog.create(audit_dir, log.run_id)
    log.close()


def test_each_append_is_written_and_fsynced_before_it_returns(
    audit_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog.create(audit_dir, "r-fsync")
    synced: list[int] = []
    real_fsync = os.fsync

    staging = audit_dir / f".{log.path.name}.new"  # a new log's name until its first record is on disk

    def spy(fd: int) -> None:
        real_fsync(fd)
        if fd == log._fd:  # not the directory fsync that publishes the new log's name
            on_disk = log.path if log.path.exists() else staging
            synced.append(on_disk.read_bytes().count(b"\n"))  # complete lines on disk at fsync time

    monkeypatch.setattr(os, "fsync", spy)
    for i in range(5):
        log.append("run_started" if i == 0 else "note", i=i)
        assert synced[-1] == i + 1  # this record's line was complete and fsynced before return
    assert synced == [1, 2, 3, 4, 5]
    log.close()


def test_a_step_started_rides_on_the_next_fsync_and_close_syncs_what_is_left(
    audit_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog.create(audit_dir, "r-group")
    synced: list[int] = []  # complete lines on disk at each fsync of the log's file
    real_fsync = os.fsync
    fd = log._fd
    staging = audit_dir / f".{log.path.name}.new"

    def spy(n: int) -> None:
        real_fsync(n)
        if n == fd:
            synced.append((log.path if log.path.exists() else staging).read_bytes().count(b"\n"))

    monkeypatch.setattr(os, "fsync", spy)
    log.append("run_started", runbook={"id": "x"})
    log.append("step_started", step_id="a")
    assert synced == [1]  # announces nothing done outside: no fsync of its own
    log.append("request", step_id="a", target="http", method="POST", url="/x", mutating=True)
    assert synced == [1, 3]  # the request's fsync makes both durable before it is sent
    log.append("step_started", step_id="b")
    log.close()
    assert synced == [1, 3, 4]  # the last one is synced at close


def test_a_dry_run_is_synced_once_at_its_seal(audit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog.create(audit_dir, "r-dry")
    fd, staging = log._fd, audit_dir / f".{log.path.name}.new"
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(n: int) -> None:
        real_fsync(n)
        if n == fd:
            synced.append((log.path if log.path.exists() else staging).read_bytes().count(b"\n"))

    monkeypatch.setattr(os, "fsync", spy)
    log.append("run_started", runbook={"id": "x"}, dry_run=True)
    for i in range(3):
        log.append("request", step_id=f"s{i}", target="http", method="POST", url="/x", dry_run=True)
    assert synced == [1]  # the first record publishes the log; nothing after it was sent anywhere
    log.append("run_finished", status="completed")
    assert synced == [1, 5]
    log.close()


def test_write_failure_is_one_line_audit_error_and_the_log_stays_stopped(
    audit_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog.create(audit_dir, "r-full")
    log.append("run_started")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(AuditError) as info:
        log.append("request", step_id="a")
    assert str(info.value) == f"cannot write audit log {log.path}: No space left on device"
    monkeypatch.undo()
    with pytest.raises(AuditError, match="unusable after a failed write"):
        log.append("request", step_id="a")
    log.close()
    with pytest.raises(AuditError, match="closed"):
        log.append("x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory_stops_before_anything(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(AuditError, match=r"^cannot create audit log .*: Permission denied$"):
        AuditLog.create(locked, "r1")


def test_reserved_fields_cannot_be_overridden(audit_dir: Path) -> None:
    with AuditLog.create(audit_dir, "r-reserved") as log, pytest.raises(ValueError, match="seq, prev"):
        log.append("run_started", seq=7, prev="x")


def test_values_json_cannot_hold_are_recorded_as_text(audit_dir: Path) -> None:
    with AuditLog.create(audit_dir, "r-values") as log:
        rec = log.append(
            "run_started",
            when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            path=Path("/a/b"),
            tags={"b", "a"},
            ratio=float("nan"),
            raw=b"\xffok",
            pair=(1, 2),
            numbers={1: "one"},
        )
    assert rec["when"] == "2026-01-02T03:04:05.000Z"
    assert rec["path"] == "/a/b" and rec["tags"] == ["a", "b"] and rec["ratio"] == "nan"
    assert rec["raw"] == "\ufffdok" and rec["pair"] == [1, 2] and rec["numbers"] == {"1": "one"}
    assert verify_log(log.path).ok


# --- secrets ------------------------------------------------------------------------------------


def test_registered_secrets_are_masked_everywhere(audit_dir: Path) -> None:
    token, hook = "tok-3f9a8b7c6d", "https://hooks.slack.test/T000/B000/XYZsecret"
    log = AuditLog.create(audit_dir, "r-secrets", secrets=[token, "abc"])  # "abc": too short to mask
    log.append(
        "run_started",
        argv=["--var", f"admin_token={token}"],
        variables={"admin_token": token, "nested": [{"h": f"Bearer {token}"}]},
        answers={token: "key too"},
        note="abc stays",
    )
    log.add_secret(hook)
    log.add_secret("4242424242")
    log.append("request", target="slack", url=hook, body={"text": "paging", "pin": 4242424242})
    log.close()
    data = log.path.read_bytes()
    assert token.encode() not in data and hook.encode() not in data and b"4242424242" not in data
    records = independent_check(data)
    assert records[0]["variables"] == {"admin_token": "***", "nested": [{"h": "Bearer ***"}]}
    assert records[0]["answers"] == {"***": "key too"}
    assert records[0]["note"] == "abc stays"
    assert records[1]["url"] == "***" and records[1]["body"]["pin"] == "***"


# --- concurrency --------------------------------------------------------------------------------


def test_appends_from_many_threads_keep_one_chain(audit_dir: Path) -> None:
    log = AuditLog.create(audit_dir, "r-threads")
    log.append("run_started")

    def work(n: int) -> None:
        for i in range(100):
            log.append("note", thread=n, i=i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert len(independent_check(log.path.read_bytes())) == 801


def test_a_second_writer_is_refused(audit_dir: Path) -> None:
    log = small_log(audit_dir)
    with pytest.raises(AuditError, match="in use by another hybridops process"):
        AuditLog.open_for_append(log.path)
    log.close()
    other, records, torn = AuditLog.open_for_append(log.path)
    assert len(records) == 3 and torn is None
    other.close()


def test_the_log_is_a_sink_and_feeds_listeners_in_order(audit_dir: Path) -> None:
    seen: list[int] = []
    with AuditLog.create(audit_dir, "r-sink") as log:
        log.subscribe(lambda rec: seen.append(rec["seq"]))
        log.write({"event": "run_started", "operator": "alice"})
        log.write_event(StepStarted(step_id="a"))
    assert seen == [0, 1]
    assert independent_check(log.path.read_bytes())[0]["operator"] == "alice"


# --- torn tails and appending on ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b'{"seq":3,"ts":"2026-11-25T17:4', "last line has no newline (30 bytes)"),
        (b'{"seq":3,"ts":garbage}\n', "last line: not valid JSON"),
        (b"\x00\x00\x00\x00", "last line has no newline (4 bytes)"),
    ],
)
def test_torn_tail_is_detected_cut_returned_and_the_chain_continues(
    audit_dir: Path, tail: bytes, reason: str
) -> None:
    log = small_log(audit_dir)
    log.close()
    good = log.path.read_bytes()
    head = hashlib.sha256(good.split(b"\n")[-2]).hexdigest()
    with open(log.path, "ab") as f:
        f.write(tail)
    assert verify_log(log.path).first_bad_seq == 3

    again, records, torn = AuditLog.open_for_append(log.path)
    assert torn is not None
    assert (torn.offset, torn.torn_bytes, torn.seq) == (len(good), len(tail), 3)
    assert torn.reason.startswith(reason)
    assert torn.sha256 == hashlib.sha256(tail.rstrip(b"\n")).hexdigest()
    assert log.path.read_bytes() == good  # cut back to the last complete line
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert (again.next_seq, again.head) == (3, head)

    repaired = again.append("log_repaired", torn_bytes=torn.torn_bytes, reason=torn.reason)
    again.append("run_resumed", from_seq=3)
    again.append("run_finished", status="completed")
    again.close()
    assert repaired["seq"] == 3 and repaired["prev"] == head
    assert len(independent_check(log.path.read_bytes())) == 6
    result = verify_log(log.path)
    assert result.ok and result.status == "completed"


def test_open_for_append_refuses_a_broken_chain_naming_the_seq(audit_dir: Path) -> None:
    log = small_log(audit_dir)
    log.close()
    lines = log.path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"Caf", b"caf")
    log.path.write_bytes(b"\n".join(lines))
    with pytest.raises(ChainBroken, match=r"broken at seq 1: record altered"):
        AuditLog.open_for_append(log.path)
    with pytest.raises(AuditError, match="no audit log at"):
        AuditLog.open_for_append(audit_dir / "missing.jsonl")


def test_a_run_killed_before_its_first_line_can_go_on(audit_dir: Path) -> None:
    path = audit_dir / "r-empty.jsonl"
    audit_dir.mkdir(mode=0o700)
    path.write_bytes(b'{"seq":0,"ts"')
    log, records, torn = AuditLog.open_for_append(path)
    assert records == [] and torn is not None and torn.seq == 0 and log.next_seq == 0
    assert log.run_id == "r-empty"
    log.close()


WRITER = """
import sys, os
from hybridops.audit.log import AuditLog
log = AuditLog.create(sys.argv[1], sys.argv[2])
log.append("run_started", runbook={"id": "x"})
print("ready", flush=True)
i = 0
while True:
    log.append("request", step_id=f"s{i}", params={"pad": "x" * (i % 700)})
    log.append("response", step_id=f"s{i}", ok=True)
    i += 1
"""


def test_sigkill_at_random_moments_leaves_a_log_that_resumes_and_verifies(audit_dir: Path) -> None:
    audit_dir.mkdir(mode=0o700)
    for n in range(6):
        run_id = f"r-kill-{n}"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(audit_dir), run_id], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.005 + 0.013 * n)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        path = audit_dir / f"{run_id}.jsonl"
        read = read_log(path)
        assert not read.problems or read.torn is not None  # only ever a torn last line
        log, records, torn = AuditLog.open_for_append(path)
        if torn:
            log.append("log_repaired", torn_bytes=torn.torn_bytes, reason=torn.reason)
        log.append("run_resumed", from_seq=len(records))
        log.append("run_finished", status="completed")
        log.close()
        result = verify_log(path, require_finished=True)
        assert result.ok, result
        independent_check(path.read_bytes())


def test_module_never_imports_typer_or_rich() -> None:
    source = Path(audit_log.__file__).parent
    for module in source.glob("*.py"):
        text = module.read_text()
        assert not re.search(r"^\s*(import|from)\s+(typer|rich)\b", text, re.M), module


def test_a_new_log_takes_its_name_only_with_its_first_record(audit_dir: Path) -> None:
    log = AuditLog.create(audit_dir, "r-staged")
    assert not log.path.exists()  # killed now, nothing would look like a run
    assert [p.name for p in audit_dir.iterdir()] == [".r-staged.jsonl.new"]
    log.append("run_started")
    assert [p.name for p in audit_dir.iterdir()] == ["r-staged.jsonl"]
    assert log.path.read_bytes().count(b"\n") == 1
    log.append("note")
    log.close()
    assert verify_log(log.path).ok


def test_text_a_terminal_would_obey_is_escaped_in_the_file_and_reads_back_the_same(audit_dir: Path) -> None:
    hostile = "page\x1b[2J\x9b31m \u202egnp.exe \u2066x\u2069 line\u2028sep \x7f café ☕"
    log = AuditLog.create(audit_dir, "r-inert")
    log.append("run_started", runbook={"id": "x"})
    log.append("response", step_id="a", summary=hostile)
    log.close()
    raw = log.path.read_bytes().decode("utf-8")
    assert not any(c in raw for c in "\x1b\x9b\u202e\u2066\u2069\u2028\x7f"), raw
    assert "café ☕" in raw  # other text stays readable as it is
    assert read_log(log.path).records[1]["summary"] == hostile
