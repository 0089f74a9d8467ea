"""CloudWatch Logs JSON filter patterns (`{ $.type = "routing-decision" && $.latencyMs > 5000 }`).

moto 5 treats every pattern that does not start with a letter or a quote as "match everything", so
the sandbox evaluates JSON patterns itself. Supported: `$.a.b[0]` selectors; `=`, `!=` on strings
(with `*` wildcards) and numbers; `<`, `>`, `<=`, `>=` on numbers; `IS TRUE|FALSE|NULL`;
`NOT EXISTS`; `&&`, `||` and parentheses.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(r"""\s*(?:
    (?P<sel>\$(?:\.[\w-]+|\[\d+\])*)
  | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<word>[^\s()&|=!<>"]+)
)""", re.VERBOSE)

Matcher = Callable[[Any], bool]
_MISSING = object()


def is_json_pattern(pattern: str | None) -> bool:
    return bool(pattern) and pattern.strip().startswith("{")


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A predicate on a log message; ValueError if the pattern is not a JSON pattern we understand."""
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("a JSON filter pattern is enclosed in { }")
    tokens = _tokenize(text[1:-1])
    pos, matcher = _disjunction(tokens, 0)
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r} in filter pattern")

    def matches(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False  # CloudWatch never matches a JSON pattern against a non-JSON message
        return matcher(doc)

    return matches


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read filter pattern at {text[pos:]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _disjunction(tokens: list[tuple[str, str]], pos: int) -> tuple[int, Matcher]:
    pos, left = _conjunction(tokens, pos)
    parts = [left]
    while pos < len(tokens) and tokens[pos] == ("op", "||"):
        pos, right = _conjunction(tokens, pos + 1)
        parts.append(right)
    return pos, (lambda doc: any(p(doc) for p in parts)) if len(parts) > 1 else left


def _conjunction(tokens: list[tuple[str, str]], pos: int) -> tuple[int, Matcher]:
    pos, left = _term(tokens, pos)
    parts = [left]
    while pos < len(tokens) and tokens[pos] == ("op", "&&"):
        pos, right = _term(tokens, pos + 1)
        parts.append(right)
    return pos, (lambda doc: all(p(doc) for p in parts)) if len(parts) > 1 else left


def _term(tokens: list[tuple[str, str]], pos: int) -> tuple[int, Matcher]:
    if pos >= len(tokens):
        raise ValueError("filter pattern ends too early")
    if tokens[pos] == ("op", "("):
        pos, inner = _disjunction(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos] != ("op", ")"):
            raise ValueError("missing ) in filter pattern")
        return pos + 1, inner
    kind, sel = tokens[pos]
    if kind != "sel":
        raise ValueError(f"expected a $.selector, not {sel!r}")
    get = _selector(sel)
    words = [t[1].upper() for t in tokens[pos + 1:pos + 3]]
    if words[:1] == ["IS"] and len(words) == 2 and words[1] in ("TRUE", "FALSE", "NULL"):
        want = {"TRUE": True, "FALSE": False, "NULL": None}[words[1]]
        return pos + 3, lambda doc: (v := get(doc)) is not _MISSING and v is want
    if words == ["NOT", "EXISTS"]:
        return pos + 3, lambda doc: get(doc) is _MISSING
    if pos + 2 >= len(tokens) or tokens[pos + 1][0] != "op":
        raise ValueError(f"expected a comparison after {sel}")
    op, (vkind, raw) = tokens[pos + 1][1], tokens[pos + 2]
    return pos + 3, _comparison(get, op, vkind, raw)


def _comparison(get: Callable[[Any], Any], op: str, vkind: str, raw: str) -> Matcher:
    if vkind == "num":
        want = float(raw)
        compare = {"=": lambda v: v == want, "!=": lambda v: v != want, "<": lambda v: v < want,
                   ">": lambda v: v > want, "<=": lambda v: v <= want, ">=": lambda v: v >= want}.get(op)
        if compare is None:
            raise ValueError(f"operator {op} does not compare numbers")

        def numeric(doc: Any) -> bool:
            v = get(doc)
            return isinstance(v, int | float) and not isinstance(v, bool) and compare(float(v))

        return numeric
    if op not in ("=", "!="):
        raise ValueError(f"operator {op} does not compare strings")
    text = json.loads(raw) if vkind == "str" else raw

    def textual(doc: Any) -> bool:
        v = get(doc)
        if v is _MISSING or isinstance(v, dict | list):
            return False
        hit = fnmatch.fnmatchcase(str(v).lower() if isinstance(v, bool) else str(v), text)
        return hit if op == "=" else not hit

    return textual


def _selector(sel: str) -> Callable[[Any], Any]:
    steps = [int(s[1:-1]) if s.startswith("[") else s[1:] for s in re.findall(r"\.[\w-]+|\[\d+\]", sel)]

    def get(doc: Any) -> Any:
        for step in steps:
            in_list = isinstance(step, int) and isinstance(doc, list) and step < len(doc)
            in_dict = isinstance(step, str) and isinstance(doc, dict) and step in doc
            if not (in_list or in_dict):
                return _MISSING
            doc = doc[step]
        return doc

    return get
