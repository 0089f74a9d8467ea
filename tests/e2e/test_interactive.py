"""An operator at a real terminal (a pseudo-terminal driven by pexpect) answers the run's prompts:
mutating confirmations, checklist items and a choice; declines a mutation; presses Ctrl-C at a prompt."""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pexpect
from e2e_support import (
    UNKNOWN_OUTCOME_RUNBOOK,
    admin_calls,
    assert_no_secrets,
    aws_calls,
    check_run_log,
    events,
    mutations,
    notifications,
    step_status,
    strip_ansi,
)

from hybridops.sandbox import Sandbox

Scenario = Callable[[str], Sandbox]
_STYLE = r"(?:\x1b\[[0-9;]*m)*"
CONFIRM = re.compile(rf"Run ([^\r\n]+?)\? {_STYLE}\[y/n\]")
ITEM = re.compile(rf"\[ \] ([^\r\n]+?) — done\? {_STYLE}\[y/n\]")
CHOICE = re.compile(r"\[investigate/wait\]")
COLOR = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9]+)*m")  # SGR colours, not bold
RESEND = re.compile(rf"The outcome of mutating step (\S+) is unknown[^\r\n]*Send it again\? {_STYLE}\[y/n\]")
OVER_BUDGET = re.compile(r"(?:\n|\x1b\[2K) *(\S[^\r\n]*?) is over its budget \([^)\r\n]*\): extend = [^\r\n]*\r?\n"
                         r"extend by [^\r\n]+?, skip or abort\?")
# the detail (the poll's latest answer) may wrap over several lines
TIMED_OUT = re.compile(r"(?:\n|\x1b\[2K) *(\S[^\r\n]*?) timed out: [^\x1b]*?\nwait longer, skip, fail or abort\?")
HOW_LONG = re.compile(r"()wait how long more\? \(e\.g\. 5m\)")
REFUSED = re.compile(r"()Please select one of the available options")  # the test gave a wrong answer


@dataclass
class Session:
    """What the operator saw and answered, in order, and the whole screen."""

    code: int | None = None
    asked: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, text, answer)
    screen: str = ""  # without escape sequences
    raw: str = ""
    log: Path | None = None
    interrupts: int = 0  # Ctrl-C presses it took to stop the run (always one)

    def answered(self, kind: str) -> list[tuple[str, str]]:
        return [(text, answer) for k, text, answer in self.asked if k == kind]


def operate(args: list[str], env: dict[str, str], cwd: Path, answer: Callable[[str, str], str | None],
            timeout: float = 30) -> Session:
    """Run `hybridops ARGS` on a pseudo-terminal; `answer(kind, text)` gives each reply (None = Ctrl-C)."""
    child = pexpect.spawn(sys.executable, ["-m", "hybridops", *args], env=env, cwd=str(cwd), encoding="utf-8",
                          timeout=timeout, dimensions=(50, 250), searchwindowsize=4000)
    transcript = io.StringIO()
    child.logfile_read = transcript
    session = Session()
    kinds = ["confirm", "item", "choice", "over-budget", "resend", "timed-out", "how-long"]
    try:
        while True:
            i = child.expect([CONFIRM, ITEM, CHOICE, OVER_BUDGET, RESEND, TIMED_OUT, HOW_LONG, REFUSED, pexpect.EOF])
            if i == len(kinds):
                raise AssertionError(f"the prompt refused the answer {session.asked[-1]}")
            if i == len(kinds) + 1:
                break
            text = child.match.group(1) if kinds[i] != "choice" else ""
            reply = answer(kinds[i], text)
            session.asked.append((kinds[i], text, "^C" if reply is None else reply))
            if reply is None:
                session.interrupts = _interrupt(child)
                break
            child.sendline(reply)
    finally:
        child.close(force=True)
    session.code = child.exitstatus
    session.raw = transcript.getvalue()
    session.screen = strip_ansi(session.raw)
    logs = sorted(Path(env["HYBRIDOPS_AUDIT_DIR"]).glob("*.jsonl"))
    assert len(logs) == 1, logs
    session.log = logs[0]
    assert_no_secrets(session.screen, session.log)
    return session


