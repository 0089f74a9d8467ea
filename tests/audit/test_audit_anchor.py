"""`hybridops.audit.anchor.compare`: a local log against its CloudWatch copy, record by record."""

from __future__ import annotations

import hashlib

from audit_known_run import DATA

from hybridops.audit.anchor import compare

LINES = DATA.read_bytes().split(b"\n")[:-1]
WHERE = "/g/s"


def test_the_same_records_match_whatever_the_stream_order_and_repeats() -> None:
    remote = list(reversed(LINES)) + [LINES[3]]  # a batch shipped twice after a lost answer
    result = compare(LINES, remote, where=WHERE)
    assert result.ok and result.problems == []
    assert result.local_head == result.remote_head == hashlib.sha256(LINES[-1]).hexdigest()


def test_missing_extra_and_edited_records_are_named_by_seq() -> None:
    local = LINES[:4] + LINES[7:] + [LINES[-1].replace(b"}", b',"x":1}')]
    local[2] = local[2].replace(b'"seq":2', b'"seq":2,"forged":true')
    result = compare(local[:-1], LINES, where=WHERE)
    assert result.problems == ["missing: seq 4..6 are in CloudWatch Logs but not in the local log",
                               "edited: seq 2 differ from the copies in CloudWatch Logs"]
    extra = compare(LINES, LINES[:-2], where=WHERE, ship_failed=True)
    assert extra.problems[0] == ("not in CloudWatch Logs: seq 20..21 (never shipped: the log records a shipping "
                                 "failure); the anchor cannot vouch for them")
    assert extra.problems[1].startswith("head differs: local ")


def test_a_stream_with_other_records_for_one_seq_or_no_record() -> None:
    twice = compare(LINES, LINES + [LINES[5].replace(b'"seq":5', b'"seq":5,"x":1')], where=WHERE)
    assert "the CloudWatch stream holds two different records with seq 5" in twice.problems
    assert compare(LINES, [], where=WHERE).problems == ["the CloudWatch stream holds no record of this run"]
    garbage = compare(LINES, [b"not json"], where=WHERE)
    assert garbage.problems[0] == "line 1 of the CloudWatch stream is not an audit record"
