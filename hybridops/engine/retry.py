"""Exponential backoff with jitter, and which failures are worth another try."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hybridops.runbook.model import AnyStep, Retries

# A read is retried by default; a mutation only when the runbook asks (and never blindly, see run.py).
DEFAULT_READ_RETRIES = Retries(attempts=2, backoff=1.0, max_backoff=10.0)
NO_RETRIES = Retries(attempts=0)
DEFAULT_CALL_TIMEOUT_S = 30.0  # each AWS or admin call, unless its step sets `timeout`


def retries_for(step: AnyStep) -> Retries:
    if step.retries is not None:
        return step.retries
    return NO_RETRIES if step.is_mutating else DEFAULT_READ_RETRIES


def backoff_delay(policy: Retries, retry: int, rng: random.Random | None = None) -> float:
    """Delay before retry number `retry` (1-based): backoff * 2^(retry-1), capped, with half jitter
    so that many operators retrying at once do not hit the API in lockstep."""
    base = min(policy.max_backoff, policy.backoff * (2 ** (retry - 1)))
    r = (rng or random).random()
    return base / 2 + r * base / 2


@dataclass(frozen=True)
class CallFailure(Exception):
    """A call failed. `retryable`: worth another try. `unknown_outcome`: the request may have been
    applied (a timeout after sending), so a mutation must not be repeated without confirmation."""

    message: str
    retryable: bool = False
    unknown_outcome: bool = False
    status: int | str | None = None

    def __str__(self) -> str:
        return self.message


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's text on one line, cut to `limit`, for CallFailure messages."""
    return " ".join(str(exc).split())[:limit]
