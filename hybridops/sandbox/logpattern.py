"""CloudWatch Logs filter patterns, evaluated as CloudWatch does (moto 5 does not: it matches every
event for any pattern that does not start with a letter or a quote, and splits the rest on spaces).

The syntax is AWS's "Filter pattern syntax for metric filters, subscription filters, filter log
events, and Live Tail" (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):

- terms, case-sensitive, each found anywhere in the message (`ERROR` matches `ERRORCODE`): every plain
  term must be there (`ERROR Exception`), none of the `-term`s, and one of the `?term`s if there are
  any (`?ERROR ?WARN`); `"a phrase"` is one term. A term with characters other than letters, digits
  and `_` must be quoted; `-` inside a term (`routing-decision`, as the source runbook's aws CLI
  command has it) is taken literally;
- `%regex%`: CloudWatch's regular expressions, which allow only letters, digits, the symbols
  `: _ # = @ / ; , -` and the operators `^ $ ? [ ] { } | \\ * + .`: no parentheses, spaces or
  non-ASCII characters (matched in linear time, see cwregex.py);
- JSON: `{ $.a.b[0] = "x*" && ($.n > 5 || $.flag IS TRUE) }`: `=` and `!=` on strings (with `*`
  wildcards, or a `%regex%`) and numbers, `<`, `>`, `<=`, `>=` on numbers, `IS TRUE|FALSE|NULL`,
  `NOT EXISTS`; a missing property, an object or an array matches no comparison;
- space-delimited: `[ip, user, ..., status_code = 4* || status_code = 5*, bytes > 1000]`: the
  message's fields are its words, a `[...]` or `"..."` group being one field; `...` stands for any
  number of fields, an empty one for one field; otherwise the counts must agree. A field's conditions
  may name any field of the pattern, joined with `&&` and `||`.

A pattern outside this syntax raises PatternError, which the sandbox answers as AWS does, with an
InvalidParameterException: an unsupported pattern never matches everything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hybridops.sandbox.cwregex import Regex, RegexError, compile_regex

Matcher = Callable[[str], bool]
MAX_PATTERN = 1024  # FilterPattern's length limit in the CloudWatch Logs API
MAX_REGEX = 2  # regular expressions in one JSON or space-delimited pattern
_MISSING = object()
_REGEX_CHARS = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+.]*")
_BARE_TERM = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class PatternError(ValueError):
    """A filter pattern CloudWatch would refuse (InvalidParameterException)."""


def compile_pattern(pattern: str) -> Matcher:
    """A predicate on one log message; PatternError if CloudWatch would refuse the pattern."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"a filter pattern has at most {MAX_PATTERN} characters")
    text = pattern.strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        return _json_pattern(text)
    if text.startswith("["):
        return _delimited_pattern(text)
    if text.startswith("%"):
        if len(text) < 2 or not text.endswith("%"):
            raise PatternError("a regular expression is enclosed in % %")
        return regex(text[1:-1]).search
    return _terms(text)


def regex(body: str) -> Regex:
    """CloudWatch's regular expression `body` (what is between the % signs), compiled."""
    if not body:
        raise PatternError("empty regular expression %%")
    if _REGEX_CHARS.fullmatch(body) is None:
        bad = sorted({c for c in body if _REGEX_CHARS.fullmatch(c) is None})
        raise PatternError(f"unsupported character(s) in regular expression %{body}%: {' '.join(bad)!r} "
                           "(no parentheses, spaces or multi-byte characters)")
    try:
        return compile_regex(body)
    except RegexError as exc:
        raise PatternError(f"invalid regular expression: {exc}") from None


