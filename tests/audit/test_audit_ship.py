"""Shipping to CloudWatch Logs: against moto, and with puts failing while the caller carries on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testsupport import wait_for

from hybridops.audit.log import AuditLog, verify_log
from hybridops.audit.ship import CloudWatchShipper

GROUP = "/hybridops/audit"
REGION = "eu-central-1"

moto = pytest.importorskip("moto")


@pytest.fixture
def aws() -> Iterator[Any]:
    import boto3

    with moto.mock_aws():
        yield boto3.session.Session(region_name=REGION)


def stream_messages(session: Any, stream: str) -> list[str]:
    logs = session.client("logs", region_name=REGION)
    events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
    return [e["message"] for e in events]


def test_every_record_reaches_one_stream_per_run_as_its_exact_line(aws: Any, audit_dir: Path) -> None:
    failures: list[str] = []
    log = AuditLog.create(audit_dir, "20261125T174102.123Z-bedrock-failure-3f9a")
    shipper = CloudWatchShipper(aws, GROUP, REGION, log.run_id, on_failure=failures.append, max_batch=7)
    log.subscribe(shipper)
    log.append("run_started", runbook={"id": "bedrock-failure"}, note="ünïcode")
    for i in range(30):
        log.append("request", step_id=f"s{i}", target="aws", service="ecs", operation="DescribeServices")
    log.append("run_finished", status="completed")
    log.close()
    assert shipper.close(timeout=10) == 0
    assert (failures, shipper.shipped, shipper.dropped) == ([], 32, 0)

    groups = aws.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]  # created on first use
    messages = stream_messages(aws, log.run_id)
    assert messages == log.path.read_text(encoding="utf-8").splitlines()
    # The CloudWatch copy is a verifiable chain of its own: an anchor for the local log's head.
    copy = audit_dir / "copy.jsonl"
    copy.write_text("".join(m + "\n" for m in messages), encoding="utf-8")
    assert verify_log(copy).ok


def test_an_existing_group_and_stream_are_reused(aws: Any) -> None:
    logs = aws.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="r1")
    failures: list[str] = []
    shipper = CloudWatchShipper(aws, GROUP, REGION, "r1", on_failure=failures.append)
    shipper({"seq": 0, "ts": "2026-11-25T17:41:02.123Z", "run_id": "r1", "event": "run_started", "prev": "0" * 64})
    assert shipper.close(timeout=10) == 0 and failures == []
    assert len(stream_messages(aws, "r1")) == 1


class Unreachable:
    """A logs client whose every call fails the way a lost network does."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls += 1
            raise ConnectionError("Could not connect to the endpoint URL: https://logs.eu-central-1.amazonaws.com/")

        return call


def test_failing_puts_never_block_or_raise_into_the_caller(audit_dir: Path) -> None:
    client = Unreachable()
    log = AuditLog.create(audit_dir, "r-down")
    reported: list[str] = []

    def on_failure(message: str) -> None:
        reported.append(message)
        log.append("ship_failed", error=message)  # what the engine does: noted in the local log

    shipper = CloudWatchShipper(
        lambda: client, GROUP, REGION, log.run_id, on_failure=on_failure, flush_interval=0.01, backoff_base=0.01
    )
    log.subscribe(shipper)
    log.append("run_started")
    for i in range(200):  # every append returns while the network is down: nothing waits for it
        log.append("note", i=i)
    wait_for(lambda: client.calls >= 3, timeout=30, what="the shipper's retries")  # it keeps retrying
    left = shipper.close(timeout=0.5)
    log.close()
    assert reported[0] == (
        f"shipping to CloudWatch Logs {GROUP} failed, retrying: "
        "Could not connect to the endpoint URL: https://logs.eu-central-1.amazonaws.com/"
    )
    assert len(reported) == 2  # once for the outage, once for what close() could not ship
    assert reported[1].startswith(f"{left} audit record(s) not shipped to CloudWatch Logs {GROUP}: ")
    assert left == 202  # run_started, 200 notes, and the first ship_failed record itself
    result = verify_log(log.path)
    assert result.ok and result.records == 203  # and the second ship_failed, written after close