def _interrupt(child: pexpect.spawn) -> int:
    """Press Ctrl-C at the prompt on screen, once: the prompt reads in short select() waits, so the
    signal is handled within 50 ms whenever it arrives (even before the read began)."""
    child.sendintr()
    if child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=10) != 0:
        raise AssertionError("one Ctrl-C at the prompt did not stop the run")
    return 1


def _env(cli_env: dict[str, str], tmp_path: Path, name: str) -> dict[str, str]:
    return {**cli_env, "HYBRIDOPS_AUDIT_DIR": str(tmp_path / name), "TERM": "xterm-256color", "NO_COLOR": "1"}


def test_operator_confirms_ticks_and_chooses_through_bedrock_failure(
        scenario: Scenario, cli_env: dict[str, str], tmp_path: Path, receiver: Any):
    sb = scenario("bedrock-down")

    def answer(kind: str, text: str) -> str:
        if kind == "choice":
            return "wait"  # wait for AWS: no IAM / VPC investigation
        if kind == "item":
            return "n" if text == "Update status page" else "y"
        return "extend" if kind == "over-budget" else "y"

    env = {**_env(cli_env, tmp_path, "audit"), **sb.env, "AWS_SECRET_ACCESS_KEY": cli_env["AWS_SECRET_ACCESS_KEY"]}
    s = operate(["incident", "bedrock-failure"], env, tmp_path, answer)
    assert s.code == 3, s.screen[-2000:]  # the InvokeModel probe fails while Bedrock is down
    assert "completed with 1 failed step (invoke-bedrock)" in s.screen
    assert "\x1b[1m" in s.raw and not COLOR.search(s.raw)  # rich at a terminal, NO_COLOR honoured
    assert s.answered("confirm") == [
        ("Enable aggressive MCP fallback (force MCP)", "y"), ("Enable direct Bedrock for 10% of traffic", "y"),
        ("Increase direct Bedrock to 50%", "y"), ("Increase direct Bedrock to 100%", "y")]
    assert s.answered("choice") == [("", "wait")]
    assert [t for t, _ in s.answered("item")] == [
        "Post in #ops-critical", "Create PagerDuty incident", "Update status page", "Update status page (resolved)"]

    # What the operator said yes to happened, in order; the branch chosen skipped the investigation.
    calls = sb.requests()
    assert mutations(calls) == [
        ("admin", "POST", "/admin/routing/force-mcp", {"reason": "Bedrock unavailable", "duration": 3600}),
        ("admin", "POST", "/admin/routing/bedrock-percentage", {"percentage": 10}),
        ("admin", "POST", "/admin/routing/bedrock-percentage", {"percentage": 50}),
        ("admin", "POST", "/admin/routing/bedrock-percentage", {"percentage": 100}),
    ]
    assert not aws_calls(calls, "SimulatePrincipalPolicy") and not aws_calls(calls, "DescribeTaskDefinition")
    assert admin_calls(calls, "POST", "/admin/bedrock/test")
    assert sb.status()["recovered"] is True, sb.status()["history"]
    assert notifications(receiver.received()) == [("slack", "#ops-critical"), ("pagerduty", "trigger"),
                                                  ("pagerduty", "resolve"), ("slack", "#ops-critical")]

    # The exact request was on screen before the question.
    shown = (f'mutating request: POST {sb.admin_url}/admin/routing/force-mcp '
             '{"reason": "Bedrock unavailable", "duration": 3600}')
    assert shown in s.screen
    assert s.screen.index(shown) < s.screen.index("Run Enable aggressive MCP fallback (force MCP)?")

    # The audit log holds every answer, as the operator's.
    records = check_run_log(s.log, runbook="bedrock-failure", status="completed_with_failures")
    assert records[0]["yes"] is False
    prompts = [(p["step_id"], p["question"], p["answer"], p["source"]) for p in events(records, "prompt")]
    assert ("force-mcp", "Run mutating step force-mcp?", "yes", "operator") in prompts
    for step in ("bedrock-10-percent", "bedrock-50-percent", "bedrock-100-percent"):
        assert (step, f"Run mutating step {step}?", "yes", "operator") in prompts
    assert [(p[1], p[2], p[3]) for p in prompts if p[0] == "notify-stakeholders"] == [
        ("Post in #ops-critical", "done", "operator"), ("Create PagerDuty incident", "done", "operator"),
        ("Update status page", "not done", "operator")]
    choice = [p for p in prompts if p[0] == "wait-or-investigate"]
    assert len(choice) == 1 and choice[0][2:] == ("wait", "operator")
    assert all(p[3] == "operator" for p in prompts)
    statuses = step_status(records)
    assert events(records, "step_finished", step_id="notify-stakeholders")[0]["reason"] == (
        "1 checklist item(s) not done")
    assert "lookup-task-definition" not in statuses and statuses["test-bedrock-connectivity"] == "ok"
    # each mutation's request went out only after its "yes" was on disk
    for step in ("force-mcp", "bedrock-10-percent"):
        prompt = events(records, "prompt", step_id=step)[0]
        assert prompt["seq"] < events(records, "request", step_id=step)[0]["seq"]


