"""Ship audit records to CloudWatch Logs so a team sees every operator's actions in one place.

The local log stays the record of truth; shipping is best effort and must never slow or stop an
incident. So the shipper is a sink that only enqueues (O(1), never raises); a background thread
batches records into `PutLogEvents` calls on one stream per run (named by the run id, in a group
created if missing), retrying with exponential backoff and jitter. Failures reach the engine
through `on_failure(message)`, at most once per outage, from the shipper's thread (or from `close`):
the engine can append a `ship_failed` record to the local log, and that record may be shipped in
turn without ever causing another report while the outage lasts.

Each event's message is the record's exact log line, so the chain can be verified from CloudWatch
too, which also anchors the head of the local log against truncation.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from hybridops.audit.log import encode_record, parse_ts
from hybridops.interrupts import start_background

# PutLogEvents limits (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html)
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
_TRUNCATED = b" ...[truncated by hybridops]"


def _error_code(exc: BaseException) -> str | None:
    # botocore's ClientError carries the service's error code; no botocore import needed to read it
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return response.get("Error", {}).get("Code")
    return None


def _error_text(exc: BaseException) -> str:
    """One line: the error code (when AWS gave one) and the first line of the message."""
    text = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    code = _error_code(exc)
    return f"{code}: {text}" if code and code not in text else text


class CloudWatchShipper:
    """A sink for audit records that puts them to CloudWatch Logs from a background thread.

    `session_or_client_factory` is a boto3 Session (its `logs` client is made here, on the caller's
    thread, because sessions are not thread-safe), a zero-argument callable returning a `logs`
    client (called on the shipper's thread), or None for a fresh default session.
    """

    def __init__(
        self,
        session_or_client_factory: Any,
        log_group: str,
        region: str,
        run_id: str,
        *,
        on_failure: Callable[[str], Any] | None = None,
        flush_interval: float = 1.0,
        max_batch: int = 500,
        max_buffer: int = 10_000,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.log_group = log_group
        self.region = region
        self.stream = run_id
        self._on_failure = on_failure
        self._flush_interval = flush_interval
        self._max_batch = max(1, min(max_batch, MAX_BATCH_EVENTS))
        self._max_buffer = max_buffer
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max

        self._cond = threading.Condition()
        self._buf: deque[tuple[int, str]] = deque()  # (timestamp ms, message)
        self._closing = False
        self._deadline = float("inf")
        self._pending: list[str] = []  # failure messages waiting for the worker to report
        self._backfill: list[Mapping[str, Any]] | None = None
        self._failing = False  # inside an outage: report once, not once per retry
        self._last_error: str | None = None
        self._stream_ready = False
        self._settling = False  # settle(): ship now, and say when the attempt ended
        self._attempts = 0
        self._dry_run = False
        self.shipped = 0
        self.dropped = 0

        self._client: Any = None
        self._client_error: str | None = None
        self._factory: Callable[[], Any] | None = None
        if session_or_client_factory is not None and hasattr(session_or_client_factory, "client"):
            try:
                self._client = session_or_client_factory.client("logs", region_name=region, config=_client_config())
            except Exception as exc:  # why: a bad region or profile must not stop the incident
                self._client_error = f"cannot create a CloudWatch Logs client: {_error_text(exc)}"
        elif session_or_client_factory is not None:
            self._factory = session_or_client_factory
        else:
            self._factory = self._default_client

        self._thread = start_background(self._run, f"hybridops-ship-{run_id}")

    # --- the caller's side: never blocks, never raises ------------------------------------------

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Queue one record (the dict `AuditLog.append` returned) for shipping."""
        if record.get("event") == "run_started" and record.get("dry_run"):
            self._dry_run = True  # a dry run sends nothing at all, its audit records included
        if self._dry_run:
            return
        try:
            line = encode_record(record)
            ts_ms = int(parse_ts(record["ts"]).timestamp() * 1000)
        except (KeyError, TypeError, ValueError) as exc:
            with self._cond:
                self.dropped += 1
                self._pending.append(f"audit record not shipped: {exc}")
                self._cond.notify()
            return
        if len(line) > MAX_EVENT_BYTES:
            line = line[: MAX_EVENT_BYTES - len(_TRUNCATED)] + _TRUNCATED
        message = line.decode("utf-8", errors="ignore")  # a cut may split a character
        with self._cond:
            if self._closing:
                self.dropped += 1
                return
            self._buf.append((ts_ms, message))
            if len(self._buf) > self._max_buffer:
                self._buf.popleft()
                self.dropped += 1
                if not self._failing:
                    self._pending.append(f"shipping buffer full ({self._max_buffer}): oldest records dropped")
            if len(self._buf) >= self._max_batch:
                self._cond.notify()

    def close(self, timeout: float = 5.0) -> int:
        """Ship what can be shipped within `timeout` seconds; return how many records were not.

        Reports unshipped records through `on_failure`. Safe to call twice.
        """
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + timeout
            self._cond.notify()
        self._thread.join(timeout + 0.5)
        with self._cond:
            left = len(self._buf)
            self._buf.clear()
            self.dropped += left
            pending, self._pending = self._pending, []
        for message in pending:
            self._report(message)
        if left:
            why = f": {self._last_error}" if self._last_error else ""
            self._report(f"{left} audit record(s) not shipped to CloudWatch Logs {self.log_group}{why}")
        return left

    def backfill(self, records: list[Mapping[str, Any]]) -> None:
        """Ship what an earlier process of this run left unshipped (it was killed, say): the shipper
        asks the stream for its last record and queues the later ones ahead of new records."""
        with self._cond:
            self._backfill = list(records)
            self._cond.notify()

    def _do_backfill(self, records: list[Mapping[str, Any]]) -> None:
        last = -1
        try:
            client = self._get_client()
            if not self._stream_ready:
                self._ensure_stream(client)
            events = client.get_log_events(logGroupName=self.log_group, logStreamName=self.stream,
                                           startFromHead=False, limit=1).get("events", [])
            if events:
                last = int(json.loads(events[-1]["message"]).get("seq", -1))
        except Exception as exc:  # why: shipping must never reach the incident; ship everything then
            self._report(f"cannot read the CloudWatch stream to resume shipping: {_error_text(exc)}")
        older: list[tuple[int, str]] = []
        for record in records:
            if isinstance(record.get("seq"), int) and record["seq"] > last:
                try:
                    older.append((int(parse_ts(record["ts"]).timestamp() * 1000),
                                  encode_record(record).decode("utf-8", errors="ignore")))
                except (KeyError, TypeError, ValueError):
                    continue
        with self._cond:
            self._buf.extendleft(reversed(older))

    def settle(self, timeout: float = 2.0) -> None:
        """Ship what is queued now and wait (at most `timeout` s) for that attempt to end, a failure
        reported: called just before run_finished seals the local log, so the failure is still
        recorded in it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._buf or self._closing:
                return
            start = self._attempts
            self._settling = True
            self._cond.notify_all()
            try:
                while self._attempts == start and not self._closing and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
            finally:
                self._settling = False

    @property
    def pending(self) -> int:
        """Records queued and not yet shipped."""
        with self._cond:
            return len(self._buf)

    # --- the shipper's thread -------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                if attempt == 0:
                    self._cond.wait_for(
                        lambda: (self._closing or len(self._buf) >= self._max_batch or bool(self._pending)
                                 or self._backfill is not None or self._settling),
                        timeout=self._flush_interval,
                    )
                else:
                    delay = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
                    delay *= random.uniform(0.5, 1.0)
                    if self._closing:
                        delay = min(delay, max(0.0, self._deadline - time.monotonic()))
                    self._cond.wait(delay)
                if self._closing and ((not self._buf and self._backfill is None)
                                      or time.monotonic() >= self._deadline):
                    return
                pending, self._pending = self._pending, []
                backfill, self._backfill = self._backfill, None
            if backfill is not None:
                self._do_backfill(backfill)
            with self._cond:
                batch = self._take_batch()
            for message in pending:
                self._report(message)
            if not batch:
                continue
            try:
                rejected = self._put(batch)
            except Exception as exc:  # why: any botocore/urllib3 error must stay in this thread
                attempt += 1
                self._last_error = _error_text(exc)
                if not self._failing:
                    self._failing = True
                    self._report(f"shipping to CloudWatch Logs {self.log_group} failed, retrying: {self._last_error}")
                with self._cond:
                    self._attempts += 1
                    self._cond.notify_all()
                continue
            attempt = 0
            self._failing = False
            with self._cond:
                for _ in range(min(len(batch), len(self._buf))):  # close() may have cleared it
                    self._buf.popleft()
                self.shipped += len(batch) - rejected
                self._attempts += 1
                self._cond.notify_all()
                self.dropped += rejected
            if rejected:
                self._report(f"CloudWatch Logs rejected {rejected} audit record(s) (too old or too new)")

    def _take_batch(self) -> list[tuple[int, str]]:
        # The oldest records, within PutLogEvents' count, size and 24-hour span limits.
        batch: list[tuple[int, str]] = []
        size = 0
        for ts_ms, message in self._buf:
            n = len(message.encode("utf-8")) + EVENT_OVERHEAD
            if batch and (
                len(batch) >= self._max_batch
                or size + n > MAX_BATCH_BYTES
                or abs(ts_ms - batch[0][0]) > MAX_BATCH_SPAN_MS
            ):
                break
            batch.append((ts_ms, message))
            size += n
        return batch

    def _put(self, batch: list[tuple[int, str]]) -> int:
        client = self._get_client()
        if not self._stream_ready:
            self._ensure_stream(client)
        # Chronological within a batch, as PutLogEvents requires; stable, so seq order on ties.
        events = [{"timestamp": ts, "message": m} for ts, m in sorted(batch, key=lambda e: e[0])]
        try:
            response = client.put_log_events(logGroupName=self.log_group, logStreamName=self.stream, logEvents=events)
        except Exception as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
            self._stream_ready = False  # deleted under us: make it again, once
            self._ensure_stream(client)
            response = client.put_log_events(logGroupName=self.log_group, logStreamName=self.stream, logEvents=events)
        info = response.get("rejectedLogEventsInfo") or {}
        rejected = 0
        if "tooOldLogEventEndIndex" in info:
            rejected += int(info["tooOldLogEventEndIndex"])
        if "tooNewLogEventStartIndex" in info:
            rejected += len(events) - int(info["tooNewLogEventStartIndex"])
        if "expiredLogEventEndIndex" in info and "tooOldLogEventEndIndex" not in info:
            rejected += int(info["expiredLogEventEndIndex"])
        return min(rejected, len(events))

    def _ensure_stream(self, client: Any) -> None:
        try:
            client.create_log_stream(logGroupName=self.log_group, logStreamName=self.stream)
        except Exception as exc:
            code = _error_code(exc)
            if code == "ResourceNotFoundException":
                try:
                    client.create_log_group(logGroupName=self.log_group)
                except Exception as exc2:
                    if _error_code(exc2) != "ResourceAlreadyExistsException":
                        raise
                try:
                    client.create_log_stream(logGroupName=self.log_group, logStreamName=self.stream)
                except Exception as exc3:
                    if _error_code(exc3) != "ResourceAlreadyExistsException":
                        raise
            elif code != "ResourceAlreadyExistsException":
                raise
        self._stream_ready = True

    def _get_client(self) -> Any:
        if self._client is None:
            if self._factory is None:
                raise RuntimeError(self._client_error or "no CloudWatch Logs client")
            self._client = self._factory()
        return self._client

    def _default_client(self) -> Any:
        import boto3  # lazily: shipping is optional and boto3 costs ~150 ms to import

        return boto3.session.Session().client("logs", region_name=self.region, config=_client_config())

    def _report(self, message: str) -> None:
        if self._on_failure is None:
            return
        # why suppress: a failing callback must not kill shipping or reach the incident
        with contextlib.suppress(Exception):
            self._on_failure(message)


def _client_config() -> Any:
    # Few retries and short timeouts: the shipper retries itself, and close() must not hang.
    from botocore.config import Config

    return Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3, read_timeout=10)
