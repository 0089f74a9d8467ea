"""CloudWatch Logs' regular expressions (`%...%` in a filter pattern), matched in linear time.

CloudWatch allows no parentheses, so an expression is alternatives (`|`) of anchored (`^`, `$`)
sequences of atoms (a character, `.`, a `[...]` class, `\\d \\w \\s` and their negations, an escaped
character), each with an optional quantifier (`? * + {m} {m,} {m,n}`, lazy or not). Such a language
needs no backtracking: each alternative is simulated as a set of positions in its sequence, one
character of the message at a time, so `%.*.*.*.*x%` on a long line costs what `%x%` costs. Python's
`re` would backtrack on it for as long as it likes, holding the sandbox's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_REPEAT = 1000  # the largest count in {m,n}
MAX_SLOTS = 10_000  # atoms once counted repetitions are written out

Char = Callable[[str], bool]
ONE, OPTIONAL, ANY = 0, 1, 2  # exactly once, at most once, any number of times
_CLASSES: dict[str, Char] = {
    "d": str.isdigit, "w": lambda c: c.isalnum() or c == "_", "s": str.isspace,
}
_CONTROL = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}


class RegexError(ValueError):
    """An expression outside CloudWatch's regular expressions."""


@dataclass(frozen=True)
class _Alternative:
    slots: tuple[tuple[Char, int], ...]
    at_start: bool
    at_end: bool

    def search(self, text: str) -> bool:
        n = len(self.slots)
        current = self._closure({0})
        if self._accepts(current, 0, text):
            return True
        for pos, char in enumerate(text):
            following: set[int] = set()
            for i in current:
                if i < n:
                    test, kind = self.slots[i]
                    if test(char):
                        following.add(i if kind == ANY else i + 1)
            if not self.at_start:
                following.add(0)  # a match may begin after this character too
            current = self._closure(following)
            if self._accepts(current, pos + 1, text):
                return True
            if not current:
                return False
        return False

    def _closure(self, states: set[int]) -> set[int]:
        out, todo = set(states), list(states)
        while todo:
            i = todo.pop()
            if i < len(self.slots) and self.slots[i][1] != ONE and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return out

    def _accepts(self, states: set[int], pos: int, text: str) -> bool:
        if len(self.slots) not in states:
            return False
        # `$` as Python's and Java's: at the end, or before a final newline
        return not self.at_end or pos == len(text) or (pos == len(text) - 1 and text[-1] == "\n")


@dataclass(frozen=True)
class Regex:
    """A compiled expression: `search(text)` says whether it matches anywhere in `text`."""

    alternatives: tuple[_Alternative, ...]

    def search(self, text: str) -> bool:
        return any(a.search(text) for a in self.alternatives)


def compile_regex(body: str) -> Regex:
    """`body` (what is between the % signs) compiled; RegexError when it is not a valid expression."""
    return Regex(tuple(_alternative(part, body) for part in _split_alternatives(body)))


def _split_alternatives(body: str) -> list[str]:
    parts, start, i, in_class = [], 0, 0, False
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]" and not _class_start(body, i):
                in_class = False
        elif c == "[":
            in_class = True
        elif c == "|":
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:])
    return parts


def _class_start(body: str, i: int) -> bool:
    """A `]` just after `[` or `[^` is a member of the class, not its end."""
    j = i - 1
    if j >= 0 and body[j] == "^":
        j -= 1
    return j >= 0 and body[j] == "[" and (j == 0 or body[j - 1] != "\\")


def _alternative(part: str, whole: str) -> _Alternative:
    at_start = part.startswith("^")
    i = 1 if at_start else 0
    at_end = False
    slots: list[tuple[Char, int]] = []
    while i < len(part):
        c = part[i]
        if c == "$":
            if i != len(part) - 1:
                raise RegexError(f"$ ends an alternative of %{whole}%; it cannot stand inside one")
            at_end = True
            i += 1
            continue
        if c == "^":
            raise RegexError(f"^ starts an alternative of %{whole}%; it cannot stand inside one")
        if c in "*+?" or (c == "{" and _counted(part, i) is not None):
            raise RegexError(f"nothing to repeat before {c!r} in %{whole}%")
        test, i = _atom(part, i, whole)
        low, high, i = _quantifier(part, i, whole)
        slots += [(test, ONE)] * low
        slots += [(test, ANY)] if high is None else [(test, OPTIONAL)] * (high - low)
        if len(slots) > MAX_SLOTS:
            raise RegexError(f"%{whole}% is too long once its repetitions are counted out")
    return _Alternative(tuple(slots), at_start, at_end)


