"""Audit records shipped to CloudWatch Logs during real runs: the sandbox's moto serves CloudWatch Logs,
so what a team would see there is read back with boto3 and compared with the local log, line for line.
Shipping pointed at a dead endpoint never stops the incident and is noted in the local log.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from _drill_helpers import (
    chained,
    clean_env,
    complete_lines,
    events,
    hybridops,
    lines,
    new_log,
    only_log,
    signal_when,
    start,
)
from testsupport import wait_for

from hybridops.engine.clock import SimClock
from hybridops.sandbox import Sandbox

# bedrock-failure reads no CloudWatch Logs itself: redirecting the logs endpoint touches shipping only.
RUNBOOK, SCENARIO = "bedrock-failure", "bedrock-down"
DEAD = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused at once


@pytest.fixture(scope="module")
def ship_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SCENARIO, clock=SimClock()) as sb:
        yield sb


def logs_client(sb: Sandbox) -> Any:
    return boto3.client("logs", endpoint_url=sb.aws_url, region_name=sb.env["AWS_DEFAULT_REGION"],
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def shipped(sb: Sandbox, group: str, stream: str) -> list[str]:
    """Every message of a stream, oldest first."""
    client, out, token = logs_client(sb), [], None
    while True:
        page = client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                                     **({"nextToken": token} if token else {}))
        if not page["events"]:
            return out
        out += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]


def test_profile_ships_every_record_to_a_stream_named_after_the_run(ship_sandbox: Sandbox, tmp_path: Path) -> None:
    group = "/hybridops/e2e-profile"
    config = tmp_path / "team.toml"
    config.write_text(f'[profiles.team.audit]\ncloudwatch_log_group = "{group}"\ncloudwatch_region = "eu-central-1"\n',
                      encoding="utf-8")
    env = clean_env(tmp_path, tmp_path / "audit", **ship_sandbox.env, **ship_sandbox.notify_env,
                    HYBRIDOPS_CONFIG=str(config))
    ship_sandbox.set_scenario(SCENARIO)
    t0 = time.monotonic()
    p = hybridops("incident", RUNBOOK, "--yes", "--profile", "team", env=env)
    print(f"run with shipping: {time.monotonic() - t0:.1f}s")
    assert p.returncode == 3, p.stdout[-3000:] + p.stderr  # bedrock-failure's probe fails: see test_incidents
    log = only_log(tmp_path / "audit")
    records, _ = chained(log)
    assert events(records, "ship_failed") == []
    assert records[-1]["event"] == "run_finished" and records[-1]["status"] == "completed_with_failures"

    streams = logs_client(ship_sandbox).describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [log.stem]
    messages = shipped(ship_sandbox, group, log.stem)
    # Each event is the record's exact line: same records, same count, same order.
    assert len(messages) == len(records)
    assert [json.loads(m)["seq"] for m in messages] == list(range(len(records)))
    assert messages == log.read_text(encoding="utf-8").splitlines()


def test_unreachable_cloudwatch_never_stops_the_incident(ship_sandbox: Sandbox, tmp_path: Path, cli: Any) -> None:
    group = "/hybridops/e2e-dead"
    # botocore's per-service endpoint variable (service id "CloudWatch Logs"); the rest stays on the sandbox.
    env = clean_env(tmp_path, tmp_path / "audit", **ship_sandbox.env, **ship_sandbox.notify_env,
                    HYBRIDOPS_AUDIT_LOG_GROUP=group, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=DEAD)
    ship_sandbox.set_scenario(SCENARIO)
    t0 = time.monotonic()
    p = hybridops("incident", RUNBOOK, "--yes", env=env)
    took = time.monotonic() - t0
    assert p.returncode == 3, p.stdout[-3000:] + p.stderr
    log = only_log(tmp_path / "audit")
    records, torn = chained(log)
    assert torn == b""
    assert events(records, "run_finished")[-1]["status"] == "completed_with_failures"
    failed = events(records, "ship_failed")
    assert failed, "shipping failed without a word in the local log"
    assert all(group in r["error"] and "127.0.0.1:9" in r["error"] for r in failed), failed
    # run_finished seals the log: what could not be shipped by the end is told on the terminal only.
    assert records[-1]["event"] == "run_finished"
    assert "warning: audit shipping: " in p.stderr and "not shipped" in p.stderr
    # The redirect really took the shipping away from the sandbox (and nothing else of the run).
    assert [c for c in ship_sandbox.requests() if c.get("service") == "logs"] == []
    assert any(c.get("path") == "/admin/routing/force-mcp" for c in ship_sandbox.requests())

    code, out, err = cli("audit", "verify", str(log))
    assert code == 0 and "status: completed" in out, out + err
    # A late ship_failed does not make a completed run resumable.
    again = hybridops("resume", log.stem, "--yes", env=env)
    assert again.returncode == 1 and lines(again) == [
        "error: the run already completed, with failed steps; nothing to resume"]
    assert chained(log)[0] == records
    print(f"run with shipping to a dead endpoint: {took:.1f}s (the shipper gives up 5 s after the run ends)")


def test_a_killed_and_resumed_run_has_every_record_in_its_stream(ship_sandbox: Sandbox, tmp_path: Path) -> None:
    group = "/hybridops/e2e-resumed"
    audit = tmp_path / "audit"
    env = clean_env(tmp_path, audit, **ship_sandbox.env, **ship_sandbox.notify_env, HYBRIDOPS_AUDIT_LOG_GROUP=group)
    ship_sandbox.set_scenario(SCENARIO)
    proc = start("incident", RUNBOOK, "--yes", env=env)

    def forty_records() -> Path:
        log = wait_for(lambda: new_log(audit, set()), timeout=30, what="the audit log")
        wait_for(lambda: complete_lines(log) >= 40 or proc.poll() is not None, timeout=30)
        return log

    log, _ = signal_when(proc, forty_records)
    assert proc.returncode == -signal.SIGKILL
    p = hybridops("resume", log.stem, "--yes", env=env)
    assert p.returncode == 3, p.stdout[-3000:] + p.stderr  # bedrock-failure: completed with its probe failed
    assert shipped(ship_sandbox, group, log.stem) == log.read_text(encoding="utf-8").splitlines()
