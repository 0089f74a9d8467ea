"""Check capture queries (JMESPath) against what the call answers.

A misspelt field in a capture (`services[0].runingCount`) does not fail at run time: JMESPath gives
null, and a condition later reads the wrong value in the middle of an incident. So each field a query
names is looked up in botocore's output shape, or in the admin API's response schema, and a name
that is not there is a problem. The check is conservative: it follows fields, indexes, slices,
projections, filters and pipes, and stops (accepting anything) where the shape is unknown: blobs
(InvokeModel's body), free-form documents, function results, `*` over objects.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Report = Callable[[str], None]


class View:
    """A shape the walker can look into; subclasses adapt botocore shapes and OpenAPI schemas."""

    label = "the response"

    def member(self, name: str) -> View | None | bool:
        """The member's view; None: unknown (stop); False: definitely not there."""
        return None

    def names(self) -> list[str]:
        return []

    def element(self) -> View | None:
        """The element of a list, or None when this is not a known list."""
        return None


@dataclass(frozen=True)
class ListOf(View):
    elem: View | None

    def element(self) -> View | None:
        return self.elem


class BotoView(View):
    """A botocore output shape (structures, lists, maps; blobs and documents are opaque)."""

    def __init__(self, shape: Any, label: str) -> None:
        self.shape = shape
        self.label = label

    def member(self, name: str) -> View | None | bool:
        kind = self.shape.type_name
        if kind == "structure" and not getattr(self.shape, "is_document_type", False):
            member = self.shape.members.get(name)
            return BotoView(member, self.label) if member is not None else False
        if kind == "map":
            return BotoView(self.shape.value, self.label)
        return None

    def names(self) -> list[str]:
        return list(self.shape.members) if self.shape.type_name == "structure" else []

    def element(self) -> View | None:
        return BotoView(self.shape.member, self.label) if self.shape.type_name == "list" else None


class SchemaView(View):
    """An OpenAPI 3.0 response schema ($refs already resolved)."""

    def __init__(self, schema: dict[str, Any], label: str) -> None:
        self.schema = schema
        self.label = label

    def member(self, name: str) -> View | None | bool:
        props = self.schema.get("properties")
        extra = self.schema.get("additionalProperties")
        if props is not None and name in props:
            return SchemaView(props[name], self.label)
        if isinstance(extra, dict):
            return SchemaView(extra, self.label)
        if props is not None:
            return False  # not documented: almost always a typo, even where the schema does not forbid it
        return None

    def names(self) -> list[str]:
        return list(self.schema.get("properties", {}))

    def element(self) -> View | None:
        if self.schema.get("type") == "array" and isinstance(self.schema.get("items"), dict):
            return SchemaView(self.schema["items"], self.label)
        return None


class _Walker:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.reported = False

    def walk(self, node: dict[str, Any] | None, view: View | None, path: str) -> tuple[View | None, str]:
        """The view of `node`'s result when applied to `view`, and a readable path to it."""
        if node is None or self.reported:
            return None, path
        kind = node["type"]
        kids = node.get("children", [])
        if kind == "field":
            name = node["value"]
            if view is None:
                return None, path
            found = view.member(name)
            if found is False:
                close = difflib.get_close_matches(name, view.names(), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                at = f" at {path}" if path else ""
                self.report(f"{name!r} is not in {view.label}{at}{hint}")
                self.reported = True
                return None, path
            return (found if isinstance(found, View) else None), f"{path}.{name}" if path else name
        if kind == "subexpression" or kind == "pipe":
            for kid in kids:
                view, path = self.walk(kid, view, path)
            return view, path
        if kind == "index_expression":
            view, path = self.walk(kids[0], view, path)
            return self.walk(kids[1], view, path)
        if kind == "index":
            return (view.element() if view else None), f"{path}[{node['value']}]"
        if kind == "slice":
            return view, f"{path}[:]"
        if kind == "flatten":
            inner, path = self.walk(kids[0], view, path)
            elem = inner.element() if inner else None
            if elem is not None and elem.element() is not None:
                return ListOf(elem.element()), f"{path}[]"
            return (inner if elem is not None else None), f"{path}[]"
        if kind in ("projection", "filter_projection"):
            left, path = self.walk(kids[0], view, path)
            elem = left.element() if left else None
            if kind == "filter_projection":
                self.walk(kids[2], elem, f"{path}[?]")
            each = path if path.endswith("[]") else f"{path}[]"
            right, each = self.walk(kids[1], elem, each)
            return ListOf(right), each
        if kind in ("comparator", "and_expression", "or_expression", "not_expression",
                    "multi_select_dict", "multi_select_list", "key_val_pair"):
            for kid in kids:
                if isinstance(kid, dict):
                    self.walk(kid, view, path)
            return None, path
        if kind == "function_expression":
            for kid in kids:
                if isinstance(kid, dict) and kid.get("type") != "expref":
                    self.walk(kid, view, path)
            return None, path
        if kind in ("current", "identity"):
            return view, path
        return None, path  # literals, `*` over objects, anything newer: no shape to check against


def check_query(query: str, root: View, report: Report) -> None:
    """Report (once) the first field `query` names that `root` cannot have."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        parsed = jmespath.compile(query).parsed
    except (JMESPathError, RecursionError):
        return  # the model already refused it
    try:
        _Walker(report).walk(dict(parsed), root, "")
    except RecursionError:
        return  # nesting deeper than the walker goes: accepted, as any shape it cannot follow


def aws_output(service: str, operation: str) -> View | None:
    from hybridops.runbook.botocore_check import operation_model

    op = operation_model(service, operation)
    if op is None or op.output_shape is None:
        return None
    return BotoView(op.output_shape, f"the {service} {operation} response")


def http_response(method: str, path: str, expect: list[int]) -> View | None:
    """The JSON schema of the statuses a step expects, when they agree on one."""
    from hybridops.runbook.openapi_check import operation_for

    found = operation_for(method, path)
    if found is None:
        return None
    template, operation = found
    schemas = []
    for status in expect:
        response = operation.get("responses", {}).get(str(status))
        schema = (response or {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is not None and schema not in schemas:
            schemas.append(schema)
    if len(schemas) != 1:
        return None
    return SchemaView(schemas[0], f"the {method} {template} response")
