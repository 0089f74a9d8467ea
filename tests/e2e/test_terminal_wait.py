"""At a real terminal, the operator cuts a wait short with Enter, and the audit log says so."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pexpect

RUNBOOK = """\
id: wait
title: Wait test
severity: P3
response_time: 1h
impact: none
owner: me
version: "1"
phases:
  - id: p
    title: P
    steps:
      - id: monitor
        title: Monitor for 10 minutes
        budget: 11m
        wait: {duration: 10m}
"""


def test_enter_cuts_a_wait_short(tmp_path: Path) -> None:
    runbook = tmp_path / "wait.yaml"
    runbook.write_text(RUNBOOK, encoding="utf-8")
    audit = tmp_path / "audit"
    child = pexpect.spawn(sys.executable, ["-m", "hybridops", "incident", str(runbook), "--audit-dir", str(audit)],
                          encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect("waiting")
    child.sendline("")
    child.expect("cut short by the operator")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    [log] = audit.glob("*.jsonl")
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    prompt = next(r for r in records if r["event"] == "prompt")
    assert (prompt["step_id"], prompt["answer"], prompt["source"]) == ("monitor", "cut short", "operator")
    finished = next(r for r in records if r["event"] == "step_finished")
    assert finished["status"] == "ok" and finished["duration_s"] < 600  # cut short: not the 10 minutes
