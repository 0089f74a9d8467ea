"""JSON as every other parser reads it, for the sandbox's servers (Python's json is laxer)."""

from __future__ import annotations

import json
from typing import Any


def strict_json(raw: bytes) -> Any:
    """JSON as RFC 8259 defines it: ValueError for NaN, Infinity and -Infinity, which Python's json
    accepts and no other parser does, for a number too large for a double (1e999, which Python reads
    as infinity), and for nesting deeper than Python's stack."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value
