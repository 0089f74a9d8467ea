"""Read a runbook file into the model, keeping every YAML node's file:line:column.

Only plain YAML is accepted: safe scalars, mappings and sequences. Anchors/aliases, merge keys and
custom tags (`!!python/...`) are refused, never constructed, so no file can run code or explode in
memory. Every problem becomes a `Problem` pointing at the offending node.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from hybridops.errors import RunbookInvalid
from hybridops.runbook.model import STEP_TAGS, Runbook

MAX_DEPTH = 64
MAX_BYTES = 2 * 1024 * 1024

# Characters no runbook text (nor a value given on the command line) has reason to hold: C0 and C1
# controls but tab and newline (an escape sequence reaching the terminal rewrites what it shows),
# lone surrogates (from "\ud800" escapes, or undecodable bytes in argv: nothing can encode them, so
# the audit log could not be written), and the bidirectional overrides that make text read other
# than it runs.
_BAD_CHAR = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
# In the raw file a carriage return is a line break, which YAML reads as one.
_BAD_RAW_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def bad_character(text: str) -> tuple[int, str] | None:
    """The index of the first character `text` may not hold, and what it is; None when there is none."""
    m = _BAD_CHAR.search(text)
    return None if m is None else (m.start(), _describe_char(m.group()))


def _describe_char(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X}), which is not text"
    if 0x202A <= code <= 0x2069:
        return f"a bidirectional-override character (U+{code:04X})"
    if code >= 0xFFFE:
        return f"a noncharacter (U+{code:04X})"
    return f"a control character (U+{code:04X})"


def shown_path(path: Path | str) -> str:
    """A path as text any terminal and log can take: undecodable bytes (which Python holds as lone
    surrogates) and control characters escaped."""
    text = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _BAD_CHAR.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class FileRefused(OSError):
    """A path that is not a regular file of at most the size asked for; its message says why."""


def read_regular_file(path: Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of `path`, refusing before reading what is not a regular file (a directory, a FIFO,
    /dev/zero, a socket) and anything larger than `max_bytes`. Opened non-blocking, so a FIFO
    cannot hang the open; at most `max_bytes` + 1 bytes are ever read, whatever the file does."""
    if (bad := bad_character(str(path))) is not None:  # it would reach the terminal and the audit log
        raise FileRefused(f"the path holds {bad[1]}; rename the file")
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileRefused(exc.errno, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FileRefused(f"is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"is not a regular file ({_file_kind(info.st_mode)}), not a {what}")
    if info.st_size > max_bytes:
        raise FileRefused(f"file larger than {max_bytes // 1024} KiB")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise FileRefused(exc.errno, f"cannot read: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the stat
            raise FileRefused(f"is not a regular file, not a {what}")
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    except FileRefused:
        raise
    except OSError as exc:
        raise FileRefused(exc.errno, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # it grew since the stat
        raise FileRefused(f"file larger than {max_bytes // 1024} KiB")
    return data


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a runbook, at a position in its file."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of the document is, 1-based."""

    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Position of `loc`, or of its nearest ancestor that exists."""
        if key and loc in self.keys:
            return self.keys[loc]
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.values:
                return self.values[loc[:n]]
        return (1, 1)


@dataclass(frozen=True)
class LoadedRunbook:
    runbook: Runbook
    path: Path
    sha256: str
    source: SourceMap


class _Refusing(Composer):
    """Composing that refuses aliases and limits depth: shared by both loaders below."""

    _depth = 0
    check_event: Any  # of the parser it is mixed with
    peek_event: Any

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases are not allowed in runbooks", problem_mark=event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise yaml.MarkedYAMLError(
                    problem=f"nesting deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Loader(Reader, Scanner, Parser, _Refusing, SafeConstructor, Resolver):
    """PyYAML's pure-Python safe loader, refusing aliases and limiting depth while composing. It words
    syntax errors as the messages users see, so a file that libyaml refuses is read again with it."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


_CParser: Any
try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None
_FastLoader: Any = None
if _CParser is not None:

    class _FastLoader(_CParser, SafeConstructor, Resolver):  # type: ignore[no-redef]
        """libyaml's scanner, parser and composer: about twice as fast as the Python loader, with the
        same nodes and marks. Used only on text that `_plain_events` found free of aliases and deep
        nesting (libyaml's composer would follow aliases, and recurses in C)."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)


_OPENS = (MappingStartEvent, SequenceStartEvent)
_CLOSES = (MappingEndEvent, SequenceEndEvent)


def _plain_events(text: str) -> bool:
    """Whether libyaml reads `text` without an error, an alias or nesting deeper than MAX_DEPTH (a
    pass over its events costs a fifth of composing)."""
    events = _CParser(text)
    depth = 0
    try:
        while (event := events.get_event()) is not None:
            if isinstance(event, _OPENS):
                depth += 1
                if depth > MAX_DEPTH:
                    return False
            elif isinstance(event, _CLOSES):
                depth -= 1
            elif isinstance(event, AliasEvent):
                return False
    except yaml.YAMLError:
        return False
    return True


def _pos(node: Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns composed nodes into plain Python values, recording positions and problems."""

    _PLAIN_TAGS = {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }

    def __init__(self, loader: _Loader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.source = SourceMap()
        self.problems: list[Problem] = []

    def problem(self, node_pos: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.path, node_pos[0], node_pos[1], message))

    def check_text(self, node: ScalarNode) -> bool:
        """Whether a string scalar (a value or a key) holds only characters text may hold."""
        found = bad_character(node.value)
        if found is not None:
            self.problem(_pos(node), f"the string holds {found[1]}")
        return found is None

    def build(self, node: Node, loc: PathKey) -> Any:
        self.source.values[loc] = _pos(node)
        if isinstance(node, ScalarNode):
            if node.tag not in self._PLAIN_TAGS:
                # Timestamps, binary and custom tags are refused: a runbook holds strings and numbers.
                self.problem(_pos(node), f"unsupported YAML tag {node.tag!r}; quote the value to make it a string")
                return None
            if not self.check_text(node):
                return None
            try:
                return self.loader.construct_object(node)
            except (ConstructorError, ValueError) as exc:
                self.problem(_pos(node), f"bad scalar: {exc}")
                return None
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self.problem(_pos(node), f"unsupported YAML tag {node.tag!r}")
                return None
            return [self.build(child, (*loc, i)) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                self.problem(_pos(node), f"unsupported YAML tag {node.tag!r}")
                return None
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    self.problem(_pos(key_node), "keys must be plain strings (no merge keys or complex keys)")
                    continue
                if not self.check_text(key_node):
                    continue
                key = key_node.value if key_node.tag == "tag:yaml.org,2002:str" else self.build(key_node, loc)
                key = str(key)
                if key in result:
                    first = self.source.keys.get((*loc, key), (0, 0))
                    self.problem(_pos(key_node), f"duplicate key {key!r} (first at line {first[0]})")
                    continue
                self.source.keys[(*loc, key)] = _pos(key_node)
                result[key] = self.build(value_node, (*loc, key))
            return result
        self.problem(_pos(node), "unsupported YAML node")
        return None


def parse_yaml(data: bytes | str, path: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document safely; raise RunbookInvalid with positioned problems."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise RunbookInvalid([Problem(path, 1, 1, f"file larger than {MAX_BYTES // 1024} KiB")])
        if b"\x00" in data:
            raise RunbookInvalid([Problem(path, 1, 1, "binary file, not YAML text")])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise RunbookInvalid([Problem(path, line, col, "not UTF-8 text")]) from None
    else:
        text = data
    bad = [m for _, m in zip(range(10), _BAD_RAW_CHAR.finditer(text), strict=False)]
    if bad:
        raise RunbookInvalid([Problem(path, *_line_col(text, m.start()), f"the file holds {_describe_char(m.group())}")
                              for m in bad])
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise RunbookInvalid([Problem(path, 1, 1, "empty file: a runbook is a YAML mapping")])

    loader: Any = None
    if _FastLoader is not None and _plain_events(text):
        loader = _FastLoader(text)
        try:
            node = loader.get_single_node()
        except yaml.YAMLError:  # more than one document: worded below
            loader.dispose()
            loader = None
    if loader is None:  # refused, or no libyaml: the Python loader says why, where, as users know it
        loader, node = _compose(text, path)
    builder = _Builder(loader, path)
    try:
        value = builder.build(node, ()) if node is not None else None
    finally:
        loader.dispose()
    if node is None:
        raise RunbookInvalid([Problem(path, 1, 1, "empty file: a runbook is a YAML mapping")])
    if builder.problems:
        raise RunbookInvalid(sorted(builder.problems))
    return value, builder.source


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _compose(text: str, path: str) -> tuple[Any, Node | None]:
    """The pure-Python loader and the document's node; RunbookInvalid with the syntax error's place."""
    loader = _Loader(text)
    try:
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = exc.problem or str(exc)
        if "expected a single document" in str(exc.context or "") + msg:
            msg = "more than one YAML document: a runbook file holds exactly one"
        raise RunbookInvalid([Problem(path, line, col, f"YAML: {msg}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses, at an index into the text
        line, col = _line_col(text, exc.position)
        raise RunbookInvalid([Problem(path, line, col, f"YAML: the file holds U+{exc.character:04X}, which YAML "
                                      "does not allow")]) from None
    except yaml.YAMLError as exc:
        raise RunbookInvalid([Problem(path, 1, 1, f"YAML: {exc}")]) from None
    except RecursionError:
        raise RunbookInvalid([Problem(path, 1, 1, "YAML nesting too deep")]) from None


def show_value(value: Any) -> str:
    """A value as a problem message names it: `a mapping`, `a list`, `null`, or its repr."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)


def dotted(loc: PathKey, *, start_at: str | None = None) -> str:
    """`phases[0].steps[2].aws` for a location; `start_at` drops everything before the last such key."""
    if start_at is not None and start_at in loc:
        loc = loc[len(loc) - 1 - loc[::-1].index(start_at):]
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _data_path(data: Any, loc: tuple) -> tuple[PathKey, tuple]:
    """Split a pydantic error location into the part that exists in the data and the rest.

    Union branches add their tags (`GoTo`, `literal[...]`) to locations; they are not in the data and
    are skipped, so a nested error still points at the node the user wrote.
    """
    kept: list[str | int] = []
    rest: list[Any] = []
    node = data
    for part in loc:
        if isinstance(part, str) and part in STEP_TAGS:
            continue  # the step union's tag: the kind key itself comes next
        key = "while" if part == "while_" else part
        in_dict = isinstance(node, dict) and isinstance(key, str) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if in_dict or in_list:
            node = node[key]
            kept.append(key)
        else:
            rest.append(part)
    return tuple(kept), tuple(rest)


def _field_names(model_loc: tuple) -> list[str]:
    """Allowed keys at a location, for 'did you mean' hints."""
    from hybridops.runbook import model as m

    names: set[str] = set()
    classes: tuple[type[BaseModel], ...] = (
        m.Runbook, m.Phase, *m.STEP_CLASSES, m.Variable, m.AwsCall, m.HttpCall, m.Poll, m.Notify, m.Check, m.Choice,
        m.ChoiceOption, m.Confirm, m.Wait, m.Manual, m.LogErrors, m.LogJson, m.Retries, m.GoTo, m.Call)
    for cls in classes:
        for name, f in cls.model_fields.items():
            names.add(f.alias or name)
    return sorted(names)


def _unknown_key_hint(key: str, parent: tuple) -> str:
    from hybridops.runbook import model as m

    if not parent:  # the top level is one model: hint from its keys, and say where a phase's key goes
        if key in m.Phase.model_fields:
            return f" ({key!r} belongs inside a phase: phases: [{{id: ..., {key}: ...}}])"
        names = [f.alias or n for n, f in m.Runbook.model_fields.items()]
    else:  # the key itself may be valid elsewhere: never suggest it back
        names = [n for n in _field_names(parent) if n != key]
    hint = difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


_SCALAR_KINDS = {"literal_error", "string_type", "int_type", "bool_type", "float_type", "enum"}


def model_problems(exc: ValidationError, data: Any, source: SourceMap, path: str) -> list[Problem]:
    problems: dict[PathKey, Problem] = {}
    errors = exc.errors(include_url=False)
    for err in errors:
        loc, rest = _data_path(data, tuple(err["loc"]))
        kind = err["type"]
        msg = err["msg"].removeprefix("Value error, ")
        where = dotted(loc)
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            parent = loc[:-1]
            line, col = source.locate(loc, key=True)
            text = f"{dotted(parent)}: unknown key {key!r}" + _unknown_key_hint(key, parent)
        elif kind == "missing":
            missing = str(err["loc"][-1]) if err["loc"] else "?"
            missing = "while" if missing == "while_" else missing
            line, col = source.locate(loc)
            text = f"{where}: missing required key {missing!r}"
        else:
            line, col = source.locate(loc)
            value = err.get("input")
            shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
            if kind in ("literal_error", "enum") and shown or kind.endswith("_type") and loc and not rest:
                text = f"{where}: {msg}{shown}"
            else:
                text = f"{where}: {msg}"
        # A union's scalar branch rejecting a mapping: the mapping branch's errors say more.
        if (rest and isinstance(err.get("input"), dict | list) and kind in _SCALAR_KINDS
                and any(e is not err and tuple(e["loc"][: len(err["loc"]) - 1]) == tuple(err["loc"][:-1])
                        for e in errors)):
            continue
        # every missing key at one place is its own problem; a union's branches repeat the same one
        at: PathKey = (*loc, str(err["loc"][-1]) if err["loc"] else "", kind) if kind == "missing" else (
            (*loc, kind) if kind == "extra_forbidden" else loc)
        # Unions report one error per branch; the first one at a location is the useful one.
        problems.setdefault(at, Problem(path, line, col, text))
    # A misspelt required key is one mistake: report the unknown key (its hint names the right one),
    # not also the missing one.
    hinted = {p.message.split(" (did you mean ")[1].rstrip("?)").strip("'\"") for k, p in problems.items()
              if k[-1] == "extra_forbidden" and " (did you mean " in p.message}
    for k in [k for k in problems if k[-1] == "missing"]:
        if problems[k].message.rsplit("'", 2)[-2] in hinted:
            del problems[k]
    return sorted(problems.values())


def parse_runbook(data: bytes | str, path: str) -> tuple[Runbook, SourceMap]:
    value, source = parse_yaml(data, path)
    if not isinstance(value, dict):
        kind = type(value).__name__ if value is not None else "null"
        line, col = source.locate(())
        raise RunbookInvalid([Problem(path, line, col, f"a runbook is a YAML mapping, not a {kind}")])
    try:
        runbook = Runbook.model_validate(value)
    except ValidationError as exc:
        raise RunbookInvalid(model_problems(exc, value, source, path)) from None
    return runbook, source


def read_runbook_file(path: Path) -> bytes:
    """A runbook file's bytes; RunbookInvalid naming the file when it cannot be read, is not a regular
    file or is too large to be a runbook."""
    try:
        return read_regular_file(path, MAX_BYTES, "runbook file")
    except FileRefused as exc:
        raise RunbookInvalid([Problem(shown_path(path), 1, 1, exc.strerror or str(exc))]) from None


def load_runbook(path: Path, data: bytes | None = None) -> LoadedRunbook:
    """Read (unless `data` holds the file's bytes) and parse one runbook file: structure only;
    `validate` checks calls and references."""
    data = read_runbook_file(path) if data is None else data
    runbook, source = parse_runbook(data, str(path))
    return LoadedRunbook(runbook=runbook, path=path, sha256=hashlib.sha256(data).hexdigest(), source=source)