# ---- terms -----------------------------------------------------------------------------------------
def _terms(text: str) -> Matcher:
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        prefix = text[pos] if text[pos] in "?-" else ""
        if prefix:
            pos += 1
            while prefix == "-" and pos < len(text) and text[pos] == " ":  # `"ERROR" - "Exiting"`
                pos += 1
        if pos >= len(text) or text[pos].isspace():
            raise PatternError(f"{prefix!r} must be followed by a term")
        if text[pos] == '"':
            term, pos = _quoted(text, pos)
        else:
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            term = text[pos:end]
            if _BARE_TERM.fullmatch(term) is None:
                raise PatternError(f"Invalid character(s) in term '{term}': quote a term with characters "
                                   "other than letters, digits and _")
            pos = end
        {"": required, "-": excluded, "?": optional}[prefix].append(term)

    def matches(message: str) -> bool:
        return (all(t in message for t in required) and not any(t in message for t in excluded)
                and (not optional or any(t in message for t in optional)))

    return matches


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The string in double quotes at `pos` (\\" and \\\\ escaped) and the position after it."""
    out, i = [], pos + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise PatternError(f"unterminated quoted string at {text[pos:pos + 30]!r}")


# ---- values compared by JSON and space-delimited patterns ------------------------------------------
@dataclass(frozen=True)
class _Value:
    kind: str  # "num", "str" (with * wildcards), "regex"
    raw: str


def _compare(op: str, want: _Value, *, text_numbers: bool = False) -> Callable[[Any], bool]:
    """A test of one value: a JSON scalar, or (`text_numbers`: a numeric comparison reads the text as
    a number) a field of a space-delimited message."""
    if want.kind == "num":
        number = float(want.raw)
        test = {"=": number.__eq__, "!=": number.__ne__, "<": number.__gt__, ">": number.__lt__,
                "<=": number.__ge__, ">=": number.__le__}[op]

        def numeric(value: Any) -> bool:
            v = _as_number(value, text_numbers)
            return v is not None and bool(test(v))

        return numeric
    if op not in ("=", "!="):
        raise PatternError(f"{op} compares numbers, not {want.raw!r}")
    if want.kind == "regex":
        hit: Callable[[str], bool] = regex(want.raw).search
    else:
        hit = _wildcard(want.raw)

    def textual(value: Any) -> bool:
        if value is _MISSING or value is None or isinstance(value, dict | list):
            return False
        s = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return hit(s) if op == "=" else not hit(s)

    return textual


def _wildcard(glob: str) -> Callable[[str], bool]:
    """`glob` with `*` for any text, as a whole-value test. Each piece between stars is found in
    turn, leftmost first, which is always right for `*`-only globs: no backtracking, however many
    stars (a regular expression such as `.*a.*a.*a.*b` could run for ever)."""
    if "*" not in glob:
        return lambda s: s == glob
    first, *middle, last = glob.split("*")

    def hit(s: str) -> bool:
        if len(s) < len(first) + len(last) or not s.startswith(first) or not s.endswith(last):
            return False
        pos, end = len(first), len(s) - len(last)
        for piece in middle:
            found = s.find(piece, pos, end)
            if found == -1:
                return False
            pos = found + len(piece)
        return True

    return hit


def _as_number(value: Any, text_numbers: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if text_numbers and isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


# ---- a small tokenizer for both structured kinds -----------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:
    (?P<sel>\$(?:\.[A-Za-z0-9_-]+|\[\d+\])+)
  | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|,)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<regex>%[^%]*%)
  | (?P<ellipsis>\.\.\.)
  | (?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.*:/-]))
  | (?P<word>[A-Za-z0-9_.*:/+-]+)
)""", re.VERBOSE)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PatternError(f"cannot read the filter pattern at {text[pos:].strip()[:30]!r} (quote a string "
                               "with characters other than letters, digits, _ - . * : /)")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    if sum(1 for kind, _ in tokens if kind == "regex") > MAX_REGEX:
        raise PatternError(f"at most {MAX_REGEX} regular expressions in one filter pattern")
    return tokens


def _value(token: tuple[str, str]) -> _Value:
    kind, raw = token
    if kind == "num":
        return _Value("num", raw)
    if kind == "str":
        try:
            return _Value("str", json.loads(raw) if "\\" in raw else raw[1:-1])
        except ValueError:
            raise PatternError(f"invalid escape in the string {raw}") from None
    if kind == "regex":
        return _Value("regex", raw[1:-1])
    if kind == "word":
        return _Value("str", raw)
    raise PatternError(f"expected a value, not {raw!r}")


class _Parser:
    """Boolean expressions of comparisons: () binds tighter than &&, && tighter than ||."""

    def __init__(self, tokens: list[tuple[str, str]], operand: Callable[[_Parser], Callable[[Any], bool]]) -> None:
        self.tokens, self.pos, self.operand = tokens, 0, operand

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("the filter pattern ends too early")
        self.pos += 1
        return token

    def disjunction(self) -> Callable[[Any], bool]:
        parts = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def conjunction(self) -> Callable[[Any], bool]:
        parts = [self.term()]
        while self.peek() == ("op", "&&"):
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def term(self) -> Callable[[Any], bool]:
        if self.peek() == ("op", "("):
            self.pos += 1
            inner = self.disjunction()
            if self.take() != ("op", ")"):
                raise PatternError("missing ) in the filter pattern")
            return inner
        return self.operand(self)


# ---- JSON patterns ---------------------------------------------------------------------------------
def _json_pattern(text: str) -> Matcher:
    if not text.endswith("}"):
        raise PatternError("a JSON filter pattern is enclosed in { }")
    tokens = _tokenize(text[1:-1])
    if not tokens:
        raise PatternError("empty JSON filter pattern { }")
    parser = _Parser(tokens, _json_comparison)
    matcher = parser.disjunction()
    if parser.peek() is not None:
        raise PatternError(f"unexpected {parser.peek()[1]!r} in the filter pattern")  # type: ignore[index]

    def matches(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False  # CloudWatch never matches a JSON pattern against a non-JSON message
        return matcher(doc)

    return matches


def _json_comparison(p: _Parser) -> Callable[[Any], bool]:
    kind, sel = p.take()
    if kind != "sel":
        raise PatternError(f"expected a $.selector, not {sel!r}")
    get = _selector(sel)
    words = [t[1].upper() for t in p.tokens[p.pos:p.pos + 2] if t[0] == "word"]
    if len(words) == 2 and words[0] == "IS" and words[1] in ("TRUE", "FALSE", "NULL"):
        p.pos += 2
        want = {"TRUE": True, "FALSE": False, "NULL": None}[words[1]]
        return lambda doc: (v := get(doc)) is not _MISSING and v is want
    if words == ["NOT", "EXISTS"]:
        p.pos += 2
        return lambda doc: get(doc) is _MISSING
    op_kind, op = p.take()
    if op_kind != "op" or op not in ("=", "!=", "<", ">", "<=", ">="):
        raise PatternError(f"expected a comparison after {sel}, not {op!r}")
    test = _compare(op, _value(p.take()))
    return lambda doc: test(get(doc))


def _selector(sel: str) -> Callable[[Any], Any]:
    if sel.startswith("$["):
        raise PatternError(f"an array index follows a property: {sel}")
    steps: list[int | str] = [int(s[1:-1]) if s.startswith("[") else s[1:]
                              for s in re.findall(r"\.[A-Za-z0-9_-]+|\[\d+\]", sel)]

    def get(doc: Any) -> Any:
        for step in steps:
            if isinstance(step, int):
                if not (isinstance(doc, list) and step < len(doc)):
                    return _MISSING
            elif not (isinstance(doc, dict) and step in doc):
                return _MISSING
            doc = doc[step]
        return doc

    return get


# ---- space-delimited patterns ----------------------------------------------------------------------
def _delimited_pattern(text: str) -> Matcher:
    if not text.endswith("]"):
        raise PatternError("a space-delimited filter pattern is enclosed in [ ]")
    tokens = _tokenize(text[1:-1])
    items: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for token in tokens:
        depth += {("op", "("): 1, ("op", ")"): -1}.get(token, 0)
        if token == ("op", ",") and depth == 0:
            items.append([])
        else:
            items[-1].append(token)
    fields: list[str | None] = []  # None: an ellipsis
    conditions: list[Callable[[dict[str, str]], bool]] = []
    for i, item in enumerate(items):
        if item == [("ellipsis", "...")]:
            fields.append(None)
            continue
        if not item:  # a field without a name, such as the last of AWS's `[..., status_code=4*,]`
            if len(items) == 1:
                raise PatternError("empty space-delimited filter pattern [ ]")
            fields.append(f"${i + 1}")
            continue
        first = next((t for t in item if t != ("op", "(")), None)  # `(a = 1 || a = 2)` names a too
        if first is None or first[0] != "word" or _BARE_TERM.fullmatch(first[1]) is None:
            raise PatternError(f"expected a field name, not {' '.join(t[1] for t in item) or 'nothing'}")
        name = first[1]
        if name in fields:
            raise PatternError(f"field {name} is named twice")
        fields.append(name)
        if len(item) > 1:
            parser = _Parser(item, _field_comparison)
            conditions.append(parser.disjunction())
            if parser.peek() is not None:
                raise PatternError(f"unexpected {parser.peek()[1]!r} in field {name}")  # type: ignore[index]
    named = {f for f in fields if f}
    for used in _referenced(tokens):
        if used not in named:
            raise PatternError(f"a condition names {used}, which is not a field of the pattern")

    def matches(message: str) -> bool:
        return any(all(c(bound) for c in conditions) for bound in _bindings(fields, _fields_of(message)))

    return matches


def _field_comparison(p: _Parser) -> Callable[[Any], bool]:
    kind, name = p.take()
    if kind != "word":
        raise PatternError(f"expected a field name, not {name!r}")
    op_kind, op = p.take()
    if op_kind != "op" or op not in ("=", "!=", "<", ">", "<=", ">="):
        raise PatternError(f"expected a comparison after {name}, not {op!r}")
    test = _compare(op, _value(p.take()), text_numbers=True)
    return lambda bound: test(bound.get(name, _MISSING))


def _referenced(tokens: list[tuple[str, str]]) -> set[str]:
    """The field names conditions compare (a word just before a comparison operator)."""
    return {tokens[i][1] for i in range(len(tokens) - 1)
            if tokens[i][0] == "word" and tokens[i + 1][0] == "op"
            and tokens[i + 1][1] in ("=", "!=", "<", ">", "<=", ">=")}


def _fields_of(message: str) -> list[str]:
    """The message's fields: words, with a [...] or "..." group as one field (without its brackets)."""
    out: list[str] = []
    pos, n = 0, len(message)
    while pos < n:
        if message[pos].isspace():
            pos += 1
            continue
        close = {"[": "]", '"': '"'}.get(message[pos])
        end = message.find(close, pos + 1) if close else -1
        if close and end != -1:
            out.append(message[pos + 1:end])
            pos = end + 1
            continue
        end = pos
        while end < n and not message[end].isspace():
            end += 1
        out.append(message[pos:end])
        pos = end
    return out


def _bindings(fields: list[str | None], words: list[str], limit: int = 10_000) -> list[dict[str, str]]:
    """Every way of laying the pattern's fields over the message's words (an ellipsis takes 0 or more);
    at most `limit`, so that a pattern of many ellipses stays cheap on a long message."""
    out: list[dict[str, str]] = []

    def walk(fi: int, wi: int, bound: dict[str, str]) -> None:
        if len(out) >= limit:
            return
        if fi == len(fields):
            if wi == len(words):
                out.append(dict(bound))
            return
        name = fields[fi]
        if name is None:
            for skip in range(len(words) - wi + 1):
                walk(fi + 1, wi + skip, bound)
            return
        if wi < len(words):
            bound[name] = words[wi]
            walk(fi + 1, wi + 1, bound)
            del bound[name]

    walk(0, 0, {})
    return out
