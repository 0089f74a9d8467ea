"""One shell command line of a Markdown runbook as one step body: `aws` -> an aws call, `curl` -> an
http call, `watch -n N '...'` -> a poll, `aws logs filter-log-events ... | jq | sort | uniq -c` ->
log_errors or log_json. The inverse of `commands.py`: `${NAME}` and `<name>` become `{{ name }}`,
`$(date -u -d '5 minutes ago' +...)` becomes `{{ ago_iso('5m') }}` (`+%s)000`: `{{ ago_ms('5m') }}`),
and `$ADMIN_URL` / `$ADMIN_TOKEN` are the configured admin URL and token.

Anything else raises `Untranslatable` with the reason; the importer then keeps the line as a manual step.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hybridops.markdown.commands import Untranslatable

_DATE = re.compile(r"""\$\(date\s+-u(?:\s+-d\s+(['"])([^'"]+)\1)?\s+['"]?\+([^)'"]+)['"]?\)(000)?""")
_AGO = re.compile(r"^\s*(\d+)\s*(seconds?|secs?|minutes?|mins?|hours?|hrs?|days?)\s+ago\s*$", re.I)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_PLACEHOLDER = re.compile(r"(?<!\?P)<([A-Za-z][A-Za-z0-9_-]*)>")  # not a regex group name (?P<type>)
_UNIT = {"s": "s", "m": "m", "h": "h", "d": "d"}


@dataclass
class Translated:
    """What one line becomes: the step's kind and body, and the names of the variables it uses."""

    kind: str
    body: dict[str, Any]
    variables: dict[str, Any] = field(default_factory=dict)  # name -> default (None: required)
    notes: list[str] = field(default_factory=list)  # parts kept aside, reported
    first: tuple[str, dict[str, Any]] | None = None  # a step the line needs before this one (kind, body)
    secrets: set[str] = field(default_factory=set)  # variables that hold what the page wrote as a secret


@dataclass
class _Subst:
    templates: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)

    def add(self, template: str) -> str:
        self.templates.append(template)
        return f"@@T{len(self.templates) - 1}@@"

    def back(self, text: str) -> str:
        return re.sub(r"@@T(\d+)@@", lambda m: self.templates[int(m.group(1))], text)

    numeric: set[int] = field(default_factory=set)  # templates that stood bare (a number) in a JSON body

    def value(self, v: Any) -> Any:
        if isinstance(v, str) and v.isdigit():
            v = int(v) if _MAGIC <= int(v) < _MAGIC + len(self.templates) else v
        if isinstance(v, str):
            bare = re.fullmatch(r"@@T(\d+)@@", v)
            if bare and int(bare.group(1)) in self.numeric:
                template = self.templates[int(bare.group(1))]
                # a variable's number: `| number` is made `| int` or `| float` once the defaults are known
                return template if "ago_ms" in template or "now_ms" in template else template[:-3] + " | number }}"
            return self.back(v)
        if isinstance(v, dict):
            return {self.back(k): self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, int) and not isinstance(v, bool) and _MAGIC <= v < _MAGIC + len(self.templates):
            return self.templates[v - _MAGIC]
        return v


_MAGIC = 987_654_321_000  # stands in for a template in a numeric option while the CLI parses it


def _duration(phrase: str) -> str:
    m = _AGO.match(phrase)
    if not m:
        raise Untranslatable(f"no runbook time for `date -d '{phrase}'`")
    return f"{m.group(1)}{_UNIT[m.group(2)[0].lower()]}"


def variable_name(shell: str) -> str:
    """`TARGET_GROUP_ARN` / `target-group-arn` -> `target_group_arn` (render's `shell_name` reversed)."""
    name = shell.lower().replace("-", "_")
    return name[3:] if name.startswith("rb_") else name


def substitute(line: str, subst: _Subst) -> str:
    """Shell expansions and placeholders as sentinels, so that shlex keeps each one inside its word."""

    def date(m: re.Match[str]) -> str:
        phrase, fmt, ms = m.group(2), m.group(3), m.group(4)
        millis = fmt.strip() in ("%s", "%s000")
        ms = ms or fmt.strip() == "%s000"
        if millis and not ms:
            raise Untranslatable("a time in whole seconds (`+%s` without `000`) has no runbook form")
        fn = ("ago" if phrase else "now") + ("_ms" if millis else "_iso")
        return subst.add(f"{{{{ {fn}('{_duration(phrase)}') }}}}" if phrase else f"{{{{ {fn}() }}}}")

    line = _DATE.sub(date, line)

    def var(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in ("ADMIN_URL", "HYBRIDOPS_ADMIN_URL"):
            return "@@ADMIN@@"
        if name in ("ADMIN_TOKEN", "HYBRIDOPS_ADMIN_TOKEN", "TOKEN"):
            return "@@TOKEN@@"
        key = variable_name(name)
        subst.variables.setdefault(key, m.group(2))
        default = m.group(2)
        if default is not None:  # render's `${X:-100}` is `{{ x | default(100) }}`
            shown = default if re.fullmatch(r"-?\d+(\.\d+)?", default) else repr(default)
            return subst.add(f"{{{{ {key} | default({shown}) }}}}")
        return subst.add(f"{{{{ {key} }}}}")

    line = _VAR.sub(var, line)
    if "$(" in line or "`" in line:
        raise Untranslatable("a command substitution hybridops cannot evaluate")

    def placeholder(m: re.Match[str]) -> str:
        key = variable_name(m.group(1))
        subst.variables.setdefault(key, None)
        return subst.add(f"{{{{ {key} }}}}")

    return _PLACEHOLDER.sub(placeholder, line)


def split_pipes(line: str) -> list[str]:
    """The commands of a pipeline, split at `|` outside quotes."""
    parts, cur, quote = [], [], ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(line):
                cur.append(line[i + 1])
                i += 1
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == "|" and line[i + 1:i + 2] != "|":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError as exc:
        raise Untranslatable(f"not a complete shell command ({exc})") from None


def translate(line: str, *, base: Path | None = None) -> Translated:
    """One logical command line (continuations joined) as a step body."""
    subst = _Subst()
    assign: str | None = None
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)\s*$", line.strip(), re.S)
    if m:  # render's `NAME=$(aws ... --query Q --output text)`: a capture named NAME
        assign, line = variable_name(m.group(1)), m.group(2)
    if line.strip().startswith("watch ") and len(split_pipes(line)) == 1:
        # the watched command is a shell line of its own (quoted once more): translated on its own
        return _watch(_words(line)[1:], base)
    out = _translate_text(substitute(line, subst), subst, base, assign)
    out.body = subst.value(out.body)
    if out.first is not None:
        out.first = (out.first[0], subst.value(out.first[1]))
    out.variables = dict(subst.variables)
    return out


def _translate_text(text: str, subst: _Subst, base: Path | None, assign: str | None) -> Translated:
    stages = split_pipes(text)
    first = _words(stages[0])
    env: dict[str, str] = {}
    while first and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", first[0]):  # `AWS_REGION=x aws ...`
        name, _, value = first.pop(0).partition("=")
        env[name] = value
    if not first:
        raise Untranslatable("an empty command")
    prog = first[0]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if prog == "aws" and region and "--region" not in first:
        first += ["--region", region]
    if prog == "watch":
        raise Untranslatable("watch's output piped on")
    if prog == "aws":
        out = _aws(first[1:], stages[1:], subst, base, assign)
    elif prog == "curl":
        out = _curl(first[1:], stages[1:], subst, assign)
    else:
        raise Untranslatable(f"`{prog}` is not a command hybridops runs (aws, curl, watch)")
    return out


def _capture_name(query: str) -> str:
    tail = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)
    base = re.sub(r"(?<!^)(?=[A-Z])", "_", tail[-1]).lower() if tail else "result"
    return base


def _aws(words: list[str], pipes: list[str], subst: _Subst, base: Path | None, assign: str | None) -> Translated:
    from hybridops.markdown.aws_cli import parse_aws

    if [w for w in words if not w.startswith("-")][:2] == ["logs", "tail"] and not pipes:
        return _logs_tail(words, subst)
    try:
        parsed = parse_aws(words, base=base)
    except Untranslatable:
        # a template standing for a number: let the CLI parse a number, then put the template back
        numeric = [str(_MAGIC + int(w[3:-2])) if re.fullmatch(r"@@T\d+@@", w) else w for w in words]
        if numeric == words:
            raise
        parsed = parse_aws(numeric, base=base)
    if pipes:
        return _log_pipeline(parsed.service, parsed.operation, parsed.params, parsed.region,
                             [f"--query {parsed.query}", *pipes] if parsed.query else pipes, subst)
    secrets: set[str] = set()
    notes: list[str] = []
    for where in parsed.sensitive:  # a secret written on the page: a secret variable, never the YAML
        name = variable_name(re.sub(r"(?<!^)(?=[A-Z])", "_", str(where[-1] if isinstance(where[-1], str)
                                                                   else where[0])))
        holder: Any = parsed.params
        for key in where[:-1]:
            holder = holder[key]
        holder[where[-1]] = f"{{{{ {name} }}}}"
        subst.variables[name] = None
        secrets.add(name)
        notes.append(f"the secret {'.'.join(map(str, where))} is not written to the runbook: it is the secret "
                     f"variable {name}")
    call: dict[str, Any] = {"service": parsed.service, "operation": parsed.operation}
    if parsed.region:
        call["region"] = parsed.region
    call["params"] = parsed.params
    if parsed.query:
        call["capture"] = _query_captures(parsed.query, assign)
    return Translated("aws", call, notes=notes, secrets=secrets)


_TAIL_SINCE = re.compile(r"^(\d+)([smhdw])$")


def _logs_tail(words: list[str], subst: _Subst) -> Translated:
    """`aws logs tail GROUP [--since 10m] [--filter-pattern P] [--follow]` (a CLI customisation, not one
    API call): FilterLogEvents over the look-back; with --follow, then a poll of the newest events every
    30 seconds for the action's budget."""
    values = {"--since": "10m"}
    flags: set[str] = set()
    group: str | None = None
    rest = [w for w in words]
    rest.remove("logs")
    rest.remove("tail")
    i = 0
    while i < len(rest):
        w = rest[i]
        if w in ("--since", "--filter-pattern", "--region", "--format", "--profile", "--output") and i + 1 < len(rest):
            values[w] = rest[i + 1]
            i += 2
            continue
        if w in ("--follow", "--no-paginate", "--no-cli-pager"):
            flags.add(w)
        elif w.startswith("-"):
            raise Untranslatable(f"aws logs tail: option {w} has no FilterLogEvents form")
        elif group is None:
            group = w
        else:
            raise Untranslatable("aws logs tail of more than one log group")
        i += 1
    if group is None:
        raise Untranslatable("aws logs tail without a log group")
    since = _TAIL_SINCE.match(values["--since"])
    if not since:
        raise Untranslatable(f"aws logs tail --since {values['--since']}: only a relative time (10m, 1h) has a "
                             "runbook form")
    n, unit = int(since.group(1)), since.group(2)
    look_back = f"{n * 7}d" if unit == "w" else f"{n}{unit}"

    def call(start: str, capture: str) -> dict[str, Any]:
        body: dict[str, Any] = {"service": "logs", "operation": "FilterLogEvents"}
        if "--region" in values:
            body["region"] = values["--region"]
        params: dict[str, Any] = {"logGroupName": group, "startTime": f"{{{{ ago_ms('{start}') }}}}"}
        if "--filter-pattern" in values:
            params["filterPattern"] = values["--filter-pattern"]
        body["params"] = params
        body["capture"] = {capture: "events[].message"}
        return body

    shown = subst.back(group).rstrip("/").rsplit("/", 1)[-1]  # `/aws/ecs/mcp-router`, `{{ log_group }}`
    name = re.sub(r"\W+", "_", shown).strip("_").lower() or "log"
    past = call(look_back, f"{name}_lines")
    if "--follow" not in flags:
        return Translated("aws", past)
    recent = call("30s", f"{name}_recent_lines")
    return Translated("poll", {"aws": recent, "every": "30s", "while": "true"}, first=("aws", past))


def _query_captures(query: str, assign: str | None) -> dict[str, str]:
    """`--query Q` as captures: render's multi-select hash `{a: q1, b: q2}` is one capture each."""
    import jmespath

    try:
        tree = jmespath.compile(query).parsed
    except Exception:  # noqa: BLE001 - any JMESPath error: the query is no capture
        raise Untranslatable(f"--query {query!r} is not JMESPath") from None
    if tree["type"] == "multi_select_dict" and assign is None:
        # the expressions as written (not the parser's tree), split at the hash's top-level commas
        pieces = _top_level_split(query.strip()[1:-1])
        return {pair["value"]: piece.split(":", 1)[1].strip() for pair, piece in zip(tree["children"], pieces,
                                                                                      strict=True)}
    return {assign or _capture_name(query): query}


def _top_level_split(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def _since(params: dict[str, Any]) -> str:
    start = str(params.get("startTime", ""))
    m = re.fullmatch(r"\{\{ ago_ms\('([^']+)'\) \}\}", start)
    if not m:
        raise Untranslatable("a log query needs --start-time $(date -u -d 'N minutes ago' +%s)000")
    return m.group(1)


def _log_pipeline(service: str, operation: str, params: dict[str, Any], region: str | None, pipes: list[str],
                  subst: _Subst) -> Translated:
    """`aws logs filter-log-events ... | jq ... [| sort | uniq -c | sort -rn]` as log_errors or log_json."""
    if (service, operation) != ("logs", "FilterLogEvents"):
        raise Untranslatable(f"the output of {service} {operation} piped through {pipes[0].split()[0]}")
    params = subst.value(params)
    body: dict[str, Any] = {"log_group": params.get("logGroupName", "")}
    if region:
        body["region"] = subst.back(region)
    if params.get("filterPattern"):
        body["filter_pattern"] = params["filterPattern"]
    body["since"] = _since(params)
    program = " ".join(pipes)
    fields = re.search(r"fromjson\??\s*\|\s*\[?\{([^}]*)\}", program) or re.search(
        r"fromjson\??\s*\|\s*\[([^\]]*)\]", program)
    if fields:
        names = [f.strip().lstrip(".").split(":")[0].strip() for f in fields.group(1).split(",") if f.strip()]
        body["fields"] = names
        body["capture"] = "decisions"
        return Translated("log_json", body)
    if re.search(r"\.message", program) and "uniq -c" in program:
        grep = re.search(r"grep\s+-o[EP]?\s+('([^']*)'|\"([^\"]*)\")", program)
        if grep:
            body["type_pattern"] = grep.group(2) or grep.group(3)
        body["capture"] = "errors"
        return Translated("log_errors", body)
    raise Untranslatable("a jq pipeline that is neither errors counted by type nor JSON messages by field")


def _watch(words: list[str], base: Path | None) -> Translated:
    every = 2.0
    rest: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("-n", "--interval") and i + 1 < len(words):
            every = float(words[i + 1])
            i += 2
            continue
        if w.startswith("-n") and len(w) > 2:
            every = float(w[2:])
        elif w.startswith("-"):
            pass  # -d, -t, -c: how watch shows the output, not what it runs
        else:
            rest.append(w)
        i += 1
    if not rest:
        raise Untranslatable("watch with no command")
    inner = translate(" ".join(rest), base=base)
    if inner.kind not in ("aws", "http"):
        raise Untranslatable("watch of something other than one aws or curl call")
    body = {inner.kind: inner.body, "every": f"{max(1, round(every))}s", "while": "true"}
    return Translated("poll", body, inner.variables, notes=inner.notes)


_CURL_FLAGS = {"-s", "-S", "-sS", "-Ss", "-v", "-f", "-L", "-i", "-k", "-sf", "-fsS", "-sSf", "-fs", "--silent",
               "--show-error", "--fail", "--location", "--include", "--verbose", "--compressed", "-g"}
_CURL_SKIP_VALUE = {"-o", "--output", "-m", "--max-time", "--connect-timeout", "-w", "--write-out", "--retry"}


def _curl(words: list[str], pipes: list[str], subst: _Subst, assign: str | None) -> Translated:
    method: str | None = None
    data: str | None = None
    url: str | None = None
    notes: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w in ("-X", "--request") and nxt:
            method, i = nxt.upper(), i + 2
            continue
        if w in ("-H", "--header") and nxt is not None:
            name, _, value = nxt.partition(":")
            lname = name.strip().lower()
            if lname == "authorization":
                if "@@TOKEN@@" not in value and "{{" not in subst.back(value):
                    notes.append("a literal Authorization header: the configured admin token is sent instead")
            elif lname not in ("content-type", "accept"):
                notes.append(f"header {name.strip()}: not sent (an http step sends the admin API's own headers)")
            i += 2
            continue
        if w in ("-d", "--data", "--data-raw", "--data-binary", "--json") and nxt is not None:
            data, i = nxt, i + 2
            continue
        if w in ("-u", "--user"):
            raise Untranslatable("credentials on the command line (-u): use the configured admin token")
        if w in _CURL_SKIP_VALUE:
            i += 2
            continue
        if w.startswith("-"):
            if w not in _CURL_FLAGS and not re.fullmatch(r"-[sSvfLik]+", w):
                raise Untranslatable(f"curl option {w} has no http-step form")
            i += 1
            continue
        url = w
        i += 1
    if url is None:
        raise Untranslatable("curl without a URL")
    path = _admin_path(url)
    if re.search(r"(?i)[?&](token|access_token|api_key|apikey|key|password|secret)=", path):
        raise Untranslatable("a credential in the URL: the http step sends the configured admin token")
    call: dict[str, Any] = {"method": method or ("POST" if data is not None else "GET"), "path": subst.back(path)}
    if data is not None:
        if data.startswith("@"):
            raise Untranslatable("a request body read from a file (-d @FILE)")
        try:
            # a bare expansion stands for a number: quote it so the body parses, the template comes back
            for m in re.finditer(r'(?<!")@@T(\d+)@@(?!")', data):
                subst.numeric.add(int(m.group(1)))
            call["body"] = json.loads(re.sub(r'(?<!")(@@T\d+@@)(?!")', r'"\1"', data))
        except ValueError:
            raise Untranslatable("a request body that is not JSON") from None
    if pipes:
        jq = _words(pipes[0])
        if not jq or jq[0] != "jq" or len(pipes) > 1:
            raise Untranslatable(f"curl's output piped through `{pipes[0]}`")
        program = [w for w in jq[1:] if not w.startswith("-")]
        text = program[0].strip() if program else "."
        if text.startswith("{") and text.endswith("}"):  # render's `jq '{name: .path, ...}'`
            captures = {}
            for piece in _top_level_split(text[1:-1]):
                name, _, path = piece.partition(":")
                query = _jq_to_jmespath(path)
                if query is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
                    raise Untranslatable(f"jq program {text!r} has no capture form")
                captures[name.strip()] = query
            call["capture"] = captures
        else:
            query = _jq_to_jmespath(text)
            if query:
                call["capture"] = {assign or _capture_name(query): query}
    return Translated("http", call, notes=notes)


def _admin_path(url: str) -> str:
    if url.startswith("@@ADMIN@@"):
        rest = url[len("@@ADMIN@@"):]
        return rest if rest.startswith("/") else "/" + rest
    if not re.match(r"^https?://", url):
        url = "https://" + url
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _jq_to_jmespath(program: str) -> str | None:
    """A jq path (`.data.routingEfficiency`, `.services[0].status`) as JMESPath; None for `.` (the whole
    body: no capture)."""
    program = program.strip()
    if program in (".", ""):
        return None
    parts = re.findall(r'\.([A-Za-z_][A-Za-z0-9_]*)|\."([^"]+)"|\[(-?\d+)\]', program)
    out = "".join(f".{a}" if a else f'."{b}"' if b else f"[{c}]" for a, b, c in parts)
    if not parts or out != program:
        raise Untranslatable(f"jq program {program!r} has no capture form")
    return out.lstrip(".")