def _atom(part: str, i: int, whole: str) -> tuple[Char, int]:
    c = part[i]
    if c == ".":
        return (lambda ch: ch != "\n"), i + 1
    if c == "[":
        return _class(part, i, whole)
    if c == "\\":
        return _escape(part, i, whole)
    return _literal(c), i + 1


def _literal(c: str) -> Char:
    return lambda ch: ch == c


def _escape(part: str, i: int, whole: str) -> tuple[Char, int]:
    if i + 1 >= len(part):
        raise RegexError(f"%{whole}% ends with a lone \\")
    e = part[i + 1]
    if e.lower() in _CLASSES:
        test = _CLASSES[e.lower()]
        return (test if e.islower() else (lambda ch: not test(ch))), i + 2
    if e in _CONTROL:
        return _literal(_CONTROL[e]), i + 2
    if e.isalnum():
        raise RegexError(f"unsupported escape \\{e} in %{whole}%")
    return _literal(e), i + 2


def _class(part: str, i: int, whole: str) -> tuple[Char, int]:
    j = i + 1
    negated = j < len(part) and part[j] == "^"
    if negated:
        j += 1
    tests: list[Char] = []
    first = True
    while True:
        if j >= len(part):
            raise RegexError(f"unterminated character class in %{whole}%")
        c = part[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "\\":
            test, j = _escape(part, j, whole)
            tests.append(test)
            continue
        if j + 2 < len(part) and part[j + 1] == "-" and part[j + 2] != "]":
            high = part[j + 2]
            if high == "\\":
                raise RegexError(f"a range cannot end with an escape in %{whole}%")
            if high < c:
                raise RegexError(f"bad character range {c}-{high} in %{whole}%")
            tests.append(_between(c, high))
            j += 3
            continue
        tests.append(_literal(c))
        j += 1
    if negated:
        return (lambda ch: not any(t(ch) for t in tests)), j
    return (lambda ch: any(t(ch) for t in tests)), j


def _between(low: str, high: str) -> Char:
    return lambda ch: low <= ch <= high


def _counted(part: str, i: int) -> tuple[int, int | None, int] | None:
    """`{m}`, `{m,}`, `{m,n}` or `{,n}` at i: (m, n or None, the position after); None when the brace
    is a plain character, as it is in Python and Java."""
    end = part.find("}", i)
    if end == -1:
        return None
    inside = part[i + 1:end]
    low, comma, high = inside.partition(",")
    if not (low.isdigit() or (comma and not low)) or (high and not high.isdigit()) or (not low and not high):
        return None
    if not comma:
        return int(low), int(low), end + 1
    return int(low or 0), (int(high) if high else None), end + 1


def _quantifier(part: str, i: int, whole: str) -> tuple[int, int | None, int]:
    low: int
    high: int | None
    if i >= len(part):
        return 1, 1, i
    c = part[i]
    if c == "*":
        low, high, i = 0, None, i + 1
    elif c == "+":
        low, high, i = 1, None, i + 1
    elif c == "?":
        low, high, i = 0, 1, i + 1
    elif c == "{" and (counted := _counted(part, i)) is not None:
        low, high, i = counted
        if low > MAX_REPEAT or (high is not None and high > MAX_REPEAT):
            raise RegexError(f"a count over {MAX_REPEAT} in %{whole}%")
        if high is not None and high < low:
            raise RegexError(f"{{{low},{high}}} counts down in %{whole}%")
    else:
        return 1, 1, i
    if i < len(part) and part[i] == "?":
        i += 1  # lazy: the same matches, found in another order
    if i < len(part) and (part[i] in "*+" or (part[i] == "{" and _counted(part, i) is not None)
                          or (part[i] == "?" and part[i - 1] == "?")):
        raise RegexError(f"multiple repeat in %{whole}%")
    return low, high, i
