"""Secrets out of everything the tool writes or shows: one scrubber for every sink."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from functools import lru_cache
from pathlib import PurePath
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 4
# From this length a secret is also masked in its encodings and in any letter case: shorter ones
# would mask ordinary words and bits of base64.
MIN_ENCODED_LEN = 8
_MEMO_LEN, _MEMO_SIZE = 120, 4096


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`: `2026-11-25T17:41:02.123Z`."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


class Scrubber:
    """Turns arbitrary values into JSON data with every registered secret replaced by `***`.

    The one scrubber: the engine's events pass through it on their way to every sink (audit log,
    screen, JSON lines, CloudWatch), the audit log applies it again to records written directly, and
    the CLI's consoles and error handler apply the process's one (`process_scrubber()`) to whatever
    else they print. A secret is masked as written and in the forms it travels in: base64 (at any
    byte alignment, so inside `user:secret` too), URL-encoded, JSON-escaped, hex, any letter case.

    Unless `shared=False`, a Scrubber also masks every secret registered with the process (by
    `register`, or through any other shared Scrubber's `add`): a secret learnt anywhere during a
    command (a credential botocore resolved, a value derived from a secret variable) reaches every
    sink, the error message of the run's end included."""

    def __init__(self, *, shared: bool = True) -> None:
        self._secrets: list[str] = []
        self._exact: set[str] = set()  # short secrets: matched as written only
        self._folded: set[str] = set()  # longer ones and their encodings, lower-cased: any case
        self._version = 0
        self._parent = _PROCESS if shared else None
        self._seen: tuple[int, int] = (-1, -1)
        self._needles: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._memo: dict[str, str] = {}  # short texts already scrubbed, for the current secrets

    def add(self, secret: str) -> None:
        s = str(secret)
        if len(s) < MIN_SECRET_LEN or s in self._secrets:
            return
        self._secrets.append(s)
        if len(s) < MIN_ENCODED_LEN:
            self._exact.add(s)
        else:
            self._folded.update(v.lower() for v in encodings(s))
        self._version += 1
        if self._parent is not None:
            self._parent.add(s)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def _current(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        parent = self._parent
        seen = (self._version, parent._version if parent is not None else 0)
        if seen != self._seen:
            exact, folded = set(self._exact), set(self._folded)
            if parent is not None:
                exact |= parent._exact
                folded |= parent._folded
            self._needles = (tuple(exact), tuple(folded))
            self._seen = seen
            self._memo.clear()
        return self._needles

    def text(self, s: str) -> str:
        """`s` with every registered secret masked, and the credentials of any URL in it (a password,
        a `?token=`), registered or not."""
        exact, folded = self._current()
        short = len(s) <= _MEMO_LEN
        if short and (done := self._memo.get(s)) is not None:
            return done  # a record's keys, step ids, statuses: the same short strings event after event
        out = s
        if exact or folded:
            lowered = s.lower()
            hits = tuple(sorted([(n, False) for n in exact if n in s] + [(n, True) for n in folded if n in lowered],
                                key=lambda hit: len(hit[0]), reverse=True))  # longest first: one contains another
            if hits:
                out = _masking(hits).sub(MASK, s)
        if "://" in out:
            out = redact_urls(out)
        if short:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[s] = out
        return out

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




_PROCESS = Scrubber(shared=False)


def process_scrubber() -> Scrubber:
    """Every secret this command has learnt so far: what the CLI's consoles and error handler mask."""
    return _PROCESS


def register(secrets: Iterable[str | None]) -> None:
    """Mask these everywhere from now on (every shared Scrubber, the CLI's output and errors)."""
    for s in secrets:
        if s:
            _PROCESS.add(s)


# Secrets known only once something has happened (the credentials botocore resolves for a role or an
# SSO profile on the first AWS call): asked for again whenever an event or an error line goes out.
_SOURCES: list[Callable[[], Iterable[str | None]]] = []


def register_source(source: Callable[[], Iterable[str | None]]) -> None:
    """Mask whatever `source()` gives, each time output is about to go out (`refresh`)."""
    _SOURCES.append(source)


def refresh() -> None:
    """Ask every source for the secrets it knows by now (cheap: a source answers from what it has)."""
    for source in _SOURCES:
        register(source())


def forget_process_secrets() -> None:
    """A new command starts knowing no secrets (the CLI's entry, run in-process by tests, calls it)."""
    fresh = Scrubber(shared=False)
    _PROCESS._secrets, _PROCESS._exact, _PROCESS._folded = fresh._secrets, fresh._exact, fresh._folded
    _PROCESS._version += 1
    _SOURCES.clear()


def encodings(secret: str) -> set[str]:
    """`secret` and the forms it travels in, as far as they are cheap to know in advance: JSON-escaped,
    URL-encoded, HTML/XML-escaped (an AWS error is XML), hex, and base64 (standard and URL-safe) at
    each of the three byte alignments it can have inside a longer encoded text (`Basic
    base64(user:secret)`), without the edge characters that depend on its neighbours."""
    from urllib.parse import quote, quote_plus

    raw = secret.encode("utf-8", "surrogatepass")
    found = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote(secret), quote_plus(secret), raw.hex(), html.escape(secret)}
    for shift in range(3):
        whole = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        first = -(-8 * shift // 6)  # the first character made only of the secret's bits
        last = 8 * (shift + len(raw)) // 6  # one past the last such character
        inner = whole[first:last]
        if len(inner) >= MIN_ENCODED_LEN:
            found.update({inner, inner.replace("+", "-").replace("/", "_")})
        if shift == 0:
            found.update({whole, whole.replace("+", "-").replace("/", "_")})
    return {f for f in found if len(f) >= MIN_SECRET_LEN}


@lru_cache(maxsize=256)
def _masking(needles: tuple[tuple[str, bool], ...]) -> re.Pattern[str]:
    """One pattern for the secrets found in a text: (secret, in any case?) each."""
    return re.compile("|".join(f"(?i:{re.escape(n)})" if folded else re.escape(n) for n, folded in needles))


# --- URLs --------------------------------------------------------------------------------------------

# Query parameters that carry credentials (`?token=`, `?api_key=`, `?sig=`, `X-Amz-Signature`, ...).
_SECRET_PARAM = re.compile(r"token|key|sig|secret|pass|pwd|auth|credential|session|code|jwt|bearer",
                           re.IGNORECASE)


def url_secrets(url: str | None, *, secret_path: bool = False) -> list[str]:
    """The credentials a URL carries: its userinfo (whole, and the password alone, as written and
    decoded) and the values of credential-like query parameters; with `secret_path` (a webhook URL,
    whose path is the credential) its path and the path's last segment too."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    if not url or "://" not in url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        user, colon, password = userinfo.partition(":")
        if colon and password:
            found += [userinfo, unquote(userinfo), password, unquote(password)]
        elif len(user) >= MIN_ENCODED_LEN:  # a token given as the user name (`https://TOKEN@host`)
            found += [user, unquote(user)]
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if _SECRET_PARAM.search(name):
            found.append(value)
    for raw in parts.query.split("&"):
        name, eq, value = raw.partition("=")
        if eq and value and _SECRET_PARAM.search(unquote(name)):
            found.append(value)  # as written in the URL (percent-encoded)
    if secret_path:  # long enough to be the credential, not a word of an ordinary path
        found += [p for p in (parts.path, parts.path.strip("/"), parts.path.rstrip("/").rpartition("/")[2])
                  if len(p) >= MIN_ENCODED_LEN]
    return list(dict.fromkeys(found))


def redact_url(url: str) -> str:
    """`url` with the password of its userinfo (or a lone user name, often a token) and the values of
    credential-like query parameters replaced by `***`: what a person may be shown."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = "&".join(
        f"{name}={MASK}" if eq and value and _SECRET_PARAM.search(name) else name + eq + value
        for name, eq, value in (item.partition("=") for item in parts.query.split("&"))
    ) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def redact_urls(text: str) -> str:
    """`text` with every URL in it redacted (`redact_url`): an error message quoting an endpoint."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text) if "://" in text else text


# --- text shown on a terminal ------------------------------------------------------------------------

# What a terminal would act on rather than show: C0 controls but newline and tab, DEL, C1 controls
# (U+0080-U+009F: 8-bit CSI and friends), the bidirectional embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C), and lone surrogates (which
# cannot even be written as UTF-8). Inside one line, line breaks and tabs too.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_A_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(m: re.Match[str]) -> str:
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    # \xNN for C0 controls (as Python and most tools write ESC); \uNNNN from DEL on, which is also
    # how JSON writes them: a JSON document printed through a console stays valid JSON.
    return f"\\x{n:02x}" if n < 0x20 else f"\\u{n:04x}"


def inert(text: str, *, single_line: bool = False) -> str:
    """`text` safe to print on a terminal: every character a terminal would act on instead of show
    (ESC and so every escape sequence, other C0 and C1 controls, bidi overrides) written visibly as
    `\\x1b`, `\\u009b`, `\\u202e`; with `single_line`, line breaks and tabs as `\\n`, `\\t` too. Text without
    them is returned as it is."""
    pattern = _UNSAFE_IN_A_LINE if single_line else _UNSAFE
    return pattern.sub(_escaped, text) if pattern.search(text) else text


def secret_leaves(value: Any) -> list[str]:
    """What to register when `value` as a whole is secret: its text (compact JSON for a container,
    as it would be shown) and the text of every scalar inside it."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if v is None or isinstance(v, bool):
            return
        if isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
        else:
            out.append(v if isinstance(v, str) else str(v))

    if isinstance(value, Mapping | list | tuple):
        try:
            out.append(json.dumps(value, default=str, separators=(",", ":")))
            out.append(json.dumps(value, default=str, separators=(", ", ": ")))
        except (TypeError, ValueError):
            pass
    walk(value)
    return out
