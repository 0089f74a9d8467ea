"""Exponential backoff with jitter, and which failures are worth another try."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import re
from dataclasses import dataclass

from hybridops.runbook.model import AnyStep, Retries

# A read is retried by default; a mutation only when the runbook asks (and never blindly, see run.py).
DEFAULT_READ_RETRIES = Retries(attempts=2, backoff=1.0, max_backoff=10.0)
NO_RETRIES = Retries(attempts=0)
DEFAULT_CALL_TIMEOUT_S = 30.0  # each AWS or admin call, unless its step sets `timeout`
# A server's Retry-After is honoured up to this: an API asking for an hour must not stall an incident.
RETRY_AFTER_CAP_S = 300.0


def retries_for(step: AnyStep, mutating: bool | None = None, failure: CallFailure | None = None) -> Retries:
    """The step's policy, or by default: reads retry; a change retries only after an answer saying it
    was not processed (`failure.refused`: 429, 503, throttling). `mutating`: the call's own verdict,
    when the engine knows better than the step's declaration."""
    if step.retries is not None:
        return step.retries
    if not (step.is_mutating if mutating is None else mutating):
        return DEFAULT_READ_RETRIES
    return DEFAULT_READ_RETRIES if failure is not None and failure.refused else NO_RETRIES


def backoff_delay(policy: Retries, retry: int, rng: random.Random | None = None) -> float:
    """Delay before retry number `retry` (1-based): backoff * 2^(retry-1), capped, with half jitter
    so that many operators retrying at once do not hit the API in lockstep."""
    base = min(policy.max_backoff, policy.backoff * (2 ** (retry - 1)))
    r = (rng or random).random()
    return base / 2 + r * base / 2


def retry_delay(policy: Retries, retry: int, rng: random.Random | None, retry_after: float | None) -> float:
    """The backoff before retry number `retry`, but never sooner than the server asked (capped)."""
    delay = backoff_delay(policy, retry, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_S))
    return delay


_SECONDS = re.compile(r"\d{1,10}(\.\d{1,6})?")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header as seconds from `now` (epoch seconds, the run's clock): delay-seconds or
    an HTTP date; None when absent or unreadable (the backoff alone then applies)."""
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CAP_S)


@dataclass(frozen=True)
class CallFailure(Exception):
    """A call failed. `retryable`: worth another try. `unknown_outcome`: the request may have been
    applied (a timeout after sending, an answer that does not say), so a mutation must not be
    repeated without confirmation. `refused`: the server answered that it did not process it (429,
    503, throttling): as safe to send again as if it had never been sent. `retry_after`: seconds the
    server asked to wait first."""

    message: str
    retryable: bool = False
    unknown_outcome: bool = False
    status: int | str | None = None
    refused: bool = False
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's text on one line, cut to `limit`, for CallFailure messages."""
    return " ".join(str(exc).split())[:limit]
