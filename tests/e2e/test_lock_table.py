"""The incident lock across machines (issue 13 §2): a DynamoDB table served by the session's sandbox
(moto over real HTTP), runs as real processes (pexpect where a run must sit at its prompt).

Leases are measured on the sandbox's simulated clock, so a killed holder's lease ends when the test
moves that clock, never after a sleep; every other wait is on an event (a prompt, an exit, a record
appearing in a log, the sandbox holding an answer)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
import pytest
from e2e_support import one_phase_runbook, run_cli, strip_ansi

from hybridops.sandbox import Sandbox

STEPS = """\
      - id: ask
        title: Ask the operator
        budget: 10m
        confirm: {question: Is the incident still on?, default: true}
      - id: reset
        title: Reset the circuit breakers
        budget: 10m
        timeout: 5m
        http: {method: POST, path: /admin/circuit-breaker/reset}
"""
QUESTION = re.compile(r"Is the incident still on\?")
RUN_ID = re.compile(r"audit log run id: (\S+)")
RESET = ("POST", "/admin/circuit-breaker/reset")


@pytest.fixture
def place(tmp_path: Path, scenario: Callable[[str], Sandbox], cli_env: dict[str, str]) -> dict[str, Any]:
    """A lock table of its own in the sandbox, the runbook, and the environment naming the table."""
    import boto3

    sandbox = scenario("healthy")
    table = f"locks-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in cli_env.items()}
    session = boto3.session.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox",
                                    region_name="eu-central-1")
    ddb = session.client("dynamodb", endpoint_url=sandbox.aws_url)
    from hybridops.engine.dynamolock import table_definition

    ddb.create_table(**table_definition(table))
    arn = session.client("sts", endpoint_url=sandbox.aws_url).get_caller_identity()["Arn"]
    (tmp_path / "lock-drill.yaml").write_text(one_phase_runbook("lock-drill", "Lock drill", STEPS), encoding="utf-8")
    env["HYBRIDOPS_LOCK_TABLE"] = table
    return {"env": env, "cwd": tmp_path, "sandbox": sandbox, "ddb": ddb, "table": table, "arn": arn,
            "audit": Path(env["HYBRIDOPS_AUDIT_DIR"])}


def spawn(place: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "hybridops", *args], env=env or place["env"], cwd=str(place["cwd"]),
                         encoding="utf-8", timeout=60, dimensions=(50, 250))


def holding(place: dict[str, Any], env: dict[str, str] | None = None) -> tuple[pexpect.spawn, str]:
    """A first run at its question (it holds the incident), and its run id."""
    first = spawn(place, "incident", "lock-drill.yaml", env=env)
    first.expect(RUN_ID)
    run_id = first.match.group(1)
    first.expect(QUESTION)
    return first, run_id


def killed(place: dict[str, Any]) -> str:
    first, run_id = holding(place)
    first.kill(signal.SIGKILL)
    first.expect(pexpect.EOF)
    first.close()
    return run_id


def cli(place: dict[str, Any], *args: str) -> Any:
    return run_cli(list(args), place["env"], cwd=place["cwd"])


def log_of(place: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    path = place["audit"] / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == name]


def resets(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests() if r.get("api") == "admin" and (r["method"], r["path"]) == RESET)


def items(place: dict[str, Any]) -> list[dict[str, Any]]:
    return place["ddb"].scan(TableName=place["table"], ConsistentRead=True)["Items"]


def run_id_of(text: str) -> str:
    found = RUN_ID.search(text)
    assert found is not None, text
    return found.group(1)


def test_two_simultaneous_runs_end_with_exactly_one_acting(place: dict[str, Any]) -> None:
    sandbox = place["sandbox"]
    sandbox.faults.add({"kind": "hold", "count": 1})  # the winner's change waits until the loser is done
    command = [sys.executable, "-m", "hybridops", "incident", "lock-drill.yaml", "--yes"]
    # Two operators' machines: an audit dir (and lock files) each, so only the table can tell them apart.
    audits = [place["audit"].parent / f"machine-{n}" for n in (1, 2)]
    procs = [subprocess.Popen(command, env={**place["env"], "HYBRIDOPS_AUDIT_DIR": str(audit)}, cwd=place["cwd"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for audit in audits]
    try:
        # the loser ends on its own (refused) while the winner's answer is held: whichever ends first lost
        deadline = time.monotonic() + 60  # generous: a bound on a hang, not a measure of speed
        while all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "both runs went on: neither was refused"
            time.sleep(0.05)  # polling for an exit (an event), asserting nothing about how long it took
        loser = next(p for p in procs if p.returncode is not None)
        winner = next(p for p in procs if p is not loser)
        out, err = loser.communicate(timeout=60)
        assert loser.returncode == 1, out + err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: incident lock-drill is being run by "), err
        assert place["arn"] in lines[0] and "since 20" in lines[0] and "--take-over" in lines[0]
    finally:
        sandbox.faults.release()
    out, err = winner.communicate(timeout=60)
    assert winner.returncode == 0, out + err
    winner_id = run_id_of(out)
    assert f"run {winner_id})" in lines[0]  # the loser named the winner's run
    assert resets(sandbox) == 1  # only the winner's change arrived
    logs = [p.stem for audit in audits for p in audit.glob("*.jsonl")]
    assert logs == [winner_id]  # the loser sent nothing, logged nothing
    assert items(place) == []  # released at run_finished


def test_a_killed_holder_blocks_while_its_lease_lasts_and_its_lock_is_then_taken(place: dict[str, Any]) -> None:
    first_id = killed(place)
    refused = cli(place, "incident", "lock-drill.yaml", "--yes")
    assert refused.code == 1 and f"run {first_id}) since " in refused.stderr and place["arn"] in refused.stderr
    assert "its lease runs to 20" in refused.stderr
    status = cli(place, "lock", "status")
    assert status.code == 0 and "lock-drill (account " in status.stdout and f"run {first_id})" in status.stdout
    assert " left" in status.stdout

    place["sandbox"].clock.advance(61)  # past the 60 s lease on the run's clock: nobody renewed it
    status = cli(place, "lock", "status", "lock-drill")
    assert "lease expired" in status.stdout and "free to take" in status.stdout
    taken = cli(place, "incident", "lock-drill.yaml", "--yes")
    assert taken.code == 0, taken.stdout + taken.stderr
    assert f"note: run {first_id} of {place['arn']}" in taken.stderr and "its lease expired at" in taken.stderr
    log = log_of(place, run_id_of(taken.stdout))
    assert [(r["holder_run_id"], r["stale"]) for r in events(log, "lock_taken_over")] == [(first_id, True)]
    assert resets(place["sandbox"]) == 1


@pytest.mark.parametrize("where", ["table", "file"])
def test_take_over_is_noticed_by_the_first_run_which_stops_before_its_next_change(place: dict[str, Any],
                                                                                   where: str) -> None:
    """In a table, and in this machine's lock file: one mechanism (the lease), one engine check."""
    import getpass
    import socket

    sandbox = place["sandbox"]
    env = {**place["env"], "HYBRIDOPS_LOCK_LEASE": "8s"}  # renewed every 2 s: the take-over is noticed soon
    operator = place["arn"]
    if where == "file":
        del env["HYBRIDOPS_LOCK_TABLE"]
        operator = f"{getpass.getuser()}@{socket.gethostname()}"
    first, first_id = holding(place, env)
    try:
        sandbox.faults.add({"kind": "hold", "count": 1})  # the taker holds the incident while the first notices
        taker = subprocess.Popen([sys.executable, "-m", "hybridops", "incident", "lock-drill.yaml", "--yes",
                                  "--take-over"], env=env, cwd=place["cwd"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not events(log_of(place, first_id), "lock_lost"):  # recorded by the first run's renewal
            assert time.monotonic() < deadline and taker.poll() is None, "the first run never noticed"
            time.sleep(0.05)
        first.expect(r"taken over by ")  # told at its terminal, while at its prompt
        first.sendline("y")
        first.expect(pexpect.EOF)
        first.close()
        assert first.exitstatus == 5, strip_ansi(first.before or "")
    finally:
        sandbox.faults.release()
    out, err = taker.communicate(timeout=60)
    assert taker.returncode == 0, out + err
    taker_id = run_id_of(out)

    lost = events(log_of(place, first_id), "lock_lost")
    assert len(lost) == 1 and lost[0]["by_run_id"] == taker_id and lost[0]["by_operator"] == operator
    finished = events(log_of(place, first_id), "run_finished")[-1]
    assert finished["status"] == "aborted" and "taken over by" in finished["error"]
    assert not [r for r in log_of(place, first_id) if r["event"] == "request"]  # it sent no change
    taken = events(log_of(place, taker_id), "lock_taken_over")
    assert [(r["holder_run_id"], r["stale"], r["confirmed"]) for r in taken] == [(first_id, False, "--take-over")]
    assert resets(sandbox) == 1  # the taker's change only
    for run_id in (first_id, taker_id):
        assert cli(place, "audit", "verify", run_id).code == 0
    shown = cli(place, "audit", "show", first_id)
    assert shown.code == 0 and "Incident lock lost" in shown.stdout and taker_id in shown.stdout


def test_resume_re_takes_its_own_runs_lock_and_release_frees_a_gone_holders(place: dict[str, Any]) -> None:
    first_id = killed(place)
    resumed = cli(place, "resume", first_id, "--yes")  # its lease still runs: its own run takes it again
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    assert "note:" not in resumed.stderr
    log = log_of(place, first_id)
    again = [i for i, r in enumerate(log) if r["event"] == "run_resumed"]
    assert again and log[again[0] + 1]["event"] == "lock_taken_over" and log[again[0] + 1]["stale"] is True
    assert log[-1]["event"] == "run_finished" and log[-1]["status"] == "completed"
    assert items(place) == []

    second_id = killed(place)
    unasked = cli(place, "lock", "release", "lock-drill")
    assert unasked.code == 1 and "--yes" in unasked.stderr and len(items(place)) == 1
    released = cli(place, "lock", "release", "lock-drill", "--yes")
    assert released.code == 0 and f"held by run {second_id} of {place['arn']}" in released.stdout
    assert items(place) == [] and "no incident locks in table" in cli(place, "lock", "status").stdout
    after = cli(place, "incident", "lock-drill.yaml", "--yes")  # no lease to wait out
    assert after.code == 0 and not events(log_of(place, run_id_of(after.stdout)), "lock_taken_over")
    missing = cli(place, "lock", "release", "lock-drill", "--yes")
    assert missing.code == 1 and "is not locked in table" in missing.stderr
