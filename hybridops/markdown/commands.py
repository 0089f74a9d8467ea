"""The shell commands an operator pastes when hybridops is unavailable: `aws` and `curl` lines for a
runbook's calls, `watch` for its polls, `aws logs filter-log-events | jq` for its log steps.

Templates become shell: a variable or a capture `{{ cluster }}` is `${CLUSTER}` (upper case; set by the
page's setup block or by the line that captured it), `{{ x | default(100) | int }}` is `${X:-100}`,
`{{ ago_iso('5m') }}` is `$(date -u -d '5 minutes ago' +%Y-%m-%dT%H:%M:%SZ)`, `{{ ago_ms('15m') }}` is
`$(date -u -d '15 minutes ago' +%s000)`. What has no shell form (a condition over `steps[...]`, a
Jinja statement) raises `Untranslatable`; the page then quotes the call instead of a command.

AWS names come from the AWS CLI's own model (`cli_names`): imported lazily, only by `render`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hybridops.runbook.expr import walk_strings
from hybridops.runbook.model import AwsCall, HttpCall, LogErrors, LogJson

INDENT = "  "
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Shell variables a runbook name must never overwrite (a variable `path` would clobber $PATH)
_RESERVED = frozenset({"PATH", "HOME", "USER", "SHELL", "PWD", "OLDPWD", "IFS", "PS1", "PS2", "TERM", "LANG",
                       "HOSTNAME", "UID", "EUID", "PPID", "RANDOM", "SECONDS", "LINENO", "OPTARG", "OPTIND",
                       "ADMIN_URL", "ADMIN_TOKEN", "TMPDIR", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"})
DATE_ISO = "+%Y-%m-%dT%H:%M:%SZ"  # what ago_iso/now_iso render (runbook/expr.py)


class Untranslatable(Exception):
    """A value or call with no shell form; the message says what."""


def shell_name(name: str) -> str:
    """A runbook variable's or capture's shell variable: `target_group_arn` -> `TARGET_GROUP_ARN`."""
    upper = name.upper()
    return f"RB_{upper}" if upper in _RESERVED else upper


def _ago_phrase(text: str) -> str:
    from hybridops.durations import parse_duration

    seconds = round(parse_duration(text))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return f"{seconds} second{'' if seconds == 1 else 's'} ago"


_CALL = re.compile(r"^(ago_iso|ago_ms)\(\s*(['\"])([^'\"]+)\2\s*\)$|^(now_iso|now_ms)\(\s*\)$")
_FILTER = re.compile(r"^(\w+)(?:\((.*)\))?$")


@dataclass(frozen=True)
class Expansion:
    """One template expression as shell: `${CLUSTER}`, `$(date ...)`; `number` when it renders a number."""

    text: str
    number: bool = False


def expression(expr: str, *, incident: str = "") -> Expansion:
    """The shell form of one `{{ expr }}`."""
    expr = expr.strip()
    call = _CALL.match(expr)
    if call:
        fn = call.group(1) or call.group(4)
        fmt = "+%s000" if fn.endswith("_ms") else DATE_ISO
        when = f" -d '{_ago_phrase(call.group(3))}'" if fn.startswith("ago") else ""
        return Expansion(f"$(date -u{when} {fmt})", number=fn.endswith("_ms"))
    head, *filters = [p.strip() for p in expr.split("|")]
    if not _NAME.match(head):
        raise Untranslatable(f"no shell form for {{{{ {expr} }}}}")
    if head == "incident" and not filters:
        return Expansion(incident)
    default: str | None = None
    number = False
    for f in filters:
        m = _FILTER.match(f)
        if not m:
            raise Untranslatable(f"no shell form for {{{{ {expr} }}}}")
        name, arg = m.group(1), m.group(2)
        if name in ("int", "float"):
            number = True
        elif name in ("default", "d") and arg is not None:
            default = _literal(arg, expr)
        elif name != "string":
            raise Untranslatable(f"no shell form for {{{{ {expr} }}}}")
    var = shell_name(head)
    return Expansion(f"${{{var}:-{default}}}" if default is not None else f"${{{var}}}", number=number)


def _literal(arg: str, expr: str) -> str:
    arg = arg.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", arg):
        return arg
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"" and not re.search(r"[}\"'$`\\]", arg[1:-1]):
        return arg[1:-1]
    raise Untranslatable(f"no shell form for the default in {{{{ {expr} }}}}")


def template_names(value: Any) -> set[str]:
    """The variable and capture names a value's templates refer to (for knowing which captures later
    command lines use)."""
    found: set[str] = set()
    for text in walk_strings(value):
        for m in _TEMPLATE.finditer(text):
            if m.group(1) is not None:
                head = m.group(1).split("|")[0].strip()
                if _NAME.match(head):
                    found.add(head)
    return found


# --- shell words ------------------------------------------------------------------------------------

Segment = tuple[bool, str]  # (is an expansion, text)


def segments(text: str, *, incident: str = "") -> list[Segment]:
    out: list[Segment] = []
    pos = 0
    for m in _TEMPLATE.finditer(text):
        if m.group(1) is None:
            raise Untranslatable(f"no shell form for {m.group(0)!r}")
        if m.start() > pos:
            out.append((False, text[pos:m.start()]))
        out.append((True, expression(m.group(1), incident=incident).text))
        pos = m.end()
    if pos < len(text):
        out.append((False, text[pos:]))
    return out


def _dq_escape(text: str) -> str:
    return re.sub(r'([\\"$`])', r"\\\1", text)


def word(value: Any, *, incident: str = "") -> str:
    """One shell word for a scalar: plain when safe, single-quoted, or double-quoted around expansions."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return shlex.quote(str(value))
    parts = segments(value, incident=incident)
    if not any(is_exp for is_exp, _ in parts):
        return shlex.quote(value)
    return '"' + "".join(text if is_exp else _dq_escape(text) for is_exp, text in parts) + '"'


