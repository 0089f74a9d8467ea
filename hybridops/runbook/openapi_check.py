"""Check admin API requests against the OpenAPI spec shipped in `hybridops/specs/`.

Paths match the spec's templates (`/health/component/{component}`, the parameter checked against its
schema), the method must be one the path has, and a JSON body must match the request schema key by
key (OAS 3.0 schemas: `additionalProperties: false`, `required`, types, enums, ranges). Templated
values (`{{ ... }}`) are skipped: the admin API checks them when the request is sent.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from hybridops.runbook.expr import is_template
from hybridops.runbook.load import dotted, show_value

SPEC_PATH = Path(__file__).resolve().parent.parent / "specs" / "admin-api.openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)

Loc = tuple[str | int, ...]
Report = Callable[[Loc, str, bool], None]


@dataclass(frozen=True)
class _Route:
    template: str
    segments: tuple[str, ...]
    item: dict[str, Any]


@cache
def spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The spec with every local `$ref` resolved (it is small and has no recursive schemas)."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))

    def resolve(node: Any, depth: int = 0) -> Any:
        if depth > 50:
            raise ValueError("$ref nesting too deep in the OpenAPI spec")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target: Any = raw
                for part in ref[2:].split("/"):
                    target = target[part.replace("~1", "/").replace("~0", "~")]
                return resolve(target, depth + 1)
            return {k: resolve(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, depth + 1) for v in node]
        return node

    return resolve(raw)


@cache
def _routes(path: Path = SPEC_PATH) -> tuple[_Route, ...]:
    return tuple(
        _Route(template, tuple(template.strip("/").split("/")), item)
        for template, item in spec(path).get("paths", {}).items()
    )


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and not segment.startswith("{{")


def _match(route: _Route, segments: list[str], *, rendered: bool = False) -> dict[str, str] | None:
    """Path parameters when `segments` fit the route; a templated segment fits anything, unless the
    path is `rendered` (what is sent: braces in it are text)."""
    if len(route.segments) != len(segments):
        return None
    params: dict[str, str] = {}
    for want, got in zip(route.segments, segments, strict=True):
        if _is_param(want):
            if rendered and not got:
                return None
            params[want[1:-1]] = got
        elif want != got and (rendered or not is_template(got)):
            return None
    return params


def _split_path(path: str) -> tuple[str, str]:
    # Split at `?` outside `{{ }}` so a templated query value keeps its braces.
    depth = 0
    for i, ch in enumerate(path):
        if path.startswith("{{", i):
            depth += 1
        elif path.startswith("}}", i):
            depth = max(0, depth - 1)
        elif ch == "?" and depth == 0:
            return path[:i], path[i + 1 :]
    return path, ""


def _segments(path: str) -> list[str]:
    """Path segments, a `{{ ... }}` never split even if it holds a `/`."""
    parts: list[str] = []
    current, depth, i = "", 0, 0
    body = path.strip("/")
    while i < len(body):
        if body.startswith("{{", i):
            depth += 1
            current += "{{"
            i += 2
            continue
        if body.startswith("}}", i) and depth:
            depth -= 1
            current += "}}"
            i += 2
            continue
        if body[i] == "/" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += body[i]
        i += 1
    parts.append(current)
    return parts


def _route_for(method: str, bare: str, *, rendered: bool = False) -> tuple[_Route, dict[str, str]] | None:
    """The route a path (no query) goes to, preferring one with `method`, and its path parameters."""
    segments = bare.strip("/").split("/") if rendered else _segments(bare)
    matches = [(r, p) for r in _routes() if (p := _match(r, segments, rendered=rendered)) is not None]
    if not matches:
        return None
    # A literal path beats a templated one (`/health/metrics` vs `/health/{x}`), as servers route.
    matches.sort(key=lambda m: sum(_is_param(s) for s in m[0].segments))
    return next(((r, p) for r, p in matches if method.lower() in r.item), matches[0])


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(path template, operation object) of a request, or None when the spec has no such operation."""
    if is_template(method):
        return None
    matched = _route_for(method, _split_path(path)[0])
    if matched is None:
        return None
    operation = matched[0].item.get(method.lower())
    return (matched[0].template, operation) if isinstance(operation, dict) else None


def is_probe(method: str, path: str, *, rendered: bool = False) -> bool:
    """The spec marks the operation `method path` as a probe (`x-hybridops-probe: true`): a request
    that changes nothing, which a runbook may declare `mutating: false`."""
    from hybridops.runbook.mutation import PROBE_EXTENSION

    matched = _route_for(method, _split_path(path)[0], rendered=rendered)
    if matched is None:
        return False
    operation = matched[0].item.get(method.lower())
    return isinstance(operation, dict) and operation.get(PROBE_EXTENSION) is True