def test_a_declined_mutation_never_reaches_the_sandbox(scenario: Scenario, cli_env: dict[str, str], tmp_path: Path):
    sb = scenario("efficiency-drop")

    def answer(kind: str, text: str) -> str:
        if kind == "confirm":
            return "n"
        if kind == "timed-out":
            return "fail"  # the efficiency will not come back: take the runbook's failure path
        return "extend" if kind == "over-budget" else "y"

    s = operate(["incident", "routing-efficiency"],
                _env(cli_env, tmp_path, "audit"), tmp_path, answer)
    assert s.code == 3, s.screen[-2000:]  # without the change, the efficiency never comes back: said plainly
    assert "completed with 1 failed step (monitor-routing-efficiency)" in s.screen
    assert s.answered("confirm") == [("Update routing thresholds", "n")]
    calls = sb.requests()
    assert mutations(calls) == [] and not admin_calls(calls, "POST", "/admin/routing/config")
    assert sb.status()["recovered"] is False

    records = check_run_log(s.log, runbook="routing-efficiency", status="completed_with_failures")
    [prompt] = events(records, "prompt", step_id="update-routing-thresholds")
    assert (prompt["answer"], prompt["source"]) == ("no", "operator")
    assert not events(records, "request", step_id="update-routing-thresholds")
    statuses = step_status(records)
    assert statuses["update-routing-thresholds"] == "declined"
    assert statuses["monitor-routing-efficiency"] == "failed"  # nothing changed, nothing improved
    assert statuses["efficiency-not-improved"] == "ok"  # so the escalation checklist came up
    assert [t for t, _ in s.answered("item")][-2:] == [
        "Re-check the routing decisions of the last hour for the leading fallback reason",
        "Hand over to the routing owners with the findings"]


def test_ctrl_c_at_a_confirmation_sends_nothing_and_records_the_interruption(
        scenario: Scenario, cli_env: dict[str, str], tmp_path: Path):
    sb = scenario("mcp-down")

    def answer(kind: str, text: str) -> str | None:
        return None if kind == "confirm" else "extend"

    s = operate(["incident", "mcp-failure"],
                _env(cli_env, tmp_path, "audit"), tmp_path, answer)
    assert s.answered("confirm") == [("Restart MCP router (force new ECS deployment)", "^C")]
    assert s.code == 130 and s.interrupts == 1
    assert mutations(sb.requests()) == []
    records = check_run_log(s.log, runbook="mcp-failure", status="interrupted")
    assert step_status(records)["restart-mcp-router"] == "interrupted"
    assert not events(records, "request", step_id="restart-mcp-router")
    assert f"resume with: hybridops resume {s.log.stem}" in s.screen


