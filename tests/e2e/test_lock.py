"""Two runs of one incident on one machine (issue 12 §6), as real processes at real terminals (pexpect):
the second is told who holds the incident and since when, and goes on only when taken over (at the
terminal, or --take-over; --yes is not enough). A SIGKILLed holder's lock is released by the kernel.

Every wait is on an event: the first run's question on its terminal, the second's lines."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from e2e_support import base_env, strip_ansi

RUNBOOK = """\
id: lock-drill
title: Lock drill
severity: P3
response_time: 15m
impact: none
symptoms: [none]
owner: tests
version: 1.0.0
phases:
  - id: only
    title: Only
    steps:
      - id: ask
        title: Ask the operator
        budget: 10m
        confirm:
          question: Is the incident still on?
          default: true
"""
QUESTION = re.compile(r"Is the incident still on\?")
TAKE_OVER = re.compile(r"Take it over\? That run stops before its next change[^\r\n]*\[y/n\]")
RUN_ID = re.compile(r"audit log run id: (\S+)")


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "lock-drill.yaml").write_text(RUNBOOK, encoding="utf-8")
    return tmp_path, base_env(tmp_path)


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "hybridops", *args], env=env, cwd=str(cwd), encoding="utf-8",
                         timeout=60, dimensions=(50, 250))


def holding(cwd: Path, env: dict[str, str]) -> tuple[pexpect.spawn, str]:
    """A first run waiting at its question (it holds the incident); and its run id."""
    first = spawn(["incident", "lock-drill.yaml"], env, cwd)
    first.expect(RUN_ID)
    run_id = first.match.group(1)
    first.expect(QUESTION)
    return first, run_id


def records(audit: Path, run_id: str | None = None, *, not_run: str | None = None) -> list[dict[str, Any]]:
    logs = [p for p in sorted(audit.glob("*.jsonl")) if (run_id is None or p.stem == run_id) and p.stem != not_run]
    assert len(logs) == 1, logs
    return [json.loads(line) for line in logs[0].read_text(encoding="utf-8").splitlines()]


def plain(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hybridops", *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def test_the_second_run_is_told_who_holds_it_and_goes_on_only_when_taken_over(
        place: tuple[Path, dict[str, str]]) -> None:
    cwd, env = place
    audit = Path(env["HYBRIDOPS_AUDIT_DIR"])
    first, first_id = holding(cwd, env)
    try:
        # unattended, --yes: one line, exit 1, nothing written
        p = plain("incident", "lock-drill.yaml", "--yes", env=env, cwd=cwd)
        assert p.returncode == 1, p.stdout + p.stderr
        err = [line for line in p.stderr.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("error: incident lock-drill is being run by "), p.stderr
        assert f"(pid {first.pid} on " in err[0] and f"run {first_id}) since 20" in err[0], err[0]
        assert "--take-over" in err[0] and "Traceback" not in p.stderr
        assert len(list(audit.glob("*.jsonl"))) == 1  # only the first run's log

        # a dry run and a read-only run change nothing: they need no lock
        assert plain("incident", "lock-drill.yaml", "--dry-run", env=env, cwd=cwd).returncode == 0
        assert plain("incident", "lock-drill.yaml", "--read-only", "--yes", env=env, cwd=cwd).returncode == 0
        for extra in [p for p in audit.glob("*.jsonl") if p.stem != first_id]:
            extra.unlink()

        # at a terminal: asked, and declining stops before anything
        second = spawn(["incident", "lock-drill.yaml"], env, cwd)
        second.expect(TAKE_OVER)
        told = strip_ansi(second.before)
        assert "incident lock-drill is being run by " in told and f"(pid {first.pid} on " in told
        assert first_id in told and " since 20" in told
        second.sendline("n")
        second.expect(pexpect.EOF)
        second.close()
        assert second.exitstatus == 1

        # at a terminal, taking over: recorded in the taker's audit log, then the run goes on
        third = spawn(["incident", "lock-drill.yaml"], env, cwd)
        third.expect(TAKE_OVER)
        third.sendline("y")
        third.expect(RUN_ID)
        third_id = third.match.group(1)
        third.expect(QUESTION)
        third.sendline("y")
        third.expect(pexpect.EOF)
        third.close()
        assert third.exitstatus == 0, strip_ansi(third.before)
        taken = [r for r in records(audit, third_id) if r["event"] == "lock_taken_over"]
        assert len(taken) == 1
        assert {k: taken[0][k] for k in ("holder_run_id", "holder_pid", "stale", "confirmed")} == {
            "holder_run_id": first_id, "holder_pid": first.pid, "stale": False, "confirmed": "operator"}

        # unattended with --take-over (and --yes for the question)
        p = plain("incident", "lock-drill.yaml", "--yes", "--take-over", env=env, cwd=cwd)
        assert p.returncode == 0, p.stdout + p.stderr
        run_id = RUN_ID.search(p.stdout)
        assert run_id is not None
        taken = [r for r in records(audit, run_id.group(1)) if r["event"] == "lock_taken_over"]
        assert [(r["holder_run_id"], r["confirmed"]) for r in taken] == [(first_id, "--take-over")]
    finally:
        first.sendline("y")
        first.expect(pexpect.EOF)
        first.close()
    assert first.exitstatus == 0
    # the first run ended and released the incident: the next run is not asked
    p = plain("incident", "lock-drill.yaml", "--yes", env=env, cwd=cwd)
    assert p.returncode == 0, p.stderr


def test_a_sigkilled_holder_does_not_block_the_next_run(place: tuple[Path, dict[str, str]]) -> None:
    cwd, env = place
    audit = Path(env["HYBRIDOPS_AUDIT_DIR"])
    first, first_id = holding(cwd, env)
    first.kill(signal.SIGKILL)
    first.expect(pexpect.EOF)
    first.close()
    assert first.signalstatus == signal.SIGKILL
    p = plain("incident", "lock-drill.yaml", "--yes", env=env, cwd=cwd)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"note: run {first_id} of " in p.stderr and "is gone" in p.stderr
    taken = [r for r in records(audit, not_run=first_id) if r["event"] == "lock_taken_over"]
    assert [(r["holder_run_id"], r["stale"], r["confirmed"]) for r in taken] == [(first_id, True, None)]


def test_resume_re_takes_its_own_incident(place: tuple[Path, dict[str, str]]) -> None:
    cwd, env = place
    first, first_id = holding(cwd, env)
    first.kill(signal.SIGKILL)
    first.expect(pexpect.EOF)
    first.close()
    p = plain("resume", first_id, "--yes", env=env, cwd=cwd)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "note:" not in p.stderr  # its own killed process: nothing to tell
    log = records(Path(env["HYBRIDOPS_AUDIT_DIR"]), first_id)
    resumed = [i for i, r in enumerate(log) if r["event"] == "run_resumed"]
    assert resumed and log[resumed[0] + 1]["event"] == "lock_taken_over" and log[resumed[0] + 1]["stale"] is True
    assert log[-1]["event"] == "run_finished" and log[-1]["status"] == "completed"