def test_a_real_unreachable_endpoint(audit_dir: Path) -> None:
    import boto3
    from botocore.config import Config

    gate, failed = threading.Event(), threading.Event()

    def factory() -> Any:
        gate.wait(30)  # the shipper cannot even make its client until the records are handed over
        return boto3.session.Session().client(
            "logs", region_name=REGION, endpoint_url="http://127.0.0.1:9",
            config=Config(retries={"max_attempts": 1}, connect_timeout=0.5),
        )  # fmt: skip

    reported: list[str] = []

    def report(message: str) -> None:
        reported.append(message)
        failed.set()

    shipper = CloudWatchShipper(factory, GROUP, REGION, "r-refused", on_failure=report, flush_interval=0.01)
    for i in range(50):  # each returns at once: handing a record over never waits for AWS
        shipper({"seq": i, "ts": "2026-11-25T17:41:02.123Z", "run_id": "r", "event": "note", "prev": "0" * 64})
    gate.set()
    assert failed.wait(30), "the refused connection was never reported"
    assert shipper.close(timeout=0.5) == 50
    assert reported[0].startswith(f"shipping to CloudWatch Logs {GROUP} failed, retrying: Could not connect")


class Flaky:
    """Delegates to a real (moto) client; the first `fail` puts are throttled."""

    def __init__(self, real: Any, fail: int) -> None:
        self.real, self.fail, self.puts = real, fail, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_log_events(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        self.puts += 1
        if self.puts <= self.fail:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutLogEvents")
        return self.real.put_log_events(**kwargs)


def test_throttled_puts_are_retried_until_they_land(aws: Any) -> None:
    flaky = Flaky(aws.client("logs", region_name=REGION), fail=3)
    reported: list[str] = []
    shipper = CloudWatchShipper(
        lambda: flaky, GROUP, REGION, "r-flaky", on_failure=reported.append, flush_interval=0.01, backoff_base=0.01
    )
    for i in range(10):
        shipper({"seq": i, "ts": f"2026-11-25T17:41:0{i}.000Z", "run_id": "r", "event": "note", "prev": "0" * 64})
    assert shipper.close(timeout=10) == 0
    assert reported == [
        f"shipping to CloudWatch Logs {GROUP} failed, retrying: An error occurred "
        "(ThrottlingException) when calling the PutLogEvents operation: Rate exceeded"
    ]
    assert len(stream_messages(aws, "r-flaky")) == 10 and shipper.shipped == 10


def test_batches_respect_the_batch_size(aws: Any) -> None:
    counting = Flaky(aws.client("logs", region_name=REGION), fail=0)
    shipper = CloudWatchShipper(lambda: counting, GROUP, REGION, "r-batches", max_batch=500, flush_interval=5)
    for i in range(1200):
        shipper({"seq": i, "ts": "2026-11-25T17:41:02.000Z", "run_id": "r", "event": "note", "prev": "0" * 64})
    assert shipper.close(timeout=10) == 0
    assert counting.puts == 3 and len(stream_messages(aws, "r-batches")) == 1200


def test_a_raising_callback_and_bad_records_do_not_escape(audit_dir: Path) -> None:
    def on_failure(message: str) -> None:
        raise RuntimeError("callback bug")

    shipper = CloudWatchShipper(lambda: Unreachable(), GROUP, REGION, "r", on_failure=on_failure, flush_interval=0.01)
    shipper({"no": "ts"})
    shipper({"seq": 0, "ts": "2026-11-25T17:41:02.000Z", "run_id": "r", "event": "x", "prev": "0" * 64})
    time.sleep(0.1)
    assert shipper.close(timeout=0.2) == 1
    assert shipper.dropped == 2
    assert not [t for t in threading.enumerate() if t.name == "hybridops-ship-r" and t.is_alive()]


def test_oversized_records_are_truncated_not_lost(aws: Any) -> None:
    shipper = CloudWatchShipper(aws, GROUP, REGION, "r-big")
    shipper({"seq": 0, "ts": "2026-11-25T17:41:02.000Z", "run_id": "r", "event": "x", "prev": "0" * 64,
             "summary": "é" * 200_000})  # fmt: skip
    assert shipper.close(timeout=10) == 0
    (message,) = stream_messages(aws, "r-big")
    assert message.endswith(" ...[truncated by hybridops]") and len(message.encode()) <= 262_144 - 26