# What a request path may not hold, rendered or literal: ways out of the path it names.
_ENCODED = re.compile(r"%(2e|2f|5c|25|00)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def path_escape(path: str) -> str | None:
    """Why `path` (no query) could reach another path than it names, or None: a `.` or `..` segment,
    an encoded dot, slash, backslash or percent, a backslash, `//`, a fragment, a control character."""
    if not path.startswith("/"):
        return "does not start with /"
    if "#" in path:
        return "holds a fragment (#)"
    if "\\" in path:
        return "holds a backslash"
    if _CONTROL.search(path):
        return "holds a space or control character"
    if match := _ENCODED.search(path):
        return f"holds an encoded character ({match.group(0)})"
    if "//" in path:
        return "holds an empty segment (//)"
    if any(segment in (".", "..") for segment in path.split("/")):
        return "holds a . or .. segment"
    return None


def rendered_request_problem(method: str, path: str) -> str | None:
    """Why the rendered request `method path` may not be sent to the admin API (a message that starts
    with the method), or None: it must
    name one operation of the spec exactly (path parameters fitting their schema, query parameters
    only where the operation declares them) and nothing that could lead elsewhere."""
    bare, _, query = path.partition("?")
    problem = "holds a fragment (#)" if "#" in path else path_escape(bare)
    if problem is None and _CONTROL.search(query):
        problem = "holds a space or control character in its query"
    if problem is not None:
        return f"{method} path {path!r} {problem}"
    matched = _route_for(method, bare, rendered=True)
    if matched is None:
        return f"{method} path {bare!r} is no path of the admin API"
    route, path_params = matched
    operation = route.item.get(method.lower())
    if not isinstance(operation, dict):
        return f"{method} is not allowed on {route.template}"
    parameters = [*route.item.get("parameters", []), *operation.get("parameters", [])]
    problems: list[str] = []

    def report(loc: Loc, message: str, key: bool) -> None:
        problems.append(message)

    where = f"{method} {route.template}"
    for name, value in path_params.items():
        declared = next((p for p in parameters if p.get("in") == "path" and p.get("name") == name), None)
        for message in _leaf_errors(value, declared.get("schema", {}) if declared else {}):
            problems.append(f"{where}: path parameter {name}: {message}")
    if "?" in path:
        if not any(p.get("in") == "query" for p in parameters):
            problems.append(f"{where} takes no query")
        else:
            _check_query(query, parameters, (), where, report)
    return problems[0] if problems else None


def promises_json(method: str, path: str, status: int) -> bool:
    """The spec says the answer to `method path` with `status` is JSON (application/json content)."""
    matched = _route_for(method, _split_path(path)[0], rendered=True)
    if matched is None:
        return False
    operation = matched[0].item.get(method.lower())
    if not isinstance(operation, dict):
        return False
    responses = operation.get("responses", {})
    response = next((responses[k] for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None)
    content = response.get("content", {}) if isinstance(response, dict) else {}
    return any(media.split(";")[0].strip() == "application/json" for media in content)


def check_request(method: str, path: str, body: Any, loc: Loc, report: Report) -> None:
    """Check one request; `loc` is the call's mapping (with `method`, `path`, `body` keys)."""
    if is_template(method):
        return
    bare, query = _split_path(path)
    # The written parts of the path, each template standing for one harmless segment character.
    escape = path_escape(_TEMPLATE.sub("x", bare))
    if escape is not None:
        report((*loc, "path"), f"path {bare!r} {escape}: it could reach another path of the admin API", False)
        return
    matched = _route_for(method, bare)
    if matched is None:
        templates = [r.template for r in _routes()]
        close = difflib.get_close_matches(bare, templates, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        report((*loc, "path"), f"the admin API has no path {bare!r}{hint}", False)
        return
    route, path_params = matched
    operation = route.item.get(method.lower())
    if not isinstance(operation, dict):
        allowed = ", ".join(m.upper() for m in METHODS if m in route.item)
        report((*loc, "method"), f"{method} is not allowed on {route.template} (the API has: {allowed})", False)
        return
    where = f"{method} {route.template}"
    parameters = [*route.item.get("parameters", []), *operation.get("parameters", [])]
    for name, value in path_params.items():
        declared = next((p for p in parameters if p.get("in") == "path" and p.get("name") == name), None)
        if declared is None or is_template(value):
            continue
        for message in _leaf_errors(value, declared.get("schema", {})):
            report((*loc, "path"), f"{where}: path parameter {name}: {message}", False)
    _check_query(query, parameters, loc, where, report)
    _check_body(body, operation.get("requestBody"), loc, where, report)


def _check_query(query: str, parameters: list[dict[str, Any]], loc: Loc, where: str, report: Report) -> None:
    if not query:
        return
    known = {p.get("name"): p for p in parameters if p.get("in") == "query"}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if is_template(name):
            continue
        if name not in known:
            close = difflib.get_close_matches(name, [k for k in known if isinstance(k, str)], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            report((*loc, "path"), f"{where}: unknown query parameter {name!r}{hint}", False)
        elif not is_template(value):
            schema = known[name].get("schema", {})
            # Query values arrive as text; only enums can be checked without coercion.
            if "enum" in schema and value not in [str(v) for v in schema["enum"]]:
                report((*loc, "path"), f"{where}: query parameter {name}: {value!r} is not one of "
                       f"{', '.join(map(str, schema['enum']))}", False)


def _check_body(body: Any, request: dict[str, Any] | None, loc: Loc, where: str, report: Report) -> None:
    if request is None:
        if body is not None:
            report((*loc, "body"), f"{where} takes no request body", True)
        return
    if body is None:
        if request.get("required"):
            report(loc, f"{where} needs a JSON body", False)
        return
    content = request.get("content", {})
    media = content.get("application/json")
    if media is None:
        report((*loc, "body"), f"{where} takes no JSON body (it takes {', '.join(content) or 'none'})", True)
        return
    check_schema(body, media.get("schema", {}), (*loc, "body"), where, report)


def _label(loc: Loc) -> str:
    """`body.services[0]`-style name of a location inside a call's body."""
    return dotted(loc, start_at="body")


def check_schema(value: Any, schema: dict[str, Any], loc: Loc, where: str, report: Report) -> None:
    """Check `value` against an OAS 3.0 schema, key by key, so each problem has its own position."""
    if is_template(value) or not schema:
        return
    if value is None:
        if not schema.get("nullable"):
            report(loc, f"{where}: {_label(loc)} must not be null", False)
        return
    if schema.get("type") == "object" or "properties" in schema:
        if not isinstance(value, dict):
            report(loc, f"{where}: {_label(loc)} must be an object, got {show_value(value)}", False)
            return
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        meant: set[str] = set()  # fields a misspelt key was probably meant to be
        for key, item in value.items():
            if key in properties:
                check_schema(item, properties[key], (*loc, key), where, report)
            elif extra is False:
                close = difflib.get_close_matches(key, [p for p in properties if p not in value], n=1)
                meant.update(close)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(properties) or 'none'}"
                report((*loc, key), f"{where}: unknown field {key!r} in {_label(loc)} ({hint})", True)
            elif isinstance(extra, dict):
                check_schema(item, extra, (*loc, key), where, report)
        for key in schema.get("required", []):
            # A misspelt required field is one mistake: the unknown-field problem already names it.
            if key not in value and key not in meant:
                report(loc, f"{where}: {_label(loc)} is missing required field {key!r}", False)
        if len(value) < schema.get("minProperties", 0):
            report(loc, f"{where}: {_label(loc)} needs at least {schema['minProperties']} field(s)", False)
        return
    if schema.get("type") == "array":
        if not isinstance(value, list):
            report(loc, f"{where}: {_label(loc)} must be an array, got {show_value(value)}", False)
            return
        for i, item in enumerate(value):
            check_schema(item, schema.get("items", {}), (*loc, i), where, report)
        return
    if _has_template(value):
        return  # a combinator over a structure that holds templates: checked at run time
    for message in _leaf_errors(value, schema):
        report(loc, f"{where}: {_label(loc)}: {message}", False)


def _has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return is_template(value)


def _leaf_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """jsonschema's messages for a value (Draft 4 is what OAS 3.0 schemas are closest to)."""
    from jsonschema import Draft4Validator

    schema = {k: v for k, v in schema.items() if k not in ("nullable", "example", "description", "format")}
    return [e.message for e in sorted(Draft4Validator(schema).iter_errors(value), key=lambda e: e.message)]


def check_declared_read(method: str, path: str, declared: bool | None, loc: Loc, report: Report) -> None:
    """`mutating: false` (at `loc`) on a request other than GET: only for an operation the spec marks
    as a probe, since --read-only and --dry-run would otherwise send it."""
    from hybridops.runbook.mutation import PROBE_EXTENSION, http_changes_state

    if declared is not False or operation_for(method, path) is None:
        return  # no such operation: its own problem, reported by check_request
    if not http_changes_state(method, path):
        return
    report(loc, f"`mutating: false` is not allowed: {method} {_split_path(path)[0]} changes state; only an "
           f"operation the admin API spec marks `{PROBE_EXTENSION}: true` may be declared so", False)
