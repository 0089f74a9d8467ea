"""Tamper evidence (issue 12 §4): the seal, the sums, the keyed MACs and the record size cap.

Each test forges a log the way an operator with write access to the file would: append after the end,
edit the last record, cut the tail, or rewrite the whole file with a recomputed chain.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from audit_known_run import DATA, RUN_ID

from hybridops.audit.log import (
    HEADS,
    MAX_RECORD_BYTES,
    AuditKey,
    AuditLog,
    encode_record,
    integrity_tail,
    read_log,
    verify_log,
)
from hybridops.cli.app import run
from hybridops.errors import AuditError, ConfigError

KEY = AuditKey.from_text("oncall-team", "correct horse battery staple 42")
LINES = DATA.read_bytes().split(b"\n")[:-1]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def keyed_run(directory: Path, key: AuditKey | None = KEY, *, finish: str | None = "completed") -> Path:
    log = AuditLog.create(directory, RUN_ID, key=key)
    log.append("run_started", runbook={"id": "bedrock-failure"}, operator="alice")
    for i in range(4):
        log.append("step_started", step_id=f"s{i}")
        log.append("step_finished", step_id=f"s{i}", status="ok")
    if finish:
        log.append("run_finished", status=finish)
    log.close()
    return log.path


def rewrite(lines: list[bytes], key: AuditKey | None = None, *, keep_macs: bool = False) -> list[bytes]:
    """What a forger who knows the format (but not the key) does: recompute every prev and sum."""
    out: list[bytes] = []
    prev = "0" * 64
    for line in lines:
        rec = json.loads(line)
        mac = rec.pop("mac", None)
        rec.pop("sum", None)
        rec["prev"] = prev
        if rec["event"] == "run_finished":
            rec["count"], rec["head"] = len(out), prev
        rec["sum"], new_mac = integrity_tail(encode_record(rec), key)
        if new_mac or (keep_macs and mac):
            rec["mac"] = new_mac or mac
        out.append(encode_record(rec))
        prev = hashlib.sha256(out[-1]).hexdigest()
    return out


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def forged_after(lines: list[bytes], event: str = "response", **fields: object) -> bytes:
    """A record chained correctly onto the last line, with a correct sum."""
    last = json.loads(lines[-1])
    rec = {"seq": last["seq"] + 1, "ts": last["ts"], "run_id": last["run_id"], "event": event,
           "prev": hashlib.sha256(lines[-1]).hexdigest(), **fields}
    rec["sum"], _ = integrity_tail(encode_record(rec), None)
    return encode_record(rec)


# --- the seal ------------------------------------------------------------------------------------


def test_run_finished_seals_the_log_with_its_count_and_head(audit_dir: Path) -> None:
    log = AuditLog.create(audit_dir, RUN_ID)
    log.append("run_started", runbook={"id": "x"})
    log.append("step_started", step_id="a")
    head = log.head
    sealed = log.append("run_finished", status="completed")
    assert (sealed["count"], sealed["head"]) == (2, head)
    with pytest.raises(AuditError, match="sealed by its run_finished: no ship_failed after it"):
        log.append("ship_failed", error="late")
    log.close()
    assert verify_log(log.path).ok


@pytest.mark.parametrize("event", ["response", "ship_failed", "step_finished", "run_finished", "run_resumed"])
def test_a_record_appended_after_a_completed_run_is_named(tmp_path: Path, event: str) -> None:
    lines = LINES + [forged_after(LINES, event, step_id="restart-service", ok=True, status="completed")]
    result = verify_log(write(tmp_path / "x.jsonl", lines))
    assert (result.ok, result.first_bad_seq) == (False, len(LINES))
    assert result.reason.startswith("record after the seal: run_finished (seq 21) closed the log")


def test_a_resume_after_an_interrupted_run_is_not_an_append_after_the_seal(audit_dir: Path) -> None:
    path = keyed_run(audit_dir, finish="interrupted")
    log, _, _ = AuditLog.open_for_append(path, key=KEY)
    with pytest.raises(AuditError, match="sealed"):
        log.append("step_started", step_id="s9")  # only a run_resumed may follow the seal
    log.append("run_resumed", from_step="s0")
    log.append("run_finished", status="completed")
    log.close()
    result = verify_log(path, key=KEY)
    assert (result.ok, result.status, result.mac) == (True, "completed", "verified")


def test_a_run_that_ran_to_its_end_cannot_be_resumed_by_a_forged_record(audit_dir: Path) -> None:
    path = keyed_run(audit_dir, key=None)
    lines = path.read_bytes().split(b"\n")[:-1]
    result = verify_log(write(path, lines + [forged_after(lines, "run_resumed", from_step="s0")]))
    assert not result.ok and "a completed run cannot be resumed" in result.reason


def test_a_seal_that_does_not_match_the_chain_is_named(tmp_path: Path) -> None:
    rec = json.loads(LINES[-1])
    rec["count"] = 5
    forged = rewrite(LINES[:-1] + [encode_record(rec)])  # even with a recomputed sum
    bad = json.loads(forged[-1])
    bad["count"] = 5
    bad.pop("sum")
    bad["sum"], _ = integrity_tail(encode_record(bad), None)
    result = verify_log(write(tmp_path / "x.jsonl", forged[:-1] + [encode_record(bad)]))
    assert (result.ok, result.first_bad_seq) == (False, 21)
    assert result.reason.startswith("run_finished's seal does not match the chain: count 5 (expected 21)")


# --- the last record -------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(b'"status":"completed"', b'"status":"failed"'),
                                          (b'"duration_s":608.0', b'"duration_s":60.0'),
                                          (b'"error":null', b'"error":"x"')])
def test_an_edited_last_record_is_named(tmp_path: Path, old: bytes, new: bytes) -> None:
    lines = list(LINES)
    assert old in lines[-1]
    lines[-1] = lines[-1].replace(old, new)
    result = verify_log(write(tmp_path / "x.jsonl", lines))
    assert (result.ok, result.first_bad_seq) == (False, 21)
    assert result.reason == "record altered: its content does not match its sum"


def test_a_last_record_re_encoded_or_stripped_of_its_sum_is_named(tmp_path: Path) -> None:
    rec = json.loads(LINES[-1])
    rec["status"] = "failed"
    reencoded = json.dumps(rec, separators=(",", ":"), sort_keys=True).encode()
    assert not verify_log(write(tmp_path / "x.jsonl", LINES[:-1] + [reencoded])).ok
    rec.pop("sum")
    result = verify_log(write(tmp_path / "x.jsonl", LINES[:-1] + [encode_record(rec)]))
    assert (result.ok, result.first_bad_seq) == (False, 21)
    assert result.reason == "record altered: it has no sum, though the records before it have one"


def test_an_edited_last_record_of_an_unfinished_run_is_named(audit_dir: Path) -> None:
    path = keyed_run(audit_dir, key=None, finish=None)
    lines = path.read_bytes().split(b"\n")[:-1]
    lines[-1] = lines[-1].replace(b'"status":"ok"', b'"status":"failed"')
    result = verify_log(write(path, lines))
    assert (result.ok, result.first_bad_seq) == (False, len(lines) - 1)


# --- the cut tail ----------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 2, 5])
def test_a_cut_tail_is_an_error_only_when_a_finished_run_is_required(
        capsys: pytest.CaptureFixture[str], known_run: Path, m: int) -> None:
    write(known_run, LINES[:-m])
    assert verify_log(known_run).ok  # it looks like a run killed with SIGKILL
    code, out, err = cli(capsys, "verify", RUN_ID, "--require-finished")
    assert (code, out) == (1, "")
    assert f"broken at seq {len(LINES) - m}: unfinished: no run_finished after seq {len(LINES) - m - 1}" in err


@pytest.mark.parametrize("m", [1, 3])
def test_the_ledger_of_heads_catches_a_cut_tail_and_a_rewrite_in_its_dir(audit_dir: Path, m: int) -> None:
    path = keyed_run(audit_dir, key=None)
    lines = path.read_bytes().split(b"\n")[:-1]
    assert json.loads((audit_dir / HEADS).read_text()) == {
        "run_id": RUN_ID, "count": len(lines), "head": hashlib.sha256(lines[-1]).hexdigest()}
    write(path, lines[:-m])
    result = verify_log(path)
    assert (result.ok, result.first_bad_seq) == (False, len(lines) - m)
    assert result.reason == (f"cut tail: the audit dir's ledger (.heads) recorded this run sealed with {len(lines)} "
                             f"records, the log has {len(lines) - m} (whole records cut from the end)")
    edited = list(lines)
    edited[2] = edited[2].replace(b'"status":"ok"', b'"status":"failed"')
    write(path, rewrite(edited))
    result = verify_log(path)
    assert (result.ok, result.first_bad_seq) == (False, len(lines) - 1)
    assert result.reason.startswith("record altered: its SHA-256 is not the head the audit dir's ledger")
    assert not read_log(path).verify.ok  # show and timeline warn too


def test_a_deleted_log_is_named_by_the_ledger(capsys: pytest.CaptureFixture[str], audit_dir: Path) -> None:
    keyed_run(audit_dir, key=None).unlink()
    code, out, err = cli(capsys, "verify", RUN_ID)
    assert (code, out) == (1, "")
    assert err == (f"error: no audit log for run {RUN_ID!r} in {audit_dir}, though the audit dir's ledger (.heads) "
                   "recorded it sealed with 10 records (deleted?)\n")


# --- the key ---------------------------------------------------------------------------------------


def test_a_keyed_log_verifies_with_its_key_and_names_it(audit_dir: Path) -> None:
    path = keyed_run(audit_dir)
    result = verify_log(path, key=KEY)
    assert (result.ok, result.mac, result.key_id) == (True, "verified", "oncall-team")
    first = json.loads(path.read_bytes().split(b"\n")[0])
    assert first["key_id"] == "oncall-team" and len(first["mac"]) == 64
    assert KEY.secret.decode() not in path.read_text(encoding="utf-8")
    assert "correct horse" not in repr(KEY)
    unkeyed = verify_log(path)
    assert (unkeyed.ok, unkeyed.mac) == (True, "not checked")


def test_a_recomputed_chain_passes_without_the_key_and_fails_with_it(audit_dir: Path) -> None:
    path = keyed_run(audit_dir)
    lines = path.read_bytes().split(b"\n")[:-1]
    assert b'"status":"ok"' in lines[4]
    lines[4] = lines[4].replace(b'"status":"ok"', b'"status":"failed"')
    for forged in (rewrite(lines), rewrite(lines, keep_macs=True),
                   rewrite(lines, AuditKey.from_text("oncall-team", "a guess at the team's key"))):
        write(path, forged)
        (audit_dir / HEADS).unlink(missing_ok=True)  # a careful forger rewrites the ledger too
        without = verify_log(path)
        assert without.ok and without.mac != "verified"  # what no key can tell
        with_key = verify_log(path, key=KEY)
        assert not with_key.ok, forged
        assert with_key.first_bad_seq in (0, 4, 9), with_key  # the first MAC that fails, or the missing one
        assert "MAC" in with_key.reason


def test_the_known_run_rewritten_verifies_as_consistent_but_not_authenticated(
        capsys: pytest.CaptureFixture[str], known_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = list(LINES)
    lines[8] = lines[8].replace(b'"status":200', b'"status":500')
    write(known_run, rewrite(lines))
    code, out, _ = cli(capsys, "verify", RUN_ID)
    assert code == 0
    assert out.splitlines()[0] == ("chain consistent: 22 records; not authenticated: the log has no MAC, so a "
                                   "rewrite that recomputes the chain would not show (configure audit.hmac_key)")
    assert "intact" not in out.splitlines()[0]
    monkeypatch.setenv("TEAM_KEY", "correct horse battery staple 42")
    code, out, err = cli(capsys, "verify", RUN_ID, "--key-env", "TEAM_KEY")
    assert (code, out) == (1, "")
    assert err == (f"error: {RUN_ID}.jsonl: broken at seq 21: no MAC: this record is not authenticated by the "
                   "key (written without it, or rewritten)\n")


def test_verify_with_the_key_from_the_environment_or_a_profile(
        capsys: pytest.CaptureFixture[str], audit_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyed_run(audit_dir)
    code, out, _ = cli(capsys, "verify", RUN_ID)
    assert code == 0 and out.startswith("chain consistent: 10 records; MAC not checked: the log is keyed "
                                        "(key 'oncall-team')")
    monkeypatch.setenv("HYBRIDOPS_AUDIT_KEY", "correct horse battery staple 42")
    monkeypatch.setenv("HYBRIDOPS_AUDIT_KEY_ID", "oncall-team")
    code, out, _ = cli(capsys, "verify", RUN_ID)
    assert (code, out.splitlines()[0]) == (0, "intact: 10 records, every MAC verified (key oncall-team)")
    monkeypatch.delenv("HYBRIDOPS_AUDIT_KEY")
    monkeypatch.setenv("OTHER_KEY", "not the key the team uses at all")
    config = tmp_path / "c.toml"
    config.write_text('[profiles.t.audit]\nhmac_key = "env:OTHER_KEY"\nkey_id = "oncall-team"\n', encoding="utf-8")
    code, out, err = cli(capsys, "verify", RUN_ID, "--config", str(config), "--profile", "t")
    assert (code, out) == (1, "")
    assert "broken at seq 0: MAC does not match: rewritten without the key, or written with another key" in err
    assert "not the key" not in err
    code, _, err = cli(capsys, "verify", RUN_ID, "--key-env", "NOPE")
    assert (code, err) == (1, "error: --key-env NOPE: that environment variable is unset or empty\n")
    monkeypatch.setenv("SHORT", "abc")
    code, _, err = cli(capsys, "verify", RUN_ID, "--key-env", "SHORT")
    assert code == 1 and "too short" in err and "abc" not in err


def test_verify_json_says_what_was_checked(capsys: pytest.CaptureFixture[str], audit_dir: Path) -> None:
    keyed_run(audit_dir)
    code, out, _ = cli(capsys, "verify", RUN_ID, "--format", "json")
    data = json.loads(out)
    assert (code, data["ok"], data["mac"], data["key_id"]) == (0, True, "not checked", "oncall-team")


# --- the size cap ----------------------------------------------------------------------------------


def test_a_huge_record_is_summarised_with_the_hash_of_what_it_replaced(audit_dir: Path) -> None:
    body = "x" * (5 * 1024 * 1024)
    nested = {"items": [{"name": f"i{i}", "blob": "y" * 20_000} for i in range(40)], "count": 40}
    log = AuditLog.create(audit_dir, RUN_ID)
    log.append("run_started", runbook={"id": "x"})
    record = log.append("response", step_id="s", ok=True, status=200, summary=body, result=nested)
    log.append("run_finished", status="completed")
    log.close()
    lines = log.path.read_bytes().split(b"\n")
    assert max(len(line) for line in lines) <= MAX_RECORD_BYTES
    written = json.loads(lines[1])
    assert written == record
    assert (written["step_id"], written["ok"], written["status"]) == ("s", True, 200)  # small fields kept
    summary = written["summary"]
    assert summary["summarized"] is True and summary["type"] == "string"
    assert summary["bytes"] == len(encode_record(body))
    assert summary["sha256"] == hashlib.sha256(encode_record(body)).hexdigest()
    assert summary["prefix"].startswith('"xxxx') and len(summary["prefix"]) <= 200
    assert written["result"]["count"] == 40  # the structure kept where it fits, the big parts summarised
    assert json.dumps(written["result"]).count('"summarized": true') >= 1
    result = verify_log(log.path)
    assert result.ok and read_log(log.path).status == "completed"


def test_records_under_the_cap_are_written_whole(audit_dir: Path) -> None:
    log = AuditLog.create(audit_dir, RUN_ID)
    value = "z" * (MAX_RECORD_BYTES - 2000)
    record = log.append("run_started", runbook={"id": "x"}, note=value)
    log.close()
    assert record["note"] == value


def test_a_log_cut_after_its_seal_is_not_resumed(audit_dir: Path) -> None:
    from hybridops.engine.resume import find_resumable
    from hybridops.errors import ResumeRefused

    path = keyed_run(audit_dir, key=None, finish="failed")  # a failed run may be resumed...
    lines = path.read_bytes().split(b"\n")[:-1]
    write(path, lines[:-1])  # ...but not once its seal was cut away to hide how it ended
    with pytest.raises(ResumeRefused, match=r"is broken at seq 9: cut tail: the audit dir's ledger"):
        find_resumable(path, force=False)


def test_the_key_is_a_secret_config_show_masks(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridops.config import audit_key, resolve_settings

    monkeypatch.setenv("HYBRIDOPS_AUDIT_KEY", "correct horse battery staple 42")
    monkeypatch.setenv("HYBRIDOPS_AUDIT_KEY_ID", "oncall-team")
    settings = resolve_settings()
    assert "correct horse battery staple 42" in settings.secrets()  # scrubbed from every output and log
    assert audit_key(settings) == KEY
    assert ("audit_key", "***", "env HYBRIDOPS_AUDIT_KEY") in settings.rows()
    assert run(["config", "show", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "audit_key" in out and "correct horse" not in out
    monkeypatch.setenv("HYBRIDOPS_AUDIT_KEY", "xyzzy")
    with pytest.raises(ConfigError) as exc:
        audit_key(resolve_settings())
    assert str(exc.value) == ("audit key 'oncall-team' is too short: at least 16 characters "
                              "(from env HYBRIDOPS_AUDIT_KEY)")


def test_one_log_one_key_a_resume_needs_the_logs_key(audit_dir: Path) -> None:
    from hybridops.engine.resume import check_key
    from hybridops.errors import ResumeRefused

    keyed = [json.loads(line) for line in keyed_run(audit_dir, finish="interrupted").read_bytes().splitlines()]
    check_key(keyed, KEY)
    with pytest.raises(ResumeRefused, match="authenticated with key 'oncall-team' and no audit key is configured"):
        check_key(keyed, None)
    with pytest.raises(ResumeRefused, match="and the configured one is 'other'"):
        check_key(keyed, AuditKey.from_text("other", "another team's key, long enough"))
    check_key([{"event": "run_started"}], None)  # an unkeyed log goes on with or without a key
    check_key([{"event": "run_started"}], KEY)
