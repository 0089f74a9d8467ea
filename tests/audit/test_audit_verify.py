"""`verify_log` against every kind of tampering, naming the first broken record's seq."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_known_run import DATA

from hybridops.audit.log import read_log, verify_log

LINES = DATA.read_bytes().split(b"\n")[:-1]
N = len(LINES)


def write(tmp_path: Path, lines: list[bytes], *, newline: bool = True) -> Path:
    path = tmp_path / "tampered.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline and lines else b""))
    return path


def edited(line: bytes) -> bytes:
    rec = json.loads(line)
    rec["tampered"] = True  # any change to a value: here an added field
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()


def test_the_known_run_is_intact() -> None:
    result = verify_log(DATA)
    assert (result.ok, result.records, result.first_bad_seq, result.status) == (True, N, None, "completed")
    assert result.reason == "intact"
    assert N == 22


@pytest.mark.parametrize("j", range(N - 1))
def test_an_edited_line_is_named(tmp_path: Path, j: int) -> None:
    lines = list(LINES)
    lines[j] = edited(lines[j])
    result = verify_log(write(tmp_path, lines))
    assert not result.ok and result.first_bad_seq == j
    assert result.reason.startswith("record altered")


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b'"status":200', b'"status":201', "record altered"),
        (b'"seq":5,', b'"seq":50,', "seq altered"),
        (b'"ts":"2026-11-25T17:41:48.', b'"ts":"2026-11-25 17:41:48.', "not an RFC 3339 timestamp"),
        (b'"prev":"', b'"prev":"f', "prev is not a lowercase hex SHA-256"),
        (b'"step_id"', b'"step_id":"x","step_id"', "line 6: duplicate key 'step_id'"),
        (b'"run_id":"2026', b'"run_id":"1999', "run_id"),
        (b"}", b"", "line 6: not valid JSON"),
        (b'"seq":5,', b'"seq": 5, ', "line 6: not compact JSON"),
    ],
)
def test_edits_of_each_field_are_named(tmp_path: Path, old: bytes, new: bytes, reason: str) -> None:
    j = 5 if old != b'"status":200' else 3
    lines = list(LINES)
    assert old in lines[j]
    lines[j] = lines[j].replace(old, new, 1)
    result = verify_log(write(tmp_path, lines))
    assert (result.ok, result.first_bad_seq) == (False, j)
    assert reason in result.reason


def test_a_forged_prev_is_named_on_its_own_line(tmp_path: Path) -> None:
    lines = list(LINES)
    lines[7] = lines[7].replace(json.loads(lines[7])["prev"].encode(), b"a" * 64)
    result = verify_log(write(tmp_path, lines))
    assert result.first_bad_seq == 7


@pytest.mark.parametrize("j", range(N - 1))
def test_a_deleted_line_is_named(tmp_path: Path, j: int) -> None:
    lines = LINES[:j] + LINES[j + 1 :]
    result = verify_log(write(tmp_path, lines))
    assert (result.ok, result.first_bad_seq) == (False, j)
    assert result.reason.startswith("record missing")


@pytest.mark.parametrize("j", range(1, N))
def test_a_replayed_line_is_named(tmp_path: Path, j: int) -> None:
    lines = LINES[:j] + [LINES[j - 1]] + LINES[j:]
    result = verify_log(write(tmp_path, lines))
    assert (result.ok, result.first_bad_seq) == (False, j)


def forged(j: int, *, prev: str) -> bytes:
    rec = json.loads(LINES[j])
    rec.update(event="response", ok=True, summary="all good", prev=prev)
    return json.dumps(rec, separators=(",", ":")).encode()


@pytest.mark.parametrize("j", range(N))
def test_an_inserted_line_is_named(tmp_path: Path, j: int) -> None:
    import hashlib

    right_prev = hashlib.sha256(LINES[j - 1]).hexdigest() if j else "0" * 64
    for prev in (right_prev, "b" * 64):  # a careful forger and a careless one
        lines = LINES[:j] + [forged(j, prev=prev)] + LINES[j:]
        result = verify_log(write(tmp_path, lines))
        assert (result.ok, result.first_bad_seq) == (False, j), (prev, result)


def test_an_inserted_line_with_the_rest_renumbered_is_named(tmp_path: Path) -> None:
    import hashlib

    j = 8
    renumbered = []
    for line in LINES[j:]:
        rec = json.loads(line)
        rec["seq"] += 1
        renumbered.append(json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode())
    lines = LINES[:j] + [forged(j, prev=hashlib.sha256(LINES[j - 1]).hexdigest())] + renumbered
    result = verify_log(write(tmp_path, lines))
    assert (result.ok, result.first_bad_seq) == (False, j)


@pytest.mark.parametrize("j", range(N - 1))
def test_reordered_lines_are_named(tmp_path: Path, j: int) -> None:
    lines = list(LINES)
    lines[j], lines[j + 1] = lines[j + 1], lines[j]
    result = verify_log(write(tmp_path, lines))
    assert (result.ok, result.first_bad_seq) == (False, j)
    assert result.reason.startswith("records out of order")


def test_a_line_moved_to_the_end_is_named(tmp_path: Path) -> None:
    lines = LINES[:4] + LINES[5:] + [LINES[4]]
    assert verify_log(write(tmp_path, lines)).first_bad_seq == 4


@pytest.mark.parametrize("j", [0, 3, N - 1])
def test_truncation_mid_line_is_named(tmp_path: Path, j: int) -> None:
    data = b"".join(line + b"\n" for line in LINES[:j])
    for cut in (1, len(LINES[j]) // 2, len(LINES[j])):  # the newline is the last thing lost
        path = tmp_path / "cut.jsonl"
        path.write_bytes(data + LINES[j][:cut])
        result = verify_log(path)
        assert (result.ok, result.first_bad_seq, result.records) == (False, j, j), cut
        assert "truncated" in result.reason


@pytest.mark.parametrize("m", [1, 2, 10])
def test_whole_lines_cut_from_the_end_verify_as_unfinished(tmp_path: Path, m: int) -> None:
    path = write(tmp_path, LINES[:-m])
    result = verify_log(path)
    assert (result.ok, result.status, result.first_bad_seq, result.records) == (True, "incomplete", None, N - m)
    assert result.reason == (
        f"intact but unfinished: no run_finished after seq {N - m - 1} "
        "(the run was killed, or whole records were cut from the end)"
    )
    strict = verify_log(path, require_finished=True)
    assert (strict.ok, strict.first_bad_seq) == (False, N - m)


def test_the_first_record_must_be_run_started(tmp_path: Path) -> None:
    assert verify_log(write(tmp_path, [])).reason == "empty log: no run_started record"
    assert verify_log(write(tmp_path, [])).first_bad_seq == 0
    rec = json.loads(LINES[0])
    rec["event"] = "step_started"
    result = verify_log(write(tmp_path, [json.dumps(rec, separators=(",", ":")).encode()]))
    assert (result.first_bad_seq, result.reason) == (0, "first record is 'step_started', not 'run_started'")


def test_crlf_line_endings_are_not_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"".join(line + b"\r\n" for line in LINES))
    result = verify_log(path)
    assert (result.first_bad_seq, result.reason) == (0, "line 1: line ends with CR (CRLF line endings)")


def test_read_log_keeps_every_readable_record_of_a_broken_log(tmp_path: Path) -> None:
    lines = LINES[:3] + [b"not json"] + LINES[4:]
    read = read_log(write(tmp_path, lines))
    assert len(read.records) == N - 1
    assert [str(p) for p in read.problems] == ["seq 3: line 4: not valid JSON (Expecting value at column 1)"]
    assert read.status == "completed" and not read.verify.ok
