"""JMESPath captures as the selectors SSM Automation accepts (`$.services[0].taskDefinition`).

An `aws:executeAwsApi` output names its value with a JSONPath `Selector`, not JMESPath. The part the two
languages share is translated: fields (`a.b`, a quoted `"x-y"` as `['x-y']`), indexes from 0 (`a[0]`), and
one list projection (`a[*].b`, `a[].b`), which selects a list. What has no JSONPath form SSM evaluates
(functions such as `length()` or `to_number()`, filters `[?...]`, slices, negative indexes, pipes,
multi-selects, `@`, nested projections) raises `NotExpressible` naming the construct, so the export
lists it instead of guessing.

`output_type` reads the value's SSM type from the botocore output shape along the same path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WILDCARD = "*"
Segment = str | int  # a key, an index, or WILDCARD (every element of a list)


class NotExpressible(Exception):
    """Something of the runbook with no SSM Automation form; the message says what and why."""


@dataclass(frozen=True)
class Selection:
    """A translated query: its path and the JSONPath selector (`$.a[0].b`)."""

    path: tuple[Segment, ...]

    @property
    def many(self) -> bool:
        """The query projects a list (`a[*].b`): the output is a list."""
        return WILDCARD in self.path

    @property
    def selector(self) -> str:
        return jsonpath(self.path)


def jsonpath(path: tuple[Segment, ...], root: str = "$") -> str:
    out = [root]
    for seg in path:
        if seg == WILDCARD:
            out.append("[*]")
        elif isinstance(seg, int):
            out.append(f"[{seg}]")
        elif _PLAIN.match(seg):
            out.append(f".{seg}")
        else:
            out.append(f"['{seg}']")
    return "".join(out)


_NAMED = {
    "function_expression": "the function {value}()",
    "filter_projection": "a filter [?...]",
    "slice": "a slice [a:b]",
    "pipe": "a pipe |",
    "multi_select_dict": "a multi-select {...}",
    "multi_select_list": "a multi-select [...]",
    "or_expression": "||",
    "and_expression": "&&",
    "not_expression": "!",
    "comparator": "a comparison",
    "literal": "a literal",
    "current": "@",
    "identity": "@",
    "value_projection": "* over an object",
    "expref": "&expression",
}


def to_selector(query: str) -> Selection:
    """The selector of a JMESPath capture, or NotExpressible saying which part has none."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        tree = jmespath.compile(query).parsed
    except JMESPathError as exc:
        raise NotExpressible(f"bad JMESPath {query!r}: {str(exc).splitlines()[0]}") from None
    path = tuple(_walk(dict(tree), query))
    if path.count(WILDCARD) > 1:
        raise NotExpressible(f"{query!r}: nested projections (JSONPath flattens what JMESPath nests)")
    return Selection(path)


def _walk(node: dict[str, Any], query: str) -> list[Segment]:
    kind = node["type"]
    kids = node.get("children", [])
    if kind == "field":
        key = node["value"]
        if "'" in key or "\\" in key:
            raise NotExpressible(f"{query!r}: the key {key!r} has no JSONPath form")
        return [key]
    if kind == "subexpression":
        return [seg for kid in kids for seg in _walk(kid, query)]
    if kind == "index_expression":
        out = _walk(kids[0], query)
        for index in kids[1:]:
            if index["type"] != "index":
                return _unsupported(index, query)
            if index["value"] < 0:
                raise NotExpressible(f"{query!r}: a negative index [{index['value']}] (SSM counts from 0 only)")
            out.append(index["value"])
        return out
    if kind == "projection":
        left, right = kids
        base = _walk(left["children"][0], query) if left["type"] == "flatten" else _walk(left, query)
        rest = [] if right["type"] == "identity" else _walk(right, query)
        return [*base, WILDCARD, *rest]
    if kind == "flatten":
        return [*_walk(kids[0], query), WILDCARD]
    return _unsupported(node, query)


def _unsupported(node: dict[str, Any], query: str) -> list[Segment]:
    what = _NAMED.get(node["type"], node["type"])
    if node["type"] == "function_expression":
        what = what.replace("{value}", str(node.get("value", "")))
    raise NotExpressible(f"{query!r}: {what} has no SSM selector form")


# --- types ------------------------------------------------------------------------------------------

_SCALARS = {"string": "String", "timestamp": "String", "blob": "String", "integer": "Integer", "long": "Integer",
            "boolean": "Boolean"}


def output_type(shape: Any, path: tuple[Segment, ...]) -> str:
    """The SSM output type of the value at `path` in a botocore shape (None: unknown, String).
    NotExpressible when the path goes on inside a scalar: a blob such as InvokeModel's streamed `body`
    is bytes to SSM, whatever JSON hybridops reads in it."""
    many = False
    for seg in path:
        if shape is None:
            return "StringList" if many else "String"
        kind = shape.type_name
        if kind not in ("list", "structure", "map"):
            raise NotExpressible(f"{jsonpath(path)}: the response's {kind} holds no fields SSM can select")
        if seg == WILDCARD or isinstance(seg, int):
            many = many or seg == WILDCARD
            shape = shape.member if kind == "list" else None
        elif kind == "structure":
            if getattr(shape, "is_document_type", False):
                return "StringList" if many else "String"
            shape = shape.members.get(seg)
        else:
            shape = shape.value if kind == "map" else None
    return _type_of(shape, many)


def _type_of(shape: Any, many: bool) -> str:
    if shape is None:
        return "StringList" if many else "String"
    kind = shape.type_name
    if many:
        return "MapList" if kind in ("structure", "map") else "StringList"
    if kind == "list":
        member = shape.member.type_name
        return "MapList" if member in ("structure", "map") else "StringList"
    if kind in ("structure", "map"):
        return "StringMap"
    # SSM has no floating-point type: a double is selected as text
    return _SCALARS.get(kind, "String")
