"""Durations as runbooks write them: `90s`, `2m`, `1h30m`, `500ms`.

Every duration is bounded: a value from a hostile or mistyped runbook, a `--var` or an operator's
answer (`1e308s`, `.inf`, ten thousand digits) is an error here, never an overflow or a wait that does
not end. Fields narrow the bounds further (`hybridops.runbook.model`); `duration_pattern` words a
field's bounds as the regular expression the shipped JSON Schema gives editors.
"""

from __future__ import annotations

import math
import re
from functools import cache

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Whole milliseconds per unit, largest first: the order a compound duration (`1h30m`) is written in.
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
MAX_DURATION = 366 * 86400.0  # the longest any duration may be: a year
MAX_TEXT = 40  # characters: `1d23h59m59s999ms` is 16
MAX_DECIMALS = 3  # finer than a millisecond means nothing to a runbook
MAX_TIME_SCALE = 10_000.0  # `--time-scale`: a day in under 9 s; beyond, waits round to nothing (or overflow)


def parse_duration(text: str | int | float, *, minimum: float = 0.0, maximum: float = MAX_DURATION) -> float:
    """Seconds in `text`, within [minimum, maximum]; a bare number is whole seconds. Raises ValueError
    with a readable message."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if isinstance(text, float) and not math.isfinite(text):
            raise ValueError(f"not a duration: {text} (use e.g. 30s, 2m, 1h30m)")
        if isinstance(text, float) and not text.is_integer():
            raise ValueError(f"a bare number is whole seconds, not {text}: write e.g. {text:g}s")
        # compared before float() or str(): an int of 400 digits overflows one, of 5000 the other
        shown = f"{int(text)}" if abs(text) < 10**12 else "a number this large"
        if text < 0:
            raise ValueError(f"duration must not be negative: {shown}")
        if text > maximum:
            raise ValueError(f"{shown} is too long: at most {limit_text(maximum)}")
        return _bounded(float(text), shown, minimum, maximum)
    raw = str(text)
    if len(raw) > MAX_TEXT:
        raise ValueError(f"not a duration: {len(raw)} characters long (use e.g. 30s, 2m, 1h30m)")
    s = raw.strip().replace(" ", "")
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        number = m.group(1)
        if "." in number and len(number.split(".")[1]) > MAX_DECIMALS:
            raise ValueError(f"{text!r}: at most {MAX_DECIMALS} decimal places (a millisecond)")
        total += float(number) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 2m, 1h30m)")
    return _bounded(total, s, minimum, maximum)


def _bounded(seconds: float, shown: str, minimum: float, maximum: float) -> float:
    if seconds > maximum:
        raise ValueError(f"{shown} is too long: at most {limit_text(maximum)}")
    if seconds < minimum:
        raise ValueError(f"{shown} is too short: at least {limit_text(minimum)}")
    return seconds


def limit_text(seconds: float) -> str:
    """A bound as a runbook would write it: 24h, 1h, 30d, 1s, 500ms."""
    ms = round(seconds * 1000)
    for unit, size in _UNIT_MS.items():
        if ms and ms % size == 0 and ms // size >= (2 if unit == "d" else 1):  # 24h, not 1d
            return f"{ms // size}{unit}"
    return "0s"


def format_duration(seconds: float) -> str:
    """Short human form: 0.4s, 42s, 2m05s, 1h02m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


# --- the bounds as a regular expression, for the JSON Schema -----------------------------------------
#
# JSON Schema cannot add up `1h30m`, so the pattern spells out which strings lie within the bounds:
# one number and unit, exactly (in whole milli-units, since a number has at most three decimals), and
# the usual compound form (whole numbers, units largest first, each after the first below the next
# unit up: `1h59m59s`) whenever its leading part alone keeps it within them. A compound the pattern
# leaves out (`1m90s`) is one `validate` may still accept; nothing the pattern admits is out of bounds.


def _digits_range(lo: int, hi: int, width: int) -> list[str]:
    """Alternatives matching exactly the `width`-digit strings (leading zeros kept) of lo..hi."""
    if lo > hi:
        return []
    if width == 0:
        return [""]
    step = 10 ** (width - 1)
    first_lo, rest_lo = divmod(lo, step)
    first_hi, rest_hi = divmod(hi, step)
    if first_lo == first_hi:
        return [str(first_lo) + tail for tail in _digits_range(rest_lo, rest_hi, width - 1)]
    out: list[str] = []
    whole_lo = first_lo if rest_lo == 0 else first_lo + 1
    whole_hi = first_hi if rest_hi == step - 1 else first_hi - 1
    if rest_lo != 0:
        out += [str(first_lo) + tail for tail in _digits_range(rest_lo, step - 1, width - 1)]
    if whole_lo <= whole_hi:
        digit = str(whole_lo) if whole_lo == whole_hi else f"[{whole_lo}-{whole_hi}]"
        out.append(digit + r"\d" * (width - 1))
    if rest_hi != step - 1:
        out += [str(first_hi) + tail for tail in _digits_range(0, rest_hi, width - 1)]
    return out


def _number_range(lo: int, hi: int, decimals: int) -> list[str]:
    """Alternatives matching a number written with `decimals` places (none: no point) whose value
    times 10**decimals is within lo..hi; leading zeros of the whole part are allowed."""
    out: list[str] = []
    top = len(str(max(hi, 0)))
    for whole_digits in range(1, max(top - decimals, 1) + 1):
        width = whole_digits + decimals
        low = 0 if whole_digits == 1 else 10 ** (width - 1)
        for alt in _digits_range(max(lo, low), min(hi, 10**width - 1), width):
            # the digit classes of `alt`: a class `[a-b]`, `\d` or one digit each
            classes = re.findall(r"\[\d-\d\]|\\d|\d", alt)
            split = len(classes) - decimals
            whole, frac = "".join(classes[:split]), "".join(classes[split:])
            out.append(whole + (r"\." + frac if decimals else ""))
    return out


def _alternation(alts: list[str]) -> str:
    return "(?:" + "|".join(alts) + ")"


@cache
def duration_pattern(minimum: float, maximum: float) -> str:
    """The regular expression of the duration strings within [minimum, maximum] seconds."""
    lo_ms, hi_ms = math.ceil(minimum * 1000), math.floor(maximum * 1000)
    singles: list[str] = []
    for unit, size in _UNIT_MS.items():
        # n (written with `decimals` places) of `unit` is n * size / 10**decimals milliseconds
        numbers: list[str] = []
        for decimals in range(MAX_DECIMALS + 1):
            scale = 10**decimals
            numbers += _number_range(-(-lo_ms * scale // size), hi_ms * scale // size, decimals)
        if numbers:
            singles.append("0*" + _alternation(numbers) + unit)
    compounds: list[str] = []
    units = list(_UNIT_MS)
    for i, lead in enumerate(units[:-1]):
        size = _UNIT_MS[lead]
        # below (n + 1) units of `lead` whatever follows, at least n units
        first = _digits_alternatives(max(-(-lo_ms // size), 1), hi_ms // size - 1)
        if not first:
            continue
        tails = [f"(?:0*{_alternation(_digits_alternatives(0, _UNIT_MS[units[j - 1]] // _UNIT_MS[u] - 1))}{u})?"
                 for j, u in enumerate(units) if j > i]
        compounds.append("0*" + _alternation(first) + lead + "".join(tails))
    return "^(?:" + "|".join(singles + compounds) + ")$"


def _digits_alternatives(lo: int, hi: int) -> list[str]:
    return _number_range(lo, hi, 0) if lo <= hi else []