_SENTINEL = "@@hybridops-{}@@"


def json_word(value: Any, *, incident: str = "") -> str:
    """A JSON document as one shell word; a templated value is a shell expansion inside it, a number
    (`| int`, a time in ms) without quotes."""
    found: list[tuple[str, bool]] = []  # (shell text, bare)

    def swap(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        if isinstance(v, str) and _TEMPLATE.search(v):
            whole = _TEMPLATE.fullmatch(v.strip())
            if whole and whole.group(1) is not None:
                exp = expression(whole.group(1), incident=incident)
                found.append((exp.text, exp.number))
                return _SENTINEL.format(len(found) - 1)
            text = "".join(t if e else _dq_escape(t.replace("\\", "\\\\").replace('"', '\\"'))
                           for e, t in segments(v, incident=incident))
            found.append((text, False))
            return _SENTINEL.format(len(found) - 1)
        return v

    doc = json.dumps(swap(value), ensure_ascii=False, separators=(", ", ": "))
    if not found:
        return shlex.quote(doc)
    out = _dq_escape(doc)
    for i, (text, bare) in enumerate(found):
        token = _dq_escape(_SENTINEL.format(i))
        out = out.replace(f'\\"{token}\\"', text) if bare else out.replace(token, text)
    return f'"{out}"'


# --- aws --------------------------------------------------------------------------------------------


_SHORTHAND_UNSAFE = re.compile(r"[,=\[\]{}\"'\\\s]")


def _shorthand_scalar(v: Any) -> bool:
    if isinstance(v, bool | int | float):
        return True
    return isinstance(v, str) and v != "" and not _SHORTHAND_UNSAFE.search(_TEMPLATE.sub("x", v))


def _shorthand(struct: Any, shape: Any) -> str | None:
    """`Name=service-name,Values=a,b` for a flat structure of scalars and lists of scalars; None when
    the value needs JSON."""
    if not isinstance(struct, dict) or not struct or getattr(shape, "type_name", "") != "structure":
        return None
    parts = []
    for key, v in struct.items():
        member = shape.members.get(key)
        if member is None:
            return None
        if isinstance(v, list):
            if not v or member.type_name != "list" or not all(_shorthand_scalar(x) for x in v):
                return None
            parts.append(f"{key}=" + ",".join(_scalar_text(x) for x in v))
        elif member.type_name in ("structure", "map", "list") or not _shorthand_scalar(v):
            return None
        else:
            parts.append(f"{key}={_scalar_text(v)}")
    return ",".join(parts)


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _option_words(service: str, operation: str, param: str, value: Any, incident: str) -> list[str] | None:
    """The `--option value...` words of one parameter, None when it goes to --cli-input-json."""
    from hybridops.markdown.cli_names import option_for

    option = option_for(service, operation, param, value if isinstance(value, bool) else None)
    if option is None:
        return None
    flag = f"--{option.name}"
    kind = option.type_name
    if kind == "boolean":
        return [flag] if isinstance(value, bool) else None
    if kind in ("structure", "map"):
        short = _shorthand(value, option.shape) if kind == "structure" else None
        return [flag, word(short, incident=incident) if short is not None else json_word(value, incident=incident)]
    if kind == "list":
        if not isinstance(value, list) or not value:
            return None
        member = option.shape.member
        if member.type_name in ("structure", "map", "list"):
            shorts = [_shorthand(v, member) for v in value]
            if all(s is not None for s in shorts):
                return [flag, *(word(s, incident=incident) for s in shorts)]
            return [flag, json_word(value, incident=incident)]
        if all(not isinstance(v, dict | list) for v in value):
            return [flag, *(word(v, incident=incident) for v in value)]
        return None
    if isinstance(value, dict | list):
        return None
    return [flag, word(value, incident=incident)]


def jq_path(query: str) -> str | None:
    """A JMESPath of fields and indexes (`data.errorRate`, `components."mcp-router".status`,
    `services[0].status`) as jq; None for anything else (projections, functions, filters)."""
    import jmespath

    def walk(node: dict[str, Any]) -> str | None:
        t = node["type"]
        if t == "field":
            name = node["value"]
            return f".{name}" if _NAME.match(name) else f".{json.dumps(name)}"
        if t == "subexpression":
            parts = [walk(c) for c in node["children"]]
            return None if None in parts else "".join(p for p in parts if p is not None)
        if t == "index_expression":
            left, right = node["children"]
            base = walk(left) if left["type"] != "identity" else ""
            if base is None or right["type"] != "index":
                return None
            return f"{base}[{right['value']}]"
        if t == "identity":
            return "."
        return None

    try:
        out = walk(dict(jmespath.compile(query).parsed))
    except Exception:  # noqa: BLE001 - any query jq cannot mirror is shown as JMESPath instead
        return None
    return out or None


def _continued(words: list[list[str]], head: str) -> list[str]:
    """`head` then each group of words on its own continued line (as the source runbook writes them)."""
    if not words:
        return [head]
    lines = [head + " \\"]
    for i, group in enumerate(words):
        lines.append(INDENT + " ".join(group) + (" \\" if i < len(words) - 1 else ""))
    return lines


@dataclass(frozen=True)
class Command:
    """The shell lines of one call, and the capture names they assign (as shell variables)."""

    lines: list[str]
    assigns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # captures the lines do not assign: shown as text


def aws_command(call: AwsCall, *, incident: str = "", step_id: str = "call", assign: bool = True,
                capture: bool = True, needed: Iterable[str] = ()) -> Command:
    """`aws SERVICE COMMAND --option value ... [--region R] [--query Q]`, a capture as
    `NAME=$(aws ... --query 'Q' --output text)`."""
    from hybridops.markdown.cli_names import cli_command, cli_service, positional_options

    service, operation = call.service, call.operation
    groups: list[list[str]] = []
    leftover: dict[str, Any] = {}
    for param, value in call.params.items():
        words = _option_words(service, operation, param, value, incident)
        if words is None:
            leftover[param] = value
        else:
            groups.append(words)
    if leftover:
        groups.append(["--cli-input-json", json_word(leftover, incident=incident)])
    if call.region:
        groups.append(["--region", word(call.region, incident=incident)])
    outfile = positional_options(service, operation)
    captures = dict(call.capture) if capture else {}
    tail: list[str] = []
    assigns: list[str] = []
    notes: list[str] = []
    if outfile:  # the response body streams to a file: captures of `body.X` read it with jq
        target = f"{step_id}.out"
        groups.append([shlex.quote(target)])
        for name, query in captures.items():
            path = jq_path(query[len("body."):]) if query.startswith("body.") else None
            if path is None:
                notes.append(f"{name}: {query}")
            else:
                tail.append(f"{shell_name(name)}=$(jq -r {shlex.quote(path)} {shlex.quote(target)})")
                assigns.append(name)
        captures = {}
    head = f"aws {cli_service(service)} {cli_command(operation)}"
    prefix = ""
    if len(captures) == 1 and assign:
        [(name, query)] = captures.items()
        groups.append(["--query", shlex.quote(query), "--output", "text"])
        prefix = f"{shell_name(name)}=$("
        assigns.append(name)
    elif captures:
        hashed = ", ".join(f"{name}: {query}" for name, query in captures.items())
        groups.append(["--query", shlex.quote("{" + hashed + "}")])
        wanted = [n for n in captures if n in set(needed)]
        if wanted and not call.changes_state:
            for name in wanted:  # a read sent once more per value that later lines need
                single = AwsCall(service=service, operation=operation, region=call.region, params=call.params,
                                 capture={name: captures[name]})
                more = aws_command(single, incident=incident, step_id=step_id)
                tail += more.lines
                assigns += more.assigns
        else:
            notes += [f"{n}: {captures[n]}" for n in wanted]
    lines = _continued(groups, prefix + head)
    if prefix:
        lines[-1] += ")"
    return Command(lines + tail, tuple(assigns), tuple(notes))


# --- curl -------------------------------------------------------------------------------------------


def curl_command(call: HttpCall, *, incident: str = "", assign: bool = True, capture: bool = True) -> Command:
    """`curl -sS [-X METHOD] "$ADMIN_URL/path" -H "Authorization: Bearer $ADMIN_TOKEN" [-d JSON]`,
    a capture of a plain path as `NAME=$(curl ... | jq -r '.path')`."""
    url = '"${ADMIN_URL}' + "".join(t if e else _dq_escape(t) for e, t in segments(call.path, incident=incident)) + '"'
    head = "curl -sS" + ("" if call.method == "GET" else f" -X {call.method}") + f" {url}"
    groups = [["-H", '"Authorization: Bearer ${ADMIN_TOKEN}"']]
    if call.body is not None:
        groups.append(["-H", "'Content-Type: application/json'"])
        groups.append(["-d", json_word(call.body, incident=incident)])
    captures = dict(call.capture) if capture else {}
    paths = {name: jq_path(q) for name, q in captures.items()}
    notes = [f"{n}: {captures[n]}" for n, p in paths.items() if p is None]
    simple = {n: p for n, p in paths.items() if p is not None}
    if call.capture_status and capture:
        notes.append(f"{call.capture_status}: the HTTP status")
    lines = _continued(groups, head)
    assigns: tuple[str, ...] = ()
    if len(simple) == 1 and assign:
        [(name, path)] = simple.items()
        lines[0] = f"{shell_name(name)}=$(" + lines[0]
        lines[-1] += f" | jq -r {shlex.quote(path)})"
        assigns = (name,)
    elif simple:
        lines[-1] += " | jq " + shlex.quote("{" + ", ".join(f"{n}: {p}" for n, p in simple.items()) + "}")
    return Command(lines, assigns, tuple(notes))


# --- polls and logs ---------------------------------------------------------------------------------


def watch_command(inner: Command, every_s: float) -> list[str]:
    """`watch -n N '...'`: the poll's call, shown again every N seconds (Ctrl-C once the condition holds)."""
    text = " ".join(line.removesuffix(" \\").strip() for line in inner.lines)
    return [f"watch -n {round(every_s)} {shlex.quote(text)}"]


def log_command(spec: LogErrors | LogJson, *, incident: str = "") -> list[str]:
    """FilterLogEvents as `aws logs filter-log-events ...`, then grouped and counted with jq, grep,
    sort and uniq as the step does."""
    from hybridops.engine.steps.logs import filter_params
    from hybridops.kinds.base import short_duration

    params = filter_params(spec, 0)
    params["startTime"] = f"{{{{ ago_ms('{short_duration(spec.since)}') }}}}"
    call = AwsCall(service="logs", operation="FilterLogEvents", region=spec.region, params=params)
    lines = aws_command(call, incident=incident).lines
    lines[-1] += " \\"
    lines.append(INDENT + "--query 'events[].message' --output json \\")
    if isinstance(spec, LogErrors):
        pipe = f"| jq -r '.[]' | grep -oP {shlex.quote(spec.type_pattern)} | sort | uniq -c | sort -rn"
    else:
        keys = spec.group_by or spec.fields
        fields = ", ".join(jq_path(k) or f".{json.dumps(k)}" for k in keys)
        program = f'.[] | sub("^[^{{]*"; "") | fromjson? | [{fields}] | map(tostring) | @tsv'
        pipe = f"| jq -r {shlex.quote(program)} | sort | uniq -c | sort -rn"
    lines.append(INDENT + pipe)
    return lines