def test_a_mutation_whose_outcome_is_unknown_is_not_sent_again_when_the_operator_says_no(
        scenario: Scenario, cli_env: dict[str, str], tmp_path: Path):
    sb = scenario("outage")
    runbook = tmp_path / "unknown-outcome.yaml"
    runbook.write_text(UNKNOWN_OUTCOME_RUNBOOK, encoding="utf-8")
    httpx.post(f"{sb.admin_url}/_sandbox/fault", json={"kind": "slow", "seconds": 2, "count": 1}, timeout=5)

    def answer(kind: str, text: str) -> str:
        return "n" if kind == "resend" else "y"

    s = operate(["incident", str(runbook)], _env(cli_env, tmp_path, "audit"), tmp_path, answer)
    assert s.code == 3, s.screen[-2000:]  # the step's on_failure is continue: completed, with it failed
    assert [(k, a) for k, _, a in s.asked] == [("confirm", "y"), ("resend", "n")]
    records = check_run_log(s.log, runbook="unknown-outcome", status="completed_with_failures",
                            runbook_file=runbook)
    assert [r["attempt"] for r in events(records, "request", step_id="reset")] == [1]
    resend = events(records, "prompt", step_id="reset")[-1]
    assert resend["question"].startswith("The outcome of mutating step reset is unknown")
    assert (resend["answer"], resend["source"]) == ("no", "operator")
    assert step_status(records)["reset"] == "failed"
    deadline = time.monotonic() + 10  # the slow answer lands; nothing else ever comes
    while admin_calls(sb.requests(), "POST", "/admin/circuit-breaker/reset")[0]["status"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(admin_calls(sb.requests(), "POST", "/admin/circuit-breaker/reset")) == 1


OVER_BUDGET_RUNBOOK = """\
id: slow-watch
title: A watch that outlives its budget
severity: P3
response_time: 1h
impact: none
owner: e2e
version: "1"
phases:
  - id: p
    title: P
    steps:
      - id: watch
        title: Watch the health
        budget: 1m
        poll:
          http: {method: GET, path: /health, capture: {st: status}}
          every: 30s
          timeout: 10m
          until: "st == 'never'"
      - id: after
        title: After the watch
        budget: 1m
        check: {condition: "true"}
"""


def test_over_budget_says_what_extending_means_and_the_operator_extends_then_skips(
        scenario: Scenario, cli_env: dict[str, str], tmp_path: Path):
    scenario("mcp-down")
    runbook = tmp_path / "slow-watch.yaml"
    runbook.write_text(OVER_BUDGET_RUNBOOK, encoding="utf-8")
    replies = iter(["extend", "skip"])
    s = operate(["incident", str(runbook)], _env(cli_env, tmp_path, "audit"), tmp_path,
                lambda kind, text: next(replies) if kind == "over-budget" else "y")
    assert s.code == 0, s.screen[-2000:]
    assert s.answered("over-budget") == [("Watch the health", "extend"), ("Watch the health", "skip")]
    # the first question: a minute used of a minute; the second, after the extension, of two
    assert re.search(r"over its budget \(1m\d\ds of 1m00s\): extend = 1m00s more, skip = leave this step and go "
                     r"on, abort = stop the run\r?\nextend by 1m00s, skip or abort\?", s.screen), s.screen[-2000:]
    assert re.search(r"over its budget \(2m\d\ds of 2m00s\)", s.screen)
    records = check_run_log(s.log, runbook="slow-watch", status="completed", runbook_file=runbook)
    answers = [(p["question"], p["answer"]) for p in events(records, "prompt", step_id="watch")]
    assert answers == [("Watch the health is over budget: extend, skip or abort?", "extend"),
                       ("Watch the health is over budget: extend, skip or abort?", "skip")]
    assert step_status(records) == {"watch": "skipped", "after": "ok"}


def test_a_timed_out_poll_lets_the_operator_wait_longer_then_skip(
        scenario: Scenario, cli_env: dict[str, str], tmp_path: Path):
    scenario("mcp-down")
    runbook = tmp_path / "slow-watch.yaml"
    runbook.write_text(OVER_BUDGET_RUNBOOK.replace("budget: 1m\n        poll", "budget: 1h\n        poll")
                       .replace("timeout: 10m", "timeout: 1m"), encoding="utf-8")
    replies = iter(["wait", "1m30s", "skip"])
    s = operate(["incident", str(runbook)], _env(cli_env, tmp_path, "audit"), tmp_path,
                lambda kind, text: next(replies) if kind in ("timed-out", "how-long") else "y")
    assert s.code == 0, s.screen[-2000:]
    assert s.answered("timed-out") == [("Watch the health", "wait"), ("Watch the health", "skip")]
    assert s.answered("how-long") == [("", "1m30s")]
    assert "Watch the health timed out: not met within 1m: st == 'never'" in s.screen
    records = check_run_log(s.log, runbook="slow-watch", status="completed", runbook_file=runbook)
    assert [p["answer"] for p in events(records, "prompt", step_id="watch")] == ["wait 1m30s", "skip"]
    assert step_status(records) == {"watch": "skipped", "after": "ok"}
    # 3 checks in the first minute (at 0s, 30s, 60s), 3 more in the minute and a half the operator gave
    assert len(events(records, "request", step_id="watch")) == 6
