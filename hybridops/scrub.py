"""Secrets out of everything the tool writes or shows: one scrubber for every sink."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 4


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`: `2026-11-25T17:41:02.123Z`."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


class Scrubber:
    """Turns arbitrary values into JSON data with every registered secret replaced by `***`.

    The one scrubber: the engine's events pass through it on their way to every sink (audit log,
    screen, JSON lines, CloudWatch), and the audit log applies it again to records written directly."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str) -> None:
        s = str(secret)
        if len(s) >= MIN_SECRET_LEN and s not in self._secrets:
            self._secrets.append(s)
            self._secrets.sort(key=len, reverse=True)  # longest first: a secret containing another

    def text(self, s: str) -> str:
        for secret in self._secrets:
            if secret in s:
                s = s.replace(secret, MASK)
        return s

    def key(self, k: object) -> str:
        if isinstance(k, str):
            return self.text(k)
        if k is None or isinstance(k, bool | int | float):
            return self.text(json.dumps(k))  # what json.dumps would have made of the key
        return self.text(str(k))

    def value(self, v: object) -> Any:
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, int | float):
            if isinstance(v, float) and not math.isfinite(v):
                return str(v)  # JSON has no NaN / Infinity; keep the information as text
            if self._secrets and self.text(str(v)) != str(v):
                return MASK
            return v
        if isinstance(v, Mapping):
            return {self.key(k): self.value(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        if isinstance(v, set | frozenset):
            return sorted((self.value(x) for x in v), key=repr)
        if isinstance(v, datetime):
            return format_ts(v) if v.tzinfo is not None else v.isoformat()
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, Enum):
            return self.value(v.value)
        if isinstance(v, bytes | bytearray):
            return self.text(bytes(v).decode("utf-8", errors="replace"))
        if isinstance(v, PurePath):
            return self.text(str(v))
        dump = getattr(v, "model_dump", None)  # pydantic models, without importing pydantic
        if callable(dump):
            return self.value(dump(mode="json"))
        return self.text(str(v))


